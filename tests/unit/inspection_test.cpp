// inspect_guest over an in-memory GuestView. The real views (libext2fs over
// NBD, libguestfs) are tested in the image layer and the integration tier;
// here the fake lets each test shape the guest tree exactly, including the
// hostile shapes a real image would need root and mke2fs tricks to build.
#include "dormant/inspect/inspection.hpp"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "dormant/core/error.hpp"
#include "dormant/core/subprocess.hpp"
#include "dormant/inspect/os_release.hpp"
#include "support/test_support.hpp"

namespace fs = std::filesystem;
using dormant::Error;
using dormant::ErrorKind;
using dormant::image::FileType;
using dormant::inspect::inspect_guest;
using dormant::inspect::Inspection;
using dormant::testing::fixture_rootfs;
using dormant::testing::read_file_text;
using dormant::testing::TempDir;

namespace {

// docs/ of the source tree this test was compiled from.
fs::path schema_path() { return dormant::testing::source_dir() / "docs/inspect.schema.json"; }

// A guest tree in a map: regular files, directories and symlinks, with path
// resolution as the real views do it (relative targets from the link's
// directory, absolute ones from the guest root, ".." stopping at the root).
class FakeGuestView final : public dormant::image::GuestView {
 public:
  struct Entry {
    FileType type = FileType::regular;
    std::string data;  // file content or symlink target
  };

  void file(const std::string& path, std::string content) {
    add(path, {FileType::regular, std::move(content)});
  }
  void link(const std::string& path, std::string target) {
    add(path, {FileType::symlink, std::move(target)});
  }
  void dir(const std::string& path) { add(path, {FileType::directory, {}}); }

  std::string_view access() const override { return "fast"; }

  std::optional<std::string> read_file(std::string_view path, std::uint64_t cap, bool follow_final) override {
    auto p = resolve(path, follow_final);
    if (!p) return std::nullopt;
    const Entry& e = entries_.at(*p);
    if (e.type != FileType::regular)
      dormant::fail(ErrorKind::unsupported, "fake", "{}: not a regular file", path);
    if (e.data.size() > cap)
      dormant::fail(ErrorKind::limit, "fake", "{}: over the cap of {} bytes", path, cap);
    return e.data;
  }

  std::optional<std::vector<std::string>> list_dir(std::string_view path, std::size_t max_entries) override {
    auto p = resolve(path, true);
    if (!p || entries_.at(*p).type != FileType::directory) return std::nullopt;
    std::vector<std::string> names;
    for (const auto& [name, e] : entries_) {
      fs::path child(name);
      if (name != "/" && child.parent_path() == fs::path(*p)) names.push_back(child.filename());
    }
    if (names.size() > max_entries) dormant::fail(ErrorKind::limit, "fake", "{}: too many entries", path);
    return names;
  }

  std::optional<FileType> type_of(std::string_view path, bool follow_final) override {
    auto p = resolve(path, follow_final);
    if (!p) return std::nullopt;
    return entries_.at(*p).type;
  }

  std::vector<dormant::image::MountInfo> mounts() const override {
    return {{"/", "partition 1", "ext4", "0b3f9d6c-52a1-4a54-9f38-3d1f2a1e0c11"}};
  }

 private:
  void add(const std::string& path, Entry e) {
    for (fs::path p = fs::path(path).parent_path(); p != "/"; p = p.parent_path())
      entries_.try_emplace(p.string(), Entry{FileType::directory, {}});
    entries_[path] = std::move(e);
  }

