#include "dormant/library/identify.hpp"

#include <sys/stat.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>
#include <thread>

#include "dormant/core/error.hpp"
#include "dormant/core/paths.hpp"
#include "dormant/image/format.hpp"
#include "dormant/inspect/inspection.hpp"
#include "dormant/library/libvirt_source.hpp"
#include "scan.hpp"

namespace dormant::library {
namespace fs = std::filesystem;

std::string_view to_string(Outcome outcome) {
  switch (outcome) {
    case Outcome::added:
      return "added";
    case Outcome::changed:
      return "changed";
    case Outcome::unchanged:
      return "unchanged";
    case Outcome::missing:
      return "missing";
    case Outcome::skipped:
      return "skipped";
  }
  return "unchanged";
}

namespace {

// A file to look at, and where it came from.
struct Candidate {
  fs::path path;
  std::optional<std::int64_t> library_id;
  std::string library;
  std::vector<fs::path> roots;  // what its backing files and extents must stay inside
  std::string domain;
  bool running = false;
};

struct Job {
  Candidate candidate;
  std::string identity;
  std::uint64_t file_size = 0;
  Outcome outcome = Outcome::added;
};

struct Inspected {
  catalog::ImageRecord record;
  std::optional<catalog::PackageSet> package_set;  // when the guest has a dpkg database
};

std::optional<catalog::PackageSet> package_set_of(const inspect::Inspection& inspection) {
  const auto& db = inspection.package_database;
  if (db.dpkg_status.empty() || inspection.arch.empty()) return std::nullopt;
  catalog::PackageSet set;
  set.dpkg_status = db.dpkg_status;
  set.extended_states = db.extended_states;
  set.architectures.push_back(inspection.arch);
  set.architectures.insert(set.architectures.end(), db.foreign_architectures.begin(),
                           db.foreign_architectures.end());
  set.sha256 = catalog::package_set_sha256(set);
  return set;
}

Inspected inspect_one(const Job& job, bool allow_guestfs) {
  Inspected out;
  catalog::ImageRecord& record = out.record;
  record.library_id = job.candidate.library_id;
  record.path = job.candidate.path.string();
  record.domain = job.candidate.domain;
  record.identity = job.identity;
  record.file_size = job.file_size;
  record.inspected_at = catalog::utc_now();
  try {
    image::OpenOptions options;
    options.probe.allowed_roots = job.candidate.roots;
    options.allow_guestfs = allow_guestfs;
    auto inspection = inspect::inspect_image(job.candidate.path, options);
    record.state = "ok";
    record.format = inspection.format;
    record.virtual_size = inspection.virtual_size;
    record.access = inspection.access;
    record.os_id = inspection.os.id;
    record.os_version_id = inspection.os.version_id;
    record.os_pretty_name = inspection.os.pretty_name;
    record.arch = inspection.arch;
    record.hostname = inspection.hostname;
    record.package_count = static_cast<std::int64_t>(inspection.packages.size());
    record.inspection_json = inspect::to_json(inspection).dump();
    out.package_set = package_set_of(inspection);
    if (out.package_set) record.package_set = out.package_set->sha256;
    return out;
  } catch (const Error& e) {
    record.state = e.kind() == ErrorKind::unsupported ? "unsupported" : "error";
    record.reason = e.what();
    if (!e.cause().empty()) record.reason += " (because: " + e.cause() + ")";
  } catch (const std::exception& e) {
    // A bug must not end the scan of a whole library: record it on the image.
    record.state = "error";
    record.reason = std::string("internal error: ") + e.what();
  }
  try {
    record.format = std::string(image::to_string(image::detect_format(job.candidate.path)));
  } catch (const std::exception&) {
    record.format = "unknown";
  }
  return out;
}

// Runs the inspections on a small pool of threads and hands each result to
// `done` on the calling thread, so that only that thread touches the catalog.
template <typename Done>
void run_inspections(const std::vector<Job>& jobs, unsigned workers, bool allow_guestfs, Done&& done) {
  if (jobs.empty()) return;
  std::atomic<std::size_t> next{0};
  std::atomic<bool> stop{false};
  std::mutex mutex;
  std::condition_variable ready;
  std::deque<std::pair<std::size_t, Inspected>> results;
  {
    std::vector<std::jthread> threads;
    // Destroyed before the threads join: lets them finish early if `done` throws.
    struct StopOnExit {
      std::atomic<bool>& stop;
      ~StopOnExit() { stop = true; }
    };
    workers = std::max(1u, std::min<unsigned>(workers, static_cast<unsigned>(jobs.size())));
    for (unsigned w = 0; w < workers; ++w) {
      threads.emplace_back([&] {
        for (std::size_t i = next++; i < jobs.size() && !stop; i = next++) {
          auto inspected = inspect_one(jobs[i], allow_guestfs);
          std::lock_guard lock(mutex);
          results.emplace_back(i, std::move(inspected));
          ready.notify_one();
        }
      });
    }
    StopOnExit guard{stop};
    for (std::size_t received = 0; received < jobs.size(); ++received) {
      std::unique_lock lock(mutex);
      ready.wait(lock, [&] { return !results.empty(); });
      auto [index, inspected] = std::move(results.front());
      results.pop_front();
      lock.unlock();
      done(jobs[index], std::move(inspected));
    }
  }
}

std::string identity_of(const struct stat& st) {
  auto ns = [](const timespec& t) { return static_cast<long long>(t.tv_sec) * 1000000000LL + t.tv_nsec; };
  return fmt::format("{}:{}:{}:{}:{}", static_cast<unsigned long long>(st.st_dev),
                     static_cast<unsigned long long>(st.st_ino), static_cast<long long>(st.st_size),
                     ns(st.st_mtim), ns(st.st_ctim));
}

}  // namespace

IdentifyReport identify(catalog::Catalog& catalog, const IdentifyOptions& options, ProgressSink& progress) {
  IdentifyReport report;
  std::map<std::string, Candidate> candidates;  // by path: a pool volume used by a domain is one image
  const auto libraries = catalog.libraries();
  // Every recorded image, read once: the scan compares each candidate with its
  // record and then marks the records whose file is gone.
  std::map<std::string, catalog::ImageRecord> recorded;
  for (auto& image : catalog.images()) recorded.emplace(image.path, std::move(image));

  for (const auto& lib : libraries) {
    try {
      std::vector<fs::path> files;
      fs::path root;
      if (lib.kind == catalog::LibraryKind::directory) {
        root = lib.path;
        files = detail::scan_directory(root, report.warnings);
      } else {
        auto contents = list_pool(lib.uri, lib.pool);
        root = contents.target_path;
        files = contents.volumes;
      }
      for (auto& file : files) {
        Candidate c;
        c.path = file;
        c.library_id = lib.id;
        c.library = lib.name;
        c.roots = {root.empty() ? file.parent_path() : root};
        candidates.emplace(file.string(), std::move(c));
      }
    } catch (const Error& e) {
      report.warnings.push_back(fmt::format("library {}: {}", lib.name, e.what()));
    }
  }

  for (const auto& uri : catalog.connections()) {
    try {
      for (auto& disk : list_domain_disks(uri)) {
        auto [it, inserted] = candidates.try_emplace(disk.path.string());
        Candidate& c = it->second;
        if (inserted) {
          c.path = disk.path;
          c.roots = {
              disk.path
                  .parent_path()};  // the domain definition is the administrator's: its directory is trusted
        }
        c.domain = disk.domain;
        c.running = c.running || disk.running;
      }
    } catch (const Error& e) {
      report.warnings.push_back(fmt::format("libvirt {}: {}", uri, e.what()));
    }
  }

  progress.begin("identify", candidates.size());
  std::size_t done_count = 0;
  std::vector<Job> jobs;
  std::vector<catalog::ImageRecord> relinked;  // unchanged content, new library or domain
  for (auto& [path, c] : candidates) {
    std::optional<catalog::ImageRecord> previous;
    if (auto it = recorded.find(path); it != recorded.end()) previous = it->second;
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0) {
      report.warnings.push_back(fmt::format("{}: listed by {} but cannot be read: {}", path,
                                            c.domain.empty() ? "library " + c.library : "domain " + c.domain,
                                            std::strerror(errno)));
      progress.step(++done_count, path, "unreadable");
      continue;  // a recorded image is marked missing below
    }
    if (c.running) {
      IdentifyEntry entry{Outcome::skipped, c.library, previous.value_or(catalog::ImageRecord{})};
      entry.image.path = path;
      entry.image.domain = c.domain;
      entry.image.reason =
          fmt::format("domain {} is running, its disk is in use; shut it down to identify it", c.domain);
      report.entries.push_back(std::move(entry));
      ++report.skipped;
      progress.step(++done_count, path, "skipped");
      continue;
    }
    std::string identity = identity_of(st);
    if (previous && previous->identity == identity && previous->state != "missing") {
      if (previous->library_id != c.library_id || previous->domain != c.domain) {
        previous->library_id = c.library_id;
        previous->domain = c.domain;
        relinked.push_back(*previous);
      }
      report.entries.push_back({Outcome::unchanged, c.library, *previous});
      ++report.unchanged;
      progress.step(++done_count, path, "unchanged");
      continue;
    }
    jobs.push_back(
        {c, identity, static_cast<std::uint64_t>(st.st_size), previous ? Outcome::changed : Outcome::added});
  }
  if (!relinked.empty()) catalog.put_images(relinked);

