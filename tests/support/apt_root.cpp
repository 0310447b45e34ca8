#include "support/apt_root.hpp"

#include <chrono>
#include <utility>

#include "dormant/core/subprocess.hpp"
#include "support/test_support.hpp"

namespace dormant::testing {

namespace fs = std::filesystem;

AptRoot::AptRoot(const fs::path& dir, const std::string& sources_list, const std::string& status)
    : dir_(dir) {
  for (const char* sub : {"etc/apt.conf.d", "etc/preferences.d", "etc/trusted.gpg.d", "state/lists/partial",
                          "cache/archives/partial", "log"})
    fs::create_directories(dir / sub);
  write_file(dir / "status", status);
  write_file(dir / "etc/sources.list", sources_list);
  const std::string d = dir.string();
  const std::vector<std::pair<std::string, std::string>> dirs{
      {"Dir::Etc", d + "/etc"},
      {"Dir::Etc::main", "/dev/null"},
      {"Dir::Etc::parts", d + "/etc/apt.conf.d"},
      {"Dir::Etc::sourcelist", d + "/etc/sources.list"},
      {"Dir::Etc::sourceparts", "-"},
      {"Dir::Etc::preferences", d + "/etc/preferences"},
      {"Dir::Etc::preferencesparts", d + "/etc/preferences.d"},
      {"Dir::Etc::trusted", d + "/etc/trusted.gpg"},
      {"Dir::Etc::trustedparts", d + "/etc/trusted.gpg.d"},
      {"Dir::State", d + "/state"},
      {"Dir::State::Lists", d + "/state/lists"},
      {"Dir::State::status", d + "/status"},
      {"Dir::State::extended_states", d + "/state/extended_states"},
      {"Dir::Cache", d + "/cache"},
      {"Dir::Log", d + "/log"},
      {"APT::Architecture", "amd64"},
      {"Acquire::Languages", "none"},
      {"Acquire::Retries", "0"},
      {"Acquire::http::Proxy", "DIRECT"},
      // As root the methods would drop to _apt, which cannot enter the 0700 temp dir.
      {"APT::Sandbox::User", "root"},
      {"Debug::NoLocking", "true"},
  };
  std::string conf = "APT::Architectures { \"amd64\"; \"i386\"; };\n";
  for (const auto& [key, value] : dirs) conf += key + " \"" + value + "\";\n";
  write_file(dir / "apt.conf", conf);
}

std::string AptRoot::run(const std::vector<std::string>& args, int* exit_code) const {
  std::vector<std::string> argv{"env", "LC_ALL=C", "APT_CONFIG=" + (dir_ / "apt.conf").string()};
  argv.insert(argv.end(), args.begin(), args.end());
  ProcessOptions options;
  options.timeout = std::chrono::seconds(120);
  const auto result = run_process(argv, options);
  if (exit_code != nullptr) *exit_code = result.exit_code;
  return result.out + result.err;
}

std::vector<std::string> AptRoot::lists() const {
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(dir_ / "state/lists"))
    if (e.is_regular_file() && e.path().filename() != "lock") names.push_back(e.path().filename().string());
  return names;
}

}  // namespace dormant::testing
