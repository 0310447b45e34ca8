// The resolver runs in a worker process: libapt-pkg keeps process-wide state
// (one configuration per process) and parses the guest's dpkg status, which
// is hostile input. A crash or a hang on one image costs that image only.
//
// Protocol: the parent writes a request file (JSON: the UniverseOptions and a
// list of jobs, each a key, the paths of the image's status and
// extended_states files and optionally its ResolveOptions as "options":
// {"security_only": bool, "exclude": [names]}) and runs `dormant __resolve-worker REQUEST_FILE`. The
// worker loads one Universe, prints {"ready": true}, then one line per job, in
// order, flushed:
//   {"key": K, "resolution": {...}}   or   {"key": K, "error": {"kind": "corrupt", "message": "..."}}
// A request may also carry "download": {"archives_dir": DIR, "packages": [{"name", "arch",
// "version"}...]} (download.hpp): after the jobs, the worker answers it with one line
//   {"downloaded": [{"ref", "file", "sha256", "size", "cached"}...]}   or
//   {"error": {"kind": "hostile", "subject": "...", "message": "..."}}
#pragma once

#include <chrono>
#include <filesystem>
#include <functional>
#include <iosfwd>
#include <nlohmann/json_fwd.hpp>
#include <optional>
#include <string>
#include <vector>

#include "dormant/assess/resolver.hpp"
#include "dormant/core/error.hpp"

namespace dormant::assess {

// Child side: the `__resolve-worker` subcommand. Returns the exit code: 0 when
// every job got a line (an error line included), 1 when the request or the
// universe could not be loaded (then every job gets that error). `before_job`
// is a test hook, called with each job's key before it is resolved.
int run_resolve_worker(const std::filesystem::path& request_file, std::ostream& out,
                       const std::function<void(const std::string& key)>& before_job = {});

struct WorkerJob {
  std::string key;  // the caller's name for the image; echoed back
  std::string status;
  std::string extended_states;
  ResolveOptions options;  // "options" of the job in the request; absent: the default
};

struct WorkerResult {
  std::string key;
  std::optional<Resolution> resolution;  // empty on error
  ErrorKind kind = ErrorKind::internal;  // of the error
  std::string error;
};

// Parent side: resolves `jobs` in `dormant_exe __resolve-worker`, one result per
// job in the order given. The job files and the worker's scratch space go
// under options.work_dir. When the worker dies (a signal, a crash on hostile
// input) or a job takes longer than `timeout_per_job`, the job it was on gets
// an error naming that ("resolver worker crashed (signal 11) while reading
// this image's package database") and a new worker takes the remaining jobs.
// The first job of each worker also gets the universe load time (at least
// five minutes in all). Throws Error(io) only when the worker cannot be
// started at all.
std::vector<WorkerResult> resolve_in_worker(const std::filesystem::path& dormant_exe,
                                            const UniverseOptions& options,
                                            const std::vector<WorkerJob>& jobs,
                                            std::chrono::milliseconds timeout_per_job);

// JSON forms of the resolver's results (the worker protocol and the CLI's
// --json output use the same).
void to_json(nlohmann::json& j, const PackageChange& change);
void from_json(const nlohmann::json& j, PackageChange& change);
void to_json(nlohmann::json& j, const Resolution& resolution);
void from_json(const nlohmann::json& j, Resolution& resolution);
void to_json(nlohmann::json& j, const UniverseOptions& options);
void from_json(const nlohmann::json& j, UniverseOptions& options);
void to_json(nlohmann::json& j, const ResolveOptions& options);
void from_json(const nlohmann::json& j, ResolveOptions& options);  // missing fields: the default

// "corrupt" <-> ErrorKind::corrupt; unknown names are ErrorKind::internal.
ErrorKind error_kind_from_string(std::string_view name);

}  // namespace dormant::assess
