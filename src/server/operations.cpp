#include "operations.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "dormant/catalog/catalog.hpp"
#include "dormant/core/error.hpp"
#include "http_error.hpp"

namespace dormant::server {
namespace {

constexpr std::size_t kLogTail = 64 * 1024;

std::string read_tail(const std::filesystem::path& path, std::size_t max) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return {};
  in.seekg(0, std::ios::end);
  auto size = static_cast<std::size_t>(std::max<std::streamoff>(0, in.tellg()));
  in.seekg(static_cast<std::streamoff>(size > max ? size - max : 0));
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

pid_t spawn_in_own_session(const std::vector<std::string>& argv, const std::filesystem::path& out,
                           const std::filesystem::path& err) {
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  const std::string out_path = out.string(), err_path = err.string();
  const pid_t pid = ::fork();
  if (pid < 0) fail(ErrorKind::io, argv.front(), "fork: {}", std::strerror(errno));
  if (pid == 0) {
    // Only async-signal-safe calls from here to exec. A session of its own:
    // a job run must not die with the server (Ctrl-C on its terminal).
    ::setsid();
    int in = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
    int o = ::open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    int e = ::open(err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (in < 0 || o < 0 || e < 0 || ::dup2(in, 0) < 0 || ::dup2(o, 1) < 0 || ::dup2(e, 2) < 0) ::_exit(127);
    ::execv(args[0], args.data());
    ::_exit(127);
  }
  return pid;
}

}  // namespace

Operations::Operations(const Cli& cli, std::filesystem::path work_dir)
    : cli_(cli), work_dir_(std::move(work_dir)), reaper_([this] { reap_loop(); }) {}

Operations::~Operations() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  reaper_.join();
}

std::int64_t Operations::start(std::string kind, std::vector<std::string> args) {
  std::lock_guard lock(mutex_);
  Operation op;
  op.id = next_id_++;
  op.kind = std::move(kind);
  op.args = std::move(args);
  op.out = work_dir_ / ("op-" + std::to_string(op.id) + ".out");
  op.err = work_dir_ / ("op-" + std::to_string(op.id) + ".err");
  op.started_at = catalog::utc_now();
  op.pid = spawn_in_own_session(cli_.argv(op.args), op.out, op.err);
  auto id = op.id;
  operations_.emplace(id, std::move(op));
  forget_oldest();
  wake_.notify_all();
  return id;
}

void Operations::forget_oldest() {
  // Only finished operations are forgotten: a running one must stay reaped.
  for (auto it = operations_.begin(); operations_.size() > kMaxKept && it != operations_.end();) {
    if (it->second.exit_code) {
      std::error_code ec;
      std::filesystem::remove(it->second.out, ec);
      std::filesystem::remove(it->second.err, ec);
      it = operations_.erase(it);
    } else {
      ++it;
    }
  }
}

void Operations::reap_loop() {
  std::unique_lock lock(mutex_);
  while (!stopping_) {
    for (auto& [id, op] : operations_) {
      if (op.exit_code) continue;
      int status = 0;
      pid_t r = ::waitpid(op.pid, &status, WNOHANG);
      if (r == op.pid || (r < 0 && errno == ECHILD)) {
        op.exit_code = r == op.pid && WIFEXITED(status) ? WEXITSTATUS(status) : -1;
        op.finished_at = catalog::utc_now();
      }
    }
    wake_.wait_for(lock, std::chrono::milliseconds(100));
  }
}

pid_t Operations::pid(std::int64_t id) const {
  std::lock_guard lock(mutex_);
  auto it = operations_.find(id);
  return it == operations_.end() ? 0 : it->second.pid;
}

std::optional<int> Operations::exit_code(std::int64_t id) const {
  std::lock_guard lock(mutex_);
  auto it = operations_.find(id);
  return it == operations_.end() ? std::nullopt : it->second.exit_code;
}

void Operations::set_job_run(std::int64_t id, std::int64_t run_id) {
  std::lock_guard lock(mutex_);
  if (auto it = operations_.find(id); it != operations_.end()) it->second.job_run = run_id;
}

std::string Operations::error_message(std::int64_t id) const {
  std::filesystem::path err;
  {
    std::lock_guard lock(mutex_);
    auto it = operations_.find(id);
    if (it == operations_.end()) return {};
    err = it->second.err;
  }
  return cli_error_message(read_tail(err, kLogTail));
}

nlohmann::json Operations::to_json(const Operation& op) const {
  nlohmann::json j = {
      {"id", op.id},
      {"kind", op.kind},
      {"args", op.args},
      {"started_at", op.started_at},
      {"finished_at", op.finished_at.empty() ? nlohmann::json(nullptr) : nlohmann::json(op.finished_at)},
      {"exit_code", op.exit_code ? nlohmann::json(*op.exit_code) : nlohmann::json(nullptr)},
      {"job_run", op.job_run ? nlohmann::json(*op.job_run) : nlohmann::json(nullptr)}};
  j["state"] = !op.exit_code ? "running" : *op.exit_code == 0 ? "succeeded" : "failed";
  const std::string log = read_tail(op.err, kLogTail);
  j["log"] = log;
  j["result"] = nullptr;
  j["error"] = nullptr;
  if (op.exit_code) {
    auto result = nlohmann::json::parse(read_tail(op.out, std::size_t{64} << 20), nullptr, false);
    if (!result.is_discarded()) j["result"] = std::move(result);
    // Some commands exit 1 for an outcome, not an error (an assessment that
    // found updates with --exit-code, a job run that did not finish `done`).
    if (*op.exit_code != 0)
      j["error"] = {
          {"kind", *op.exit_code == 1 ? "outcome" : std::string(to_string(kind_of_exit(*op.exit_code)))},
          {"message", cli_error_message(log)}};
  }
  return j;
}

std::optional<nlohmann::json> Operations::get(std::int64_t id) const {
  std::lock_guard lock(mutex_);
  auto it = operations_.find(id);
  if (it == operations_.end()) return std::nullopt;
  return to_json(it->second);
}

nlohmann::json Operations::list() const {
  std::lock_guard lock(mutex_);
  nlohmann::json out = nlohmann::json::array();
  for (auto it = operations_.rbegin(); it != operations_.rend(); ++it) out.push_back(to_json(it->second));
  return out;
}

}  // namespace dormant::server