  // The canonical key of `path`, or nullopt when some component is missing.
  std::optional<std::string> resolve(std::string_view path, bool follow_final, int depth = 0) const {
    if (depth > 40) dormant::fail(ErrorKind::hostile, "fake", "{}: symlink loop", path);
    std::vector<std::string> parts;
    for (const auto& part : fs::path(path).relative_path()) parts.push_back(part.string());
    std::string cur = "/";
    for (std::size_t i = 0; i < parts.size(); ++i) {
      const std::string& part = parts[i];
      if (part == "." || part.empty()) continue;
      if (part == "..") {
        cur = fs::path(cur).parent_path().string();
        continue;
      }
      std::string next = (fs::path(cur) / part).string();
      auto it = entries_.find(next);
      if (it == entries_.end()) return std::nullopt;
      bool last = i + 1 == parts.size();
      if (it->second.type == FileType::symlink && (!last || follow_final)) {
        const std::string& target = it->second.data;
        fs::path joined = target.starts_with("/") ? fs::path(target) : fs::path(cur) / target;
        for (std::size_t k = i + 1; k < parts.size(); ++k) joined /= parts[k];
        return resolve(joined.string(), follow_final, depth + 1);
      }
      cur = next;
    }
    return cur;
  }

  std::map<std::string, Entry> entries_{{"/", Entry{FileType::directory, {}}}};
};

const char* const kStatus =
    "Package: dpkg\nStatus: install ok installed\nArchitecture: arm64\nVersion: 1.21.22\n\n"
    "Package: bash\nStatus: install ok installed\nArchitecture: arm64\nVersion: 5.2.15-2+b2\n";

// A small Debian-like guest, laid out as on a merged-/usr system.
FakeGuestView small_guest() {
  FakeGuestView g;
  g.file("/usr/lib/os-release",
         "ID=debian\nVERSION_ID=\"12\"\nPRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\n"
         "VERSION_CODENAME=bookworm\n");
  g.link("/etc/os-release", "../usr/lib/os-release");
  g.file("/etc/debian_version", "12.8\n");
  g.file("/etc/hostname", "# set by cloud-init\n  web-01.example.org \n");
  g.link("/lib", "usr/lib");
  g.dir("/usr/lib/modules/6.1.0-9-amd64");
  g.dir("/usr/lib/modules/6.1.0-28-amd64");
  g.file("/boot/vmlinuz-6.1.0-28-amd64", "kernel");
  g.file("/boot/vmlinuz-5.10.0-30-amd64", "kernel");
  g.file("/boot/config-6.1.0-28-amd64", "config");
  g.file("/var/lib/dpkg/status", kStatus);
  return g;
}

ErrorKind kind_of(FakeGuestView& g, std::string* message = nullptr) {
  try {
    inspect_guest(g);
  } catch (const Error& e) {
    if (message) *message = e.message();
    return e.kind();
  }
  return ErrorKind::internal;
}

}  // namespace

TEST(Inspection, SmallGuest) {
  auto g = small_guest();
  Inspection r = inspect_guest(g);
  EXPECT_EQ(r.access, "fast");
  EXPECT_EQ(r.os.id, "debian");
  EXPECT_EQ(r.os.version_id, "12");
  EXPECT_EQ(r.os.pretty_name, "Debian GNU/Linux 12 (bookworm)");
  EXPECT_EQ(r.os.version_codename, "bookworm");
  EXPECT_EQ(r.os.debian_version, "12.8");
  EXPECT_EQ(r.hostname, "web-01.example.org");
  EXPECT_EQ(r.arch, "arm64");
  EXPECT_EQ(r.kernels, (std::vector<std::string>{"6.1.0-28-amd64", "6.1.0-9-amd64", "5.10.0-30-amd64"}));
  ASSERT_EQ(r.packages.size(), 2u);
  EXPECT_EQ(r.packages[0].name, "bash");
  EXPECT_EQ(r.filesystems.size(), 1u);
  EXPECT_TRUE(r.warnings.empty()) << r.warnings.front();
}

TEST(Inspection, RelativeOsReleaseSymlinkIsResolved) {
  auto g = small_guest();
  // Make the fallback distinguishable: only the symlink's target is read.
  g.file("/usr/lib/os-release", "ID=via-symlink\n");
  g.link("/etc/os-release", "../usr/lib/os-release");
  EXPECT_EQ(inspect_guest(g).os.id, "via-symlink");
}

