// qemu-guest-agent through libvirt's pass-through
// (virDomainQemuAgentCommand; private to patch/ --mode service). Every
// answer comes from the guest and is parsed as hostile input.
#pragma once

#include <libvirt/libvirt.h>

#include <chrono>
#include <optional>
#include <string>
#include <vector>

namespace dormant::patch::detail {

struct GuestExecResult {
  bool exited = false;  // false: the deadline passed first
  int exit_code = -1;
  std::string out, err;
  bool truncated = false;  // the agent capped the captured output
};

class GuestAgent {
 public:
  using Clock = std::chrono::steady_clock;
  explicit GuestAgent(virDomainPtr domain) : domain_(domain) {}

  // Pings until the agent answers (true) or the deadline passes or the
  // domain stops (false). last_error() says what the agent said last.
  bool wait_ready(Clock::time_point deadline);
  // The guest's boot id (/proc/sys/kernel/random/boot_id), "" when unreadable.
  std::string boot_id(Clock::time_point deadline);
  // guest-exec of argv with captured output, polled until it exits or the
  // deadline passes (the process is left to the caller, who stops the VM).
  GuestExecResult exec(const std::vector<std::string>& argv, Clock::time_point deadline);
  // guest-shutdown (powerdown); false when the agent refused or is gone.
  bool shutdown();

  const std::string& last_error() const { return last_error_; }

 private:
  // One command; nullopt on any error (last_error_ set).
  std::optional<std::string> command(const std::string& json, int timeout_seconds);
  virDomainPtr domain_;
  std::string last_error_;
};

}  // namespace dormant::patch::detail
