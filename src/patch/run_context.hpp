// Private to patch/: what the steps of one patch run share (offline and
// service mode).
#pragma once

#include <chrono>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "dormant/assess/assess.hpp"
#include "dormant/assess/download.hpp"
#include "dormant/catalog/catalog.hpp"
#include "dormant/core/kill_point.hpp"
#include "dormant/patch/patch.hpp"

namespace dormant::patch {

struct RunContext {
  catalog::Catalog& catalog;
  const PatchOptions& options;
  std::string run_id;
  std::filesystem::path scratch;  // under cache_dir: worker scratch
};

// Times a step into ImagePatch::seconds[step].
class StepTimer {
 public:
  using Clock = std::chrono::steady_clock;
  StepTimer(ImagePatch& p, std::string step) : p_(p), step_(std::move(step)), start_(Clock::now()) {}
  ~StepTimer() { p_.seconds[step_] += std::chrono::duration<double>(Clock::now() - start_).count(); }
  StepTimer(const StepTimer&) = delete;
  StepTimer& operator=(const StepTimer&) = delete;

 private:
  ImagePatch& p_;
  std::string step_;
  Clock::time_point start_;
};

// Removes a directory tree when it goes out of scope (the run's work).
struct RemoveOnExit {
  std::filesystem::path path;
  ~RemoveOnExit() {
    std::error_code ec;
    if (!path.empty()) std::filesystem::remove_all(path, ec);
  }
};

// The image's row of this run, written now (durable before the next step).
void record(catalog::Catalog& catalog, const std::string& run_id, const ImagePatch& p);

// kill_point(step) (core/kill_point.hpp) is called right after each step's
// record is durable, to test what a killed run leaves behind.


// Error(limit) unless `dir`'s filesystem has `staged` + `image_allocated`
// bytes (+ a margin) free: what a patch writes beside the library image.
void check_host_space(const std::filesystem::path& dir, std::uint64_t staged, std::uint64_t image_allocated);

// --mode service, from a downloaded plan to an overlay (in `work`) whose
// backing file is the serviced image brought back from the host, checked
// offline and ready for commit. Chooses the host among options.hosts.
// Throws Error on any failure after cleaning up the host.
std::filesystem::path service_image(RunContext& ctx, ImagePatch& p, const assess::ImageAssessment& a,
                                    const std::vector<assess::DownloadedPackage>& debs,
                                    const std::filesystem::path& work);

}  // namespace dormant::patch