TEST(Inspection, EtcOsReleaseWinsOverUsrLib) {
  auto g = small_guest();
  g.file("/etc/os-release", "ID=etc\n");
  g.file("/usr/lib/os-release", "ID=usrlib\n");
  EXPECT_EQ(inspect_guest(g).os.id, "etc");
}

TEST(Inspection, FallsBackToUsrLibOsRelease) {
  FakeGuestView g;
  g.file("/usr/lib/os-release", "ID=fallback\n");
  Inspection r = inspect_guest(g);
  EXPECT_EQ(r.os.id, "fallback");
  EXPECT_EQ(r.os.pretty_name, "Linux");  // os-release(5) default
  EXPECT_TRUE(r.packages.empty());
  EXPECT_FALSE(r.warnings.empty());  // says there is no dpkg database
}

TEST(Inspection, MissingOsReleaseIsUnsupported) {
  FakeGuestView g;
  g.file("/var/lib/dpkg/status", kStatus);
  std::string message;
  EXPECT_EQ(kind_of(g, &message), ErrorKind::unsupported);
  EXPECT_EQ(message, "no os-release found: not a recognisable Linux guest");
}

TEST(Inspection, DanglingOsReleaseSymlinkIsUnsupported) {
  FakeGuestView g;
  g.link("/etc/os-release", "../usr/lib/os-release");
  EXPECT_EQ(kind_of(g), ErrorKind::unsupported);
}

TEST(Inspection, SymlinkedDpkgStatusIsHostile) {
  auto g = small_guest();
  g.file("/var/lib/dpkg/status-real", kStatus);
  g.link("/var/lib/dpkg/status", "status-real");
  std::string message;
  EXPECT_EQ(kind_of(g, &message), ErrorKind::hostile);
  EXPECT_EQ(message, "/var/lib/dpkg/status is a symlink; refusing to follow it");
}

TEST(Inspection, OversizeDpkgStatusIsALimitError) {
  auto g = small_guest();
  g.file("/var/lib/dpkg/status", std::string(dormant::inspect::kMaxDpkgStatusBytes + 1, '\n'));
  std::string message;
  EXPECT_EQ(kind_of(g, &message), ErrorKind::limit);
  EXPECT_EQ(message, "/var/lib/dpkg/status is larger than the 64 MiB cap; not read");
}

TEST(Inspection, DirectoryAsDpkgStatusIsCorrupt) {
  auto g = small_guest();
  g.dir("/var/lib/dpkg/status");
  EXPECT_EQ(kind_of(g), ErrorKind::corrupt);
}

TEST(Inspection, BadHostnameBecomesAWarning) {
  for (const char* bad : {"-leading-dash\n", "under_score\n", "a..b\n", "trailing-.x\n", "\n\n"}) {
    auto g = small_guest();
    g.file("/etc/hostname", bad);
    Inspection r = inspect_guest(g);
    EXPECT_EQ(r.hostname, "") << bad;
    EXPECT_EQ(r.warnings.size(), 1u) << bad;
  }
}

TEST(Inspection, OversizeSmallFileBecomesAWarning) {
  auto g = small_guest();
  g.file("/etc/hostname", std::string(dormant::inspect::kMaxSmallFileBytes + 1, 'a'));
  Inspection r = inspect_guest(g);
  EXPECT_EQ(r.hostname, "");
  ASSERT_EQ(r.warnings.size(), 1u);
  EXPECT_NE(r.warnings[0].find("/etc/hostname"), std::string::npos) << r.warnings[0];
}

TEST(Inspection, ArchFromDpkgArchFileWhenNoDpkgPackage) {
  auto g = small_guest();
  g.file("/var/lib/dpkg/status",
         "Package: bash\nStatus: install ok installed\nArchitecture: riscv64\nVersion: 5.2\n");
  g.file("/var/lib/dpkg/arch", "ppc64el\ni386\n");
  EXPECT_EQ(inspect_guest(g).arch, "ppc64el");
}

