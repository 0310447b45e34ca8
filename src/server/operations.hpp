// Private to the server: long actions (identify, assess, job runs) as
// operations: a `dormant` process started in its own session, so that it
// outlives the server like any durable job run, and polled by clients.
// Kept in memory only (the last kMaxKept); what they did is in the catalog.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <filesystem>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "cli_call.hpp"

namespace dormant::server {

class Operations {
 public:
  Operations(const Cli& cli, std::filesystem::path work_dir);
  ~Operations();
  Operations(const Operations&) = delete;
  Operations& operator=(const Operations&) = delete;

  // Starts `dormant --catalog C args...`; returns the operation id.
  std::int64_t start(std::string kind, std::vector<std::string> args);
  pid_t pid(std::int64_t id) const;
  // The exit code once finished (after the reaper saw it), else nullopt.
  std::optional<int> exit_code(std::int64_t id) const;
  void set_job_run(std::int64_t id, std::int64_t run_id);
  // Error text of a finished, failed operation (the CLI's message).
  std::string error_message(std::int64_t id) const;
  std::optional<nlohmann::json> get(std::int64_t id) const;
  nlohmann::json list() const;

  static constexpr std::size_t kMaxKept = 200;

 private:
  struct Operation {
    std::int64_t id = 0;
    std::string kind;
    std::vector<std::string> args;
    pid_t pid = 0;
    std::optional<int> exit_code;  // -1 when killed by a signal
    std::string started_at, finished_at;
    std::filesystem::path out, err;
    std::optional<std::int64_t> job_run;
  };
  nlohmann::json to_json(const Operation& op) const;
  void reap_loop();
  void forget_oldest();

  Cli cli_;
  std::filesystem::path work_dir_;
  mutable std::mutex mutex_;
  std::condition_variable wake_;
  std::map<std::int64_t, Operation> operations_;
  std::int64_t next_id_ = 1;
  bool stopping_ = false;
  std::thread reaper_;
};

}  // namespace dormant::server
