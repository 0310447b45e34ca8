// Test hook for crash injection (tests/integration/job_crash_test.cpp and
// the patch kill tests): DORMANT_TEST_KILL_AT=<point> makes the process
// SIGKILL itself when it reaches that point; with DORMANT_TEST_KILL_GROUP=1
// it kills its whole process group (a job runner and its patch processes
// dying together, as in a power loss). Without the variable it does nothing.
#pragma once

#include <string_view>

namespace dormant {

void kill_point(std::string_view point);

}  // namespace dormant