TEST(Inspection, DpkgWarningsNameTheFile) {
  auto g = small_guest();
  g.file("/var/lib/dpkg/status", std::string(kStatus) + "\nPackage: broken\nStatus: install ok installed\n");
  Inspection r = inspect_guest(g);
  ASSERT_EQ(r.warnings.size(), 1u);
  EXPECT_EQ(r.warnings[0], "/var/lib/dpkg/status: line 11: stanza 'broken' has no Version field; skipped");
}

TEST(Inspection, InvalidUtf8IsReplaced) {
  auto g = small_guest();
  g.file("/var/lib/dpkg/status", "Package: caf\xe9\nStatus: install ok installed\nVersion: 1\n");
  Inspection r = inspect_guest(g);
  ASSERT_EQ(r.packages.size(), 1u);
  EXPECT_EQ(r.packages[0].name, "caf\xEF\xBF\xBD");
  EXPECT_NO_THROW((void)dormant::inspect::to_json(r).dump());
}

TEST(Inspection, JsonRoundTrip) {
  auto g = small_guest();
  Inspection r = inspect_guest(g);
  r.format = "qcow2";
  r.virtual_size = 2147483648ull;
  r.warnings.push_back("a warning");
  nlohmann::json j = dormant::inspect::to_json(r);
  Inspection back = dormant::inspect::inspection_from_json(nlohmann::json::parse(j.dump()));
  EXPECT_EQ(dormant::inspect::to_json(back), j);
  EXPECT_EQ(back.virtual_size, 2147483648ull);
  EXPECT_EQ(back.packages.size(), r.packages.size());
}

TEST(Inspection, FromJsonRejectsWrongTypes) {
  for (const char* text : {R"([])", R"({"virtual_size": "big"})", R"({"packages": {}})",
                           R"({"packages": [1]})", R"({"os": "debian"})", R"({"kernels": [1, 2]})"}) {
    try {
      dormant::inspect::inspection_from_json(nlohmann::json::parse(text));
      ADD_FAILURE() << "accepted " << text;
    } catch (const Error& e) {
      EXPECT_EQ(e.kind(), ErrorKind::corrupt) << text;
    }
  }
}

