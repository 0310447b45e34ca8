// The one place that initialises libapt-pkg.
//
// libapt-pkg keeps its configuration and system in process-wide globals
// (_config, _system, _error) and by default reads the host's /etc/apt,
// /var/lib/apt, $APT_CONFIG and `dpkg --print-foreign-architectures`. An
// assessment must depend only on the guest and on dormant's own sources, so
// configure_apt() wipes the configuration and sets every directory apt would
// read to dormant's private ones before apt initialises anything.
//
// Because of the globals, apt work runs in a worker process (one per
// architecture set, see assess/worker.hpp), never in a thread, and a process
// configures apt for one task at a time.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

namespace dormant::repo {

struct AptSettings {
  // Private working directory: etc/, state/, cache/, log/ are made in it.
  std::filesystem::path work_dir;
  // A deb822 sources file (write_sources_file) and the lists directory the
  // indexes of those sources are (or will be) in.
  std::filesystem::path sources_file;
  std::filesystem::path lists_dir;
  // Native architecture first, then the foreign ones. Never empty: apt would
  // otherwise ask the host's dpkg.
  std::vector<std::string> architectures;
  // The dpkg status apt sees as the installed system ("/dev/null": none).
  // Absolute: apt resolves a relative one against Dir::State, and a missing
  // file is silently an empty system.
  std::filesystem::path status_file = "/dev/null";
  std::filesystem::path extended_states = "/dev/null";
};

// Wipes libapt-pkg's configuration and initialises it with `settings` only.
// Error(usage) for an empty architecture list or a relative or missing
// status file; Error(io) when apt refuses to initialise (apt's messages).
void configure_apt(const AptSettings& settings);

// Switches the installed system to another dpkg status (same rules as
// AptSettings::status_file) and re-initialises apt's system, which otherwise
// keeps the previous status index.
void use_status(const std::filesystem::path& status_file, const std::filesystem::path& extended_states);

// Creates `dir` (and missing parents) and makes it 0755: as root, apt's
// download methods and gpgv drop to the _apt user, which must reach the lists,
// partial/ and the archives. Error(io) with `subject`, naming the directory.
void make_apt_reachable_dir(const std::filesystem::path& dir, const std::string& subject);

struct AptMessage {
  bool error = false;  // E: (true) or W:/N: (false)
  std::string text;
};

// Takes every message apt queued (errors and warnings, oldest first) and
// empties the queue.
std::vector<AptMessage> take_apt_messages();

// The messages joined as "E: ...\nW: ..." lines, for error texts.
std::string format_apt_messages(const std::vector<AptMessage>& messages);

}  // namespace dormant::repo
