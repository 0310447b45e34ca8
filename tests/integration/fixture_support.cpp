#include "fixture_support.hpp"

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <stdexcept>

namespace dormant::testing {

namespace fs = std::filesystem;

const std::vector<std::string> kGoodImages = {
    "ext4-whole-full.raw",
    "mbr-ext4.qcow2",
    "mbr-logical-ext4.vmdk",
    "gpt-vfat-ext4.vhdx",
    "gpt4k-ext4.vpc",
    "ext2-whole.qcow2",
    "mbr-ext3.raw",
    "gpt-multifs.qcow2",
    "backing-base.qcow2",
    "backing-overlay.qcow2",
    "hostile/os-release-escape.raw",
    "dirty-journal.qcow2",
};

const std::vector<std::string> kHostileImages = {
    "hostile/corrupt-superblock.raw", "hostile/truncated.qcow2",          "hostile/status-symlink.raw",
    "hostile/status-sparse-2g.raw",   "hostile/backing-etc-passwd.qcow2", "hostile/extent-etc-passwd.vmdk",
    "hostile/no-linux-root.qcow2",    "hostile/gpt-bad-crc.raw",
};

namespace {

std::vector<std::string> split(std::string_view text, char sep) {
  std::vector<std::string> out;
  std::size_t start = 0;
  while (start <= text.size()) {
    auto end = text.find(sep, start);
    if (end == std::string_view::npos) end = text.size();
    out.emplace_back(text.substr(start, end - start));
    start = end + 1;
  }
  return out;
}

std::string trim(std::string s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.pop_back();
  std::size_t i = 0;
  while (i < s.size() && std::isspace(static_cast<unsigned char>(s[i]))) ++i;
  return s.substr(i);
}

std::string first_line_of(const fs::path& file) {
  std::ifstream in(file);
  std::string line;
  std::getline(in, line);
  return trim(line);
}

ProcessResult must_run(const std::vector<std::string>& argv) {
  auto result = run_process(argv);
  if (result.exit_code != 0) {
    throw std::runtime_error(argv[0] + " failed (" + std::to_string(result.exit_code) + "): " + result.err);
  }
  return result;
}

}  // namespace

fs::path fixtures_dir() {
  if (const char* env = std::getenv("DORMANT_FIXTURES"); env && *env) return fs::path(env);
  return "/var/cache/dormant-fixtures/images";
}

const nlohmann::json& manifest() {
  static const nlohmann::json parsed = [] {
    auto file = fixtures_dir() / "manifest.json";
    std::ifstream in(file);
    if (!in) {
      throw std::runtime_error(file.string() +
                               " is missing: build the fixtures with tests/fixtures/make-images.sh "
                               "(or set DORMANT_FIXTURES to where they are)");
    }
    return nlohmann::json::parse(in);
  }();
  return parsed;
}

const nlohmann::json& manifest_entry(std::string_view file) {
  for (const auto& entry : manifest().at("images")) {
    if (entry.at("file").get<std::string>() == file) return entry;
  }
  throw std::runtime_error(
      "manifest.json lists no image " + std::string(file) +
      ": the fixtures are older than the tests, rebuild them with tests/fixtures/make-images.sh");
}

fs::path image_path(const nlohmann::json& entry) {
  return fixtures_dir() / entry.at("file").get<std::string>();
}

fs::path tree_path(const nlohmann::json& entry) {
  fs::path tree = entry.at("tree").get<std::string>();
  return tree.is_absolute() ? tree : fixtures_dir() / tree;
}

ExpectedGuest expected_from_tree(const fs::path& tree) {
  ExpectedGuest expected;
  auto admindir = "--admindir=" + (tree / "var/lib/dpkg").string();
  auto rows =
      must_run({"dpkg-query", admindir, "-W",
                "-f=${Package}\\t${Version}\\t${Architecture}\\t${source:Package}\\t${source:Version}\\t"
                "${db:Status-Status}\\t${db:Status-Want}\\n"});
  for (const auto& line : split(rows.out, '\n')) {
    if (line.empty()) continue;
    auto f = split(line, '\t');
    if (f.size() != 7) throw std::runtime_error("unexpected dpkg-query row: " + line);
    expected.packages.push_back({f[0], f[1], f[2], f[3], f[4], f[5], f[6]});
  }
  std::sort(expected.packages.begin(), expected.packages.end());

  // os-release is a shell-compatible file (os-release(5)): let sh undo the
  // quoting. usr/lib/os-release is the real file; etc/os-release is a symlink
  // that would resolve on the host, not in the tree.
  auto os = must_run({"sh", "-c",
                      ". \"$1\" && printf '%s\\n%s\\n%s\\n%s\\n' \"$ID\" \"$VERSION_ID\" \"$PRETTY_NAME\" "
                      "\"$VERSION_CODENAME\"",
                      "sh", (tree / "usr/lib/os-release").string()});
  auto values = split(os.out, '\n');
  values.resize(4);
  expected.os_release = {{"ID", values[0]},
                         {"VERSION_ID", values[1]},
                         {"PRETTY_NAME", values[2]},
                         {"VERSION_CODENAME", values[3]}};
  expected.debian_version = first_line_of(tree / "etc/debian_version");
  expected.hostname = first_line_of(tree / "etc/hostname");
  expected.arch = trim(must_run({"dpkg-query", admindir, "-W", "-f=${Architecture}", "dpkg"}).out);

  for (const auto& dir : {tree / "boot", tree / "usr/lib/modules"}) {
    if (!fs::is_directory(dir)) continue;
    for (const auto& item : fs::directory_iterator(dir)) {
      auto name = item.path().filename().string();
      if (dir.filename() == "boot") {
        if (name.rfind("vmlinuz-", 0) == 0) expected.kernels.push_back(name.substr(8));
      } else if (item.is_directory()) {
        expected.kernels.push_back(name);
      }
    }
  }
  std::sort(expected.kernels.begin(), expected.kernels.end());
  expected.kernels.erase(std::unique(expected.kernels.begin(), expected.kernels.end()),
                         expected.kernels.end());
  return expected;
}

std::string describe_package_diff(const std::vector<ExpectedPackage>& expected,
                                  const std::vector<ExpectedPackage>& actual) {
  auto show = [](const ExpectedPackage& p) {
    return p.name + " " + p.version + " " + p.arch + " src=" + p.source + " " + p.source_version + " " +
           p.status + " want=" + p.want;
  };
  std::vector<ExpectedPackage> missing, extra;
  std::set_difference(expected.begin(), expected.end(), actual.begin(), actual.end(),
                      std::back_inserter(missing));
  std::set_difference(actual.begin(), actual.end(), expected.begin(), expected.end(),
                      std::back_inserter(extra));
  std::ostringstream out;
  std::size_t shown = 0;
  for (const auto& p : missing) {
    if (shown++ == 10) break;
    out << "  only in dpkg-query: " << show(p) << "\n";
  }
  shown = 0;
  for (const auto& p : extra) {
    if (shown++ == 10) break;
    out << "  only in dormant:    " << show(p) << "\n";
  }
  if (!missing.empty() || !extra.empty()) {
    out << "  (" << missing.size() << " missing, " << extra.size() << " extra of " << expected.size()
        << ")\n";
  }
  return out.str();
}

ProcessResult run_cli(const std::vector<std::string>& args, std::chrono::milliseconds timeout) {
  std::vector<std::string> argv{dormant::testing::cli_path()};
  argv.insert(argv.end(), args.begin(), args.end());
  ProcessOptions options;
  options.timeout = timeout;
  return run_process(argv, options);
}

std::string python_with_jsonschema() {
  // Prefer Debian's interpreter: python3-jsonschema is installed for it, while
  // a python3 earlier in PATH (pyenv, venv) may lack the module.
  for (const char* candidate : {"/usr/bin/python3", "python3"}) {
    auto probe = run_process({candidate, "-c", "import jsonschema"});
    if (probe.exit_code == 0) return candidate;
  }
  throw std::runtime_error("no python3 with the jsonschema module (Debian: python3-jsonschema)");
}

std::string schema_errors(const fs::path& schema, const nlohmann::json& document) {
  TempDir dir;
  auto doc_file = dir.path() / "document.json";
  std::ofstream(doc_file) << document.dump();
  static const char* script = R"(
import json, sys, jsonschema
schema = json.load(open(sys.argv[1]))
doc = json.load(open(sys.argv[2]))
cls = jsonschema.validators.validator_for(schema)
cls.check_schema(schema)
errors = sorted(cls(schema).iter_errors(doc), key=lambda e: list(e.absolute_path))
for e in errors[:20]:
    print("/".join(str(p) for p in e.absolute_path) + ": " + e.message)
sys.exit(1 if errors else 0)
)";
  auto result = run_process({python_with_jsonschema(), "-c", script, schema.string(), doc_file.string()});
  if (result.exit_code == 0) return "";
  return result.out + result.err + (result.out.empty() && result.err.empty() ? "validator failed" : "");
}

bool contains_icase(std::string_view haystack, std::string_view needle) {
  auto it = std::search(haystack.begin(), haystack.end(), needle.begin(), needle.end(), [](char a, char b) {
    return std::tolower(static_cast<unsigned char>(a)) == std::tolower(static_cast<unsigned char>(b));
  });
  return it != haystack.end();
}

std::string test_name(const ::testing::TestParamInfo<std::string>& info) {
  std::string name;
  for (char c : info.param) name += std::isalnum(static_cast<unsigned char>(c)) ? c : '_';
  return name;
}

}  // namespace dormant::testing
