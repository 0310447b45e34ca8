// Child side of the resolver worker (see worker.hpp for the protocol).
#include "dormant/assess/worker.hpp"

#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>
#include <optional>
#include <ostream>

#include "dormant/assess/download.hpp"

namespace dormant::assess {
namespace {

namespace fs = std::filesystem;

struct RequestJob {
  std::string key;
  fs::path status_file;
  fs::path extended_states_file;
  ResolveOptions options;
};

std::string read_text(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) fail(ErrorKind::io, path.string(), "cannot open");
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (in.bad()) fail(ErrorKind::io, path.string(), "cannot read");
  return text;
}

void write_line(std::ostream& out, const nlohmann::json& line) {
  out << line.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << '\n';
  out.flush();
}

void write_error(std::ostream& out, const std::string& key, ErrorKind kind, const std::string& message) {
  write_line(out, {{"key", key}, {"error", {{"kind", to_string(kind)}, {"message", message}}}});
}

// The answer to a download request: one line, no key.
void write_download_error(std::ostream& out, ErrorKind kind, const std::string& subject,
                          const std::string& message) {
  write_line(out, {{"error", {{"kind", to_string(kind)}, {"subject", subject}, {"message", message}}}});
}

}  // namespace

int run_resolve_worker(const fs::path& request_file, std::ostream& out,
                       const std::function<void(const std::string& key)>& before_job) {
  UniverseOptions options;
  std::vector<RequestJob> jobs;
  // Optional: {"archives_dir": DIR, "packages": [PackageRef...]}, done after the jobs (download.hpp).
  std::optional<std::pair<fs::path, std::vector<PackageRef>>> download;
  try {
    const auto request = nlohmann::json::parse(read_text(request_file));
    options = request.at("options").get<UniverseOptions>();
    if (const auto d = request.find("download"); d != request.end())
      download.emplace(d->at("archives_dir").get<std::string>(),
                       d->at("packages").get<std::vector<PackageRef>>());
    for (const auto& job : request.at("jobs")) {
      RequestJob parsed{job.at("key").get<std::string>(),
                        job.at("status_file").get<std::string>(),
                        job.at("extended_states_file").get<std::string>(),
                        {}};
      // Absent in requests that only ask for dist-upgrade.
      if (const auto o = job.find("options"); o != job.end()) parsed.options = o->get<ResolveOptions>();
      jobs.push_back(std::move(parsed));
    }
  } catch (const std::exception& e) {
    // No job can be named: the parent reports the worker's exit for all.
    write_line(out, {{"fatal", std::string("bad worker request: ") + e.what()}});
    return 1;
  }

  std::unique_ptr<Universe> universe;
  try {
    universe = std::make_unique<Universe>(options);
  } catch (const Error& e) {
    for (const auto& job : jobs) write_error(out, job.key, e.kind(), e.what());
    if (download) write_download_error(out, e.kind(), e.subject(), e.message());
    return 1;
  } catch (const std::exception& e) {
    for (const auto& job : jobs) write_error(out, job.key, ErrorKind::internal, e.what());
    if (download) write_download_error(out, ErrorKind::internal, "", e.what());
    return 1;
  }
  write_line(out, {{"ready", true}});

  for (const auto& job : jobs) {
    if (before_job) before_job(job.key);
    try {
      const Resolution resolution =
          universe->resolve(read_text(job.status_file), read_text(job.extended_states_file), job.options);
      write_line(out, {{"key", job.key}, {"resolution", resolution}});
    } catch (const Error& e) {
      write_error(out, job.key, e.kind(), e.what());
    } catch (const std::exception& e) {
      write_error(out, job.key, ErrorKind::internal, e.what());
    }
  }
  if (download) {
    try {
      nlohmann::json list = nlohmann::json::array();
      for (const auto& p : universe->download(download->second, download->first)) list.push_back(p);
      write_line(out, {{"downloaded", std::move(list)}});
    } catch (const Error& e) {
      write_download_error(out, e.kind(), e.subject(), e.message());
    } catch (const std::exception& e) {
      write_download_error(out, ErrorKind::internal, "", e.what());
    }
  }
  return 0;
}

}  // namespace dormant::assess
