// libFuzzer target: libapt-pkg over the files dormant hands it, the way the
// resolver does (src/assess/universe.cpp, resolver_run.cpp): a Packages
// index and an InRelease file of one source (fetched and verified, but
// parsed by apt all the same), the guest's dpkg status and extended_states
// (hostile), then the package cache, the policy, the dependency cache,
// pkgApplyStatus and a dist-upgrade.
//
// The input is split on "\n--8<--\n" into, in order, the Packages index, the
// InRelease file, the dpkg status and the extended_states; missing parts
// are empty files. Any outcome but a crash, a sanitizer report, a leak or a
// hang is fine: apt refusing an input is an answer.
#include <apt-pkg/algorithms.h>
#include <apt-pkg/cachefile.h>
#include <apt-pkg/configuration.h>
#include <apt-pkg/depcache.h>
#include <apt-pkg/error.h>
#include <apt-pkg/upgrade.h>
#include <fcntl.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "dormant/core/error.hpp"
#include "dormant/repo/apt_context.hpp"
#include "dormant/repo/update.hpp"

namespace {

namespace fs = std::filesystem;

constexpr std::string_view kSeparator = "\n--8<--\n";

// Set up once: the paths of the four files every input rewrites.
struct Layout {
  fs::path work_dir;
  fs::path packages;
  fs::path release;
  fs::path status;
  fs::path extended_states;
};

Layout* layout = nullptr;

void remove_work_dir() {
  if (layout == nullptr) return;
  std::error_code ec;
  fs::remove_all(layout->work_dir, ec);
}

void write_file(const fs::path& path, std::string_view content) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) {
    std::perror(path.c_str());
    std::abort();
  }
  while (!content.empty()) {
    const ssize_t n = ::write(fd, content.data(), content.size());
    if (n <= 0) {
      std::perror(path.c_str());
      std::abort();
    }
    content.remove_prefix(static_cast<std::size_t>(n));
  }
  ::close(fd);
}

// The resolver's steps (resolver_run.cpp), stopping where it stops.
void resolve() {
  pkgCacheFile file;
  if (!file.BuildCaches(nullptr, false) || _error->PendingError()) return;
  if (!file.BuildPolicy(nullptr) || !file.BuildDepCache(nullptr) || _error->PendingError()) return;
  pkgDepCache& cache = *file.GetDepCache();
  if (!pkgApplyStatus(cache) || _error->PendingError()) return;
  if (cache.BrokenCount() != 0) return;
  if (!APT::Upgrade::Upgrade(cache, APT::Upgrade::ALLOW_EVERYTHING, nullptr)) return;
  // What drop_garbage_new_installs() starts with.
  cache.MarkAndSweep();
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  std::string templ = (fs::temp_directory_path() / "dormant-apt-fuzz-XXXXXX").string();
  if (::mkdtemp(templ.data()) == nullptr) {
    std::perror("mkdtemp");
    std::abort();
  }
  layout = new Layout;
  layout->work_dir = templ;
  std::atexit(remove_work_dir);

  // One unsigned source, as a test repository is configured; the lists
  // file names come from the same function as the real ones.
  dormant::repo::SourceSpec source;
  source.name = "fuzz";
  source.uri = "http://127.0.0.1:1/debian";
  source.suite = "bookworm";
  source.allow_unsigned = true;
  const std::vector<std::string> architectures{"amd64", "i386"};
  const fs::path lists = layout->work_dir / "lists";
  fs::create_directories(lists);
  const fs::path sources_file = layout->work_dir / "fuzz.sources";
  write_file(sources_file, dormant::repo::render_sources({source}, architectures));
  const std::string prefix = dormant::repo::lists_prefix(source);
  layout->packages = lists / (prefix + "main_binary-amd64_Packages");
  layout->release = lists / (prefix + "InRelease");
  layout->status = layout->work_dir / "status";
  layout->extended_states = layout->work_dir / "extended_states";
  write_file(layout->status, "");
  write_file(layout->extended_states, "");

  dormant::repo::AptSettings settings;
  settings.work_dir = layout->work_dir / "apt";
  settings.sources_file = sources_file;
  settings.lists_dir = lists;
  settings.architectures = architectures;
  settings.status_file = layout->status;
  settings.extended_states = layout->extended_states;
  try {
    dormant::repo::configure_apt(settings);
  } catch (const dormant::Error& e) {
    std::fprintf(stderr, "%s\n", e.what());
    std::abort();
  }
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view rest(reinterpret_cast<const char*>(data), size);
  std::string_view parts[4];
  for (auto& part : parts) {
    const auto cut = rest.find(kSeparator);
    part = rest.substr(0, cut);
    rest = cut == std::string_view::npos ? std::string_view() : rest.substr(cut + kSeparator.size());
  }
  write_file(layout->packages, parts[0]);
  write_file(layout->release, parts[1]);
  write_file(layout->status, parts[2]);
  write_file(layout->extended_states, parts[3]);

  // As Universe::resolve does per image: the status is new, the system is
  // re-initialised, nothing apt said about the previous input is kept.
  try {
    dormant::repo::use_status(layout->status, layout->extended_states);
  } catch (const dormant::Error& e) {
    std::fprintf(stderr, "%s\n", e.what());
    std::abort();
  }
  (void)dormant::repo::take_apt_messages();
  resolve();
  (void)dormant::repo::take_apt_messages();
  return 0;
}
