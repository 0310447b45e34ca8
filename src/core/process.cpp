#include "dormant/core/process.hpp"

#include <signal.h>

#include <cerrno>
#include <fstream>
#include <string>

namespace dormant {

bool process_alive(pid_t pid) {
  if (pid <= 0) return false;
  if (::kill(pid, 0) != 0 && errno == ESRCH) return false;
  // /proc/PID/stat: "PID (COMM) STATE ..."; COMM may contain ')' and spaces.
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string stat;
  if (!std::getline(in, stat)) return true;  // no /proc: trust kill(2)
  const auto close = stat.rfind(')');
  return close == std::string::npos || close + 2 >= stat.size() || stat[close + 2] != 'Z';
}

}  // namespace dormant
