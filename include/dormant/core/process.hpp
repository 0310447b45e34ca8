// Whether a process is alive, for the liveness checks of patch runs and job
// runners (pids are recorded in the catalog).
#pragma once

#include <sys/types.h>

namespace dormant {

// True when `pid` exists and is not a zombie. A killed process whose parent
// died stays a zombie until init reaps it, which some container inits do
// late or never: it must count as dead, or its run would never be
// reconciled.
bool process_alive(pid_t pid);

}  // namespace dormant
