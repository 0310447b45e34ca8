#include "guest_agent.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cstdlib>
#include <memory>
#include <nlohmann/json.hpp>
#include <thread>

#include "dormant/core/base64.hpp"
#include "libvirt_api.hpp"

namespace dormant::patch::detail {
namespace {

using library::libvirt_api;
using library::libvirt_qemu_api;
using nlohmann::json;

constexpr auto kPoll = std::chrono::milliseconds(500);
constexpr std::size_t kMaxOutput = 16 << 20;  // qemu-ga's own cap on captured output

bool domain_running(virDomainPtr domain) { return libvirt_api().virDomainIsActive(domain) == 1; }

int seconds_left(GuestAgent::Clock::time_point deadline, int cap) {
  const auto left =
      std::chrono::duration_cast<std::chrono::seconds>(deadline - GuestAgent::Clock::now()).count();
  return static_cast<int>(std::clamp<long long>(left, 1, cap));
}

}  // namespace

std::optional<std::string> GuestAgent::command(const std::string& text, int timeout_seconds) {
  char* reply = libvirt_qemu_api().virDomainQemuAgentCommand(domain_, text.c_str(), timeout_seconds, 0);
  if (reply == nullptr) {
    last_error_ = library::last_libvirt_error();
    return std::nullopt;
  }
  std::unique_ptr<char, decltype(&std::free)> owned(reply, &std::free);
  return std::string(reply);
}

bool GuestAgent::wait_ready(Clock::time_point deadline) {
  const std::string ping = R"({"execute":"guest-ping"})";
  while (Clock::now() < deadline) {
    if (!domain_running(domain_)) {
      last_error_ = "the domain stopped before its guest agent answered";
      return false;
    }
    if (command(ping, seconds_left(deadline, 5))) return true;
    std::this_thread::sleep_for(kPoll);
  }
  return false;
}

std::string GuestAgent::boot_id(Clock::time_point deadline) {
  auto r = exec({"/bin/cat", "/proc/sys/kernel/random/boot_id"}, deadline);
  if (!r.exited || r.exit_code != 0) return "";
  while (!r.out.empty() && (r.out.back() == '\n' || r.out.back() == ' ')) r.out.pop_back();
  return r.out.size() <= 64 ? r.out : "";
}

GuestExecResult GuestAgent::exec(const std::vector<std::string>& argv, Clock::time_point deadline) {
  GuestExecResult result;
  if (argv.empty()) return result;
  json request = {{"execute", "guest-exec"},
                  {"arguments",
                   {{"path", argv.front()},
                    {"arg", std::vector<std::string>(argv.begin() + 1, argv.end())},
                    {"capture-output", true}}}};
  auto started = command(request.dump(), seconds_left(deadline, 30));
  if (!started) return result;
  std::int64_t pid = -1;
  try {
    pid = json::parse(*started).at("return").at("pid").get<std::int64_t>();
  } catch (const json::exception& e) {
    last_error_ = fmt::format("guest-exec gave an unreadable answer: {}", e.what());
    return result;
  }
  const std::string status_request =
      json{{"execute", "guest-exec-status"}, {"arguments", {{"pid", pid}}}}.dump();
  while (Clock::now() < deadline) {
    auto reply = command(status_request, seconds_left(deadline, 30));
    if (!reply) {
      if (!domain_running(domain_)) return result;
      std::this_thread::sleep_for(kPoll);
      continue;
    }
    try {
      const auto status = json::parse(*reply).at("return");
      if (!status.value("exited", false)) {
        std::this_thread::sleep_for(kPoll);
        continue;
      }
      result.exited = true;
      result.exit_code = status.value("exitcode", -1);
      if (status.contains("signal")) result.exit_code = 128 + status.value("signal", 0);
      for (auto [field, target] : {std::pair{"out-data", &result.out}, std::pair{"err-data", &result.err}}) {
        const std::string encoded = status.value(field, std::string());
        if (encoded.size() > 2 * kMaxOutput) {
          last_error_ = fmt::format("guest-exec {} is larger than {} bytes", field, kMaxOutput);
          continue;
        }
        if (auto decoded = base64_decode(encoded))
          *target = std::move(*decoded);
        else
          last_error_ = fmt::format("guest-exec {} is not base64", field);
      }
      result.truncated = status.value("out-truncated", false) || status.value("err-truncated", false);
      return result;
    } catch (const json::exception& e) {
      last_error_ = fmt::format("guest-exec-status gave an unreadable answer: {}", e.what());
      return result;
    }
  }
  last_error_ = "the command did not finish before the time-out";
  return result;
}

bool GuestAgent::shutdown() {
  // guest-shutdown does not answer on success (the guest goes down);
  // libvirt's own agent shutdown knows that, so it is used here.
  if (libvirt_api().virDomainShutdownFlags(domain_, VIR_DOMAIN_SHUTDOWN_GUEST_AGENT) == 0) return true;
  last_error_ = library::last_libvirt_error();
  return false;
}

}  // namespace dormant::patch::detail