  unsigned workers = options.jobs ? options.jobs : std::max(1u, std::thread::hardware_concurrency());
  run_inspections(jobs, workers, options.allow_guestfs, [&](const Job& job, Inspected inspected) {
    const auto& record = inspected.record;
    if (inspected.package_set) catalog.put_package_set(*inspected.package_set);
    catalog.put_image(record);
    auto stored = catalog.find_image(record.path);
    report.entries.push_back({job.outcome, job.candidate.library, stored ? *stored : record});
    ++report.inspected;
    ++(job.outcome == Outcome::added ? report.added : report.changed);
    if (record.state != "ok") ++report.errors;
    progress.step(++done_count, record.path, record.state == "ok" ? to_string(job.outcome) : record.state);
  });

  // Recorded images whose file is gone are kept (groups and history refer to
  // them) but marked missing, so nothing acts on them.
  std::vector<catalog::ImageRecord> vanished;
  for (auto& [path, image] : recorded) {
    std::error_code ec;
    if (image.state == "missing" || fs::exists(fs::path(image.path), ec) || ec) continue;
    image.state = "missing";
    image.reason = "the file no longer exists";
    image.inspected_at = catalog::utc_now();
    vanished.push_back(image);
  }
  if (!vanished.empty()) catalog.put_images(vanished);
  catalog.remove_unused_package_sets();
  std::map<std::int64_t, std::string> library_names;
  for (const auto& lib : libraries) library_names.emplace(lib.id, lib.name);
  for (auto& image : vanished) {
    ++report.missing;
    std::string library;
    if (image.library_id)
      if (auto it = library_names.find(*image.library_id); it != library_names.end()) library = it->second;
    report.entries.push_back({Outcome::missing, library, image});
  }
  progress.end();

  std::sort(report.entries.begin(), report.entries.end(),
            [](const IdentifyEntry& a, const IdentifyEntry& b) { return a.image.path < b.image.path; });
  return report;
}

}  // namespace dormant::library
