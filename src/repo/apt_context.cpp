#include "dormant/repo/apt_context.hpp"

#include <apt-pkg/aptconfiguration.h>
#include <apt-pkg/configuration.h>
#include <apt-pkg/error.h>
#include <apt-pkg/init.h>
#include <apt-pkg/pkgsystem.h>

#include <cstdlib>
#include <system_error>

#include "dormant/core/error.hpp"

namespace dormant::repo {
namespace {

namespace fs = std::filesystem;

fs::path make_dir(const fs::path& path) {
  std::error_code ec;
  fs::create_directories(path, ec);
  if (ec) fail(ErrorKind::io, path.string(), "cannot create directory: {}", ec.message());
  return path;
}

void check_state_file(const fs::path& path, const char* what) {
  if (path == "/dev/null") return;
  if (!path.is_absolute())
    fail(ErrorKind::usage, path.string(),
         "{} must be an absolute path (apt would resolve it against its state directory)", what);
  std::error_code ec;
  if (!fs::is_regular_file(path, ec))
    fail(ErrorKind::not_found, path.string(), "{} does not exist (apt would silently see an empty system)",
         what);
}

std::string dir_value(const fs::path& path) { return path.string() + "/"; }

}  // namespace

void configure_apt(const AptSettings& settings) {
  if (settings.architectures.empty())
    fail(ErrorKind::usage, "apt", "no architecture given (apt would ask the host's dpkg)");
  check_state_file(settings.status_file, "dpkg status file");
  check_state_file(settings.extended_states, "extended_states file");

  // pkgInitConfig reads $APT_CONFIG unconditionally; the host's must not leak in.
  ::unsetenv("APT_CONFIG");
  _error->Discard();
  _config->Clear();

  const fs::path etc = make_dir(settings.work_dir / "etc");
  make_dir(etc / "apt.conf.d");
  make_dir(etc / "preferences.d");
  make_dir(etc / "trusted.gpg.d");
  const fs::path state = make_dir(settings.work_dir / "state");
  const fs::path cache = make_dir(settings.work_dir / "cache");
  const fs::path log = make_dir(settings.work_dir / "log");
  make_dir(settings.lists_dir / "partial");

  // pkgInitConfig only fills in values that are not set yet, so these win.
  Configuration& c = *_config;
  c.Set("Dir", "/");
  c.Set("Dir::Etc", dir_value(etc));
  c.Set("Dir::Etc::main", "/dev/null");
  c.Set("Dir::Etc::parts", dir_value(etc / "apt.conf.d"));
  c.Set("Dir::Etc::sourcelist", settings.sources_file.string());
  c.Set("Dir::Etc::sourceparts", "-");
  c.Set("Dir::Etc::preferences", (etc / "preferences").string());
  c.Set("Dir::Etc::preferencesparts", dir_value(etc / "preferences.d"));
  c.Set("Dir::Etc::trusted", "/dev/null");
  c.Set("Dir::Etc::trustedparts", dir_value(etc / "trusted.gpg.d"));
  c.Set("Dir::State", dir_value(state));
  c.Set("Dir::State::Lists", dir_value(settings.lists_dir));
  c.Set("Dir::State::status", settings.status_file.string());
  c.Set("Dir::State::extended_states", settings.extended_states.string());
  c.Set("Dir::Cache", dir_value(cache));
  // Caches are built in memory: a cache file shared between images would be
  // rebuilt for every status anyway, and nothing stale can be picked up.
  c.Set("Dir::Cache::pkgcache", "");
  c.Set("Dir::Cache::srcpkgcache", "");
  c.Set("Dir::Log", dir_value(log));
  c.Set("Dir::Bin::dpkg", "/bin/false");  // never ask the host's dpkg anything
  c.Set("Acquire::Languages", "none");
  c.Set("Acquire::Retries", "0");
  c.Set("APT::Architecture", settings.architectures.front());
  c.Clear("APT::Architectures");
  for (const auto& arch : settings.architectures) c.Set("APT::Architectures::", arch);
  // Dist-upgrade as apt-get does it by default; recommends as the guest's apt
  // would (Debian's default) unless its own configuration says otherwise,
  // which an offline assessment cannot know.
  c.Set("APT::Install-Recommends", "true");

  if (!pkgInitConfig(c) || !pkgInitSystem(c, _system) || _system == nullptr) {
    auto messages = take_apt_messages();
    fail(ErrorKind::io, "apt", "libapt-pkg did not initialise: {}", format_apt_messages(messages));
  }
  // getArchitectures() caches its answer in a static; refresh it.
  (void)APT::Configuration::getArchitectures(false);
}

void use_status(const fs::path& status_file, const fs::path& extended_states) {
  check_state_file(status_file, "dpkg status file");
  check_state_file(extended_states, "extended_states file");
  _config->Set("Dir::State::status", status_file.string());
  _config->Set("Dir::State::extended_states", extended_states.string());
  if (_system == nullptr || !_system->Initialize(*_config)) {
    auto messages = take_apt_messages();
    fail(ErrorKind::io, "apt", "libapt-pkg did not re-initialise: {}", format_apt_messages(messages));
  }
}

void make_apt_reachable_dir(const fs::path& dir, const std::string& subject) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (!ec)
    fs::permissions(dir,
                    fs::perms::owner_all | fs::perms::group_read | fs::perms::group_exec |
                        fs::perms::others_read | fs::perms::others_exec,
                    ec);
  if (ec) fail(ErrorKind::io, subject, "cannot create directory {}: {}", dir.string(), ec.message());
}

std::vector<AptMessage> take_apt_messages() {
  std::vector<AptMessage> messages;
  while (!_error->empty()) {
    std::string text;
    bool is_error = _error->PopMessage(text);
    messages.push_back({is_error, std::move(text)});
  }
  return messages;
}

std::string format_apt_messages(const std::vector<AptMessage>& messages) {
  std::string out;
  for (const auto& m : messages) {
    if (!out.empty()) out += '\n';
    out += m.error ? "E: " : "W: ";
    out += m.text;
  }
  return out.empty() ? "no message from apt" : out;
}

}  // namespace dormant::repo
