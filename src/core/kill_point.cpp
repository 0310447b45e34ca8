#include "dormant/core/kill_point.hpp"

#include <signal.h>

#include <cstdlib>

namespace dormant {

void kill_point(std::string_view point) {
  const char* at = std::getenv("DORMANT_TEST_KILL_AT");
  if (at == nullptr || point != at) return;
  const char* group = std::getenv("DORMANT_TEST_KILL_GROUP");
  if (group != nullptr && std::string_view(group) == "1") ::kill(0, SIGKILL);
  ::raise(SIGKILL);
}

}  // namespace dormant