// The fixture rootfs copied into the fake (only the files inspection reads),
// compared with what the host tools say about the same rootfs, and its JSON
// validated against docs/inspect.schema.json with python3-jsonschema.
TEST(Inspection, RealRootfsMatchesHostToolsAndSchema) {
  if (!fs::exists(fixture_rootfs() / "var/lib/dpkg/status"))
    FAIL() << "no fixture rootfs at " << fixture_rootfs();
  FakeGuestView g;
  g.file("/usr/lib/os-release", read_file_text(fixture_rootfs() / "usr/lib/os-release"));
  g.link("/etc/os-release", fs::read_symlink(fixture_rootfs() / "etc/os-release").string());
  g.file("/etc/debian_version", read_file_text(fixture_rootfs() / "etc/debian_version"));
  if (fs::exists(fixture_rootfs() / "etc/hostname"))
    g.file("/etc/hostname", read_file_text(fixture_rootfs() / "etc/hostname"));
  g.file("/var/lib/dpkg/status", read_file_text(fixture_rootfs() / "var/lib/dpkg/status"));
  std::set<std::string> kernels;
  for (const auto& e : fs::directory_iterator(fixture_rootfs() / "boot"))
    if (e.path().filename().string().starts_with("vmlinuz-")) {
      g.file("/boot/" + e.path().filename().string(), "");
      kernels.insert(e.path().filename().string().substr(8));
    }
  for (const auto& e : fs::directory_iterator(fixture_rootfs() / "usr/lib/modules")) {
    g.dir("/usr/lib/modules/" + e.path().filename().string());
    kernels.insert(e.path().filename().string());
  }
  g.link("/lib", "usr/lib");

  Inspection r = inspect_guest(g);
  r.format = "qcow2";
  r.virtual_size = 2ull << 30;

  auto os = dormant::inspect::parse_os_release(read_file_text(fixture_rootfs() / "usr/lib/os-release"));
  EXPECT_EQ(r.os.id, os["ID"]);
  EXPECT_EQ(r.os.version_id, os["VERSION_ID"]);
  auto first_line = [](const std::string& s) { return s.substr(0, s.find('\n')); };
  EXPECT_EQ(r.os.debian_version, first_line(read_file_text(fixture_rootfs() / "etc/debian_version")));
  auto arch =
      dormant::run_process({"dpkg-query", "--admindir=" + (fixture_rootfs() / "var/lib/dpkg").string(), "-W",
                            "-f=${Architecture}", "dpkg"});
  EXPECT_EQ(r.arch, arch.out);
  auto count = dormant::run_process(
      {"dpkg-query", "--admindir=" + (fixture_rootfs() / "var/lib/dpkg").string(), "-W", "-f=.\\n"});
  EXPECT_EQ(r.packages.size(), static_cast<std::size_t>(std::count(count.out.begin(), count.out.end(), '.')));
  EXPECT_EQ(std::set<std::string>(r.kernels.begin(), r.kernels.end()), kernels);
  EXPECT_TRUE(r.warnings.empty()) << r.warnings.front();

  TempDir dir("dormant-inspect");
  fs::path json_file = dir.path() / "inspect.json";
  std::ofstream(json_file) << dormant::inspect::to_json(r).dump(2);
  const std::string validate =
      "import json, sys, jsonschema\n"
      "schema = json.load(open(sys.argv[1]))\n"
      "jsonschema.Draft202012Validator.check_schema(schema)\n"
      "jsonschema.Draft202012Validator(schema).validate(json.load(open(sys.argv[2])))\n";
  auto check = dormant::run_process({"python3", "-c", validate, schema_path().string(), json_file.string()});
  EXPECT_EQ(check.exit_code, 0) << check.err;

  // And the schema rejects what it should: a package without a version.
  nlohmann::json bad = dormant::inspect::to_json(r);
  bad["packages"][0].erase("version");
  std::ofstream(json_file, std::ios::trunc) << bad.dump();
  auto rejected =
      dormant::run_process({"python3", "-c", validate, schema_path().string(), json_file.string()});
  EXPECT_NE(rejected.exit_code, 0);
  EXPECT_NE(rejected.err.find("'version' is a required property"), std::string::npos) << rejected.err;
}

TEST(Inspection, KeepsThePackageDatabaseRawForTheAssessment) {
  auto g = small_guest();
  g.file("/var/lib/apt/extended_states", "Package: bash\nArchitecture: arm64\nAuto-Installed: 1\n");
  g.file("/var/lib/dpkg/arch", "arm64\n armhf \n\nBAD ARCH\narmhf\ni386\n");
  Inspection r = inspect_guest(g);
  EXPECT_EQ(r.package_database.dpkg_status, kStatus);
  EXPECT_EQ(r.package_database.extended_states, "Package: bash\nArchitecture: arm64\nAuto-Installed: 1\n");
  // Native dropped, duplicates once, implausible names ignored with a warning.
  EXPECT_EQ(r.package_database.foreign_architectures, (std::vector<std::string>{"armhf", "i386"}));
  ASSERT_EQ(r.warnings.size(), 1u);
  EXPECT_NE(r.warnings[0].find("/var/lib/dpkg/arch"), std::string::npos) << r.warnings[0];
  // Not part of the JSON: raw bytes stay in the catalog's package sets.
  EXPECT_FALSE(to_json(r).dump().find("Auto-Installed") != std::string::npos);
}

TEST(Inspection, ASymlinkedExtendedStatesIsNotFollowed) {
  auto g = small_guest();
  g.file("/etc/marks", "Package: bash\nAuto-Installed: 1\n");
  g.link("/var/lib/apt/extended_states", "/etc/marks");
  Inspection r = inspect_guest(g);
  EXPECT_EQ(r.package_database.extended_states, "");
  ASSERT_EQ(r.warnings.size(), 1u);
  EXPECT_NE(r.warnings[0].find("extended_states"), std::string::npos) << r.warnings[0];
}
