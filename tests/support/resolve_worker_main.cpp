// The resolver worker for the tests: what `dormant __resolve-worker` runs,
// plus two test hooks the real CLI does not have:
//   DORMANT_TEST_WORKER_CRASH_ON=KEY  raise SIGSEGV just before resolving job KEY
//   DORMANT_TEST_WORKER_HANG_ON=KEY   sleep forever just before resolving job KEY
#include <signal.h>
#include <unistd.h>

#include <cstdlib>
#include <iostream>
#include <string>

#include "dormant/assess/worker.hpp"

int main(int argc, char** argv) {
  if (argc != 3 || std::string(argv[1]) != "__resolve-worker") {
    std::cerr << "usage: " << argv[0] << " __resolve-worker REQUEST_FILE\n";
    return 2;
  }
  const char* crash_on = std::getenv("DORMANT_TEST_WORKER_CRASH_ON");
  const char* hang_on = std::getenv("DORMANT_TEST_WORKER_HANG_ON");
  return dormant::assess::run_resolve_worker(argv[2], std::cout, [&](const std::string& key) {
    if (crash_on != nullptr && key == crash_on) {
      // Die by the signal as a production build would: under the sanitizer
      // build ASan's handler would turn it into exit status 1.
      ::signal(SIGSEGV, SIG_DFL);
      ::raise(SIGSEGV);
    }
    if (hang_on != nullptr && key == hang_on)
      for (;;) ::pause();
  });
}
