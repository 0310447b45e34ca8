#include "finalize_check.hpp"

#include <fmt/format.h>

#include <map>

#include "dormant/assess/assess.hpp"
#include "dormant/assess/worker.hpp"
#include "dormant/image/guest_writer.hpp"
#include "dormant/inspect/dpkg_status.hpp"
#include "guest_update.hpp"

namespace dormant::patch {
namespace {

constexpr std::uint64_t kResultCap = 1 << 20;
constexpr std::uint64_t kStatusCap = 64 << 20;

}  // namespace

std::string tail_lines(const std::string& text, std::size_t count) {
  std::size_t pos = text.size();
  for (std::size_t n = 0; n <= count && pos > 0; ++n) {
    const auto nl = text.rfind('\n', pos - 1);
    if (nl == std::string::npos) return text;
    pos = nl;
  }
  return text.substr(pos + 1);
}

bool journals_clean(image::GuestWriter& guest, std::string_view after, FinalizeCheck& check) {
  for (const auto& fs : guest.filesystems())
    if (fs.needs_recovery) {
      check.problem = fmt::format(
          "after {} the guest's {} filesystem needs journal recovery: it did not shut down cleanly", after,
          fs.mountpoint);
      return false;
    }
  return true;
}

FinalizeCheck check_finalized(const std::filesystem::path& overlay, const image::ProbeOptions& probe,
                              const std::string& run_id, const ImagePatch& plan,
                              const assess::UniverseOptions& universe, const PatchOptions& options,
                              const std::filesystem::path& scratch) {
  FinalizeCheck check;
  // Opened through the writer only to see the journal state; nothing is written.
  auto guest = image::open_guest_writer(overlay, probe);
  if (!journals_clean(*guest, "the finalize boot", check)) return check;
  auto& view = guest->view();
  const std::string dir = guest::run_dir(run_id);
  auto result_text = view.read_file(dir + "/result", kResultCap, false);
  if (!result_text) {
    check.problem = view.type_of(guest::kSystemUpdate, false)
                        ? "the guest booted without running the staged update (/system-update is still there)"
                        : fmt::format("the update ran but wrote no {}/result (it was interrupted)", dir);
    return check;
  }
  const auto result = guest::parse_result(*result_text);
  check.status = result.status;
  if (result.run != run_id || result.status != "success") {
    auto log = view.read_file(dir + "/log", kResultCap, false);
    check.problem =
        fmt::format("the guest's update failed: status {}{} (run {}); its log ends:\n{}",
                    result.status.empty() ? "unknown" : result.status,
                    result.apt_exit ? fmt::format(", apt-get exit status {}", *result.apt_exit) : "",
                    result.run, log ? tail_lines(*log, 15) : "(no log)");
    return check;
  }

  check_installed(*guest, plan, universe, options, scratch, check);
  return check;
}

void check_installed(image::GuestWriter& guest, const ImagePatch& plan,
                     const assess::UniverseOptions& universe, const PatchOptions& options,
                     const std::filesystem::path& scratch, FinalizeCheck& check) {
  auto& view = guest.view();
  auto status = view.read_file("/var/lib/dpkg/status", kStatusCap);
  auto extended = view.read_file("/var/lib/apt/extended_states", kStatusCap);
  if (!status) {
    check.problem = "the updated guest has no /var/lib/dpkg/status";
    return;
  }
  std::map<std::string, std::string> installed;  // "name:arch" -> version
  for (const auto& pkg : inspect::parse_dpkg_status(*status).packages)
    if (pkg.status == "installed") installed[pkg.name + ":" + pkg.arch] = pkg.version;
  std::vector<std::string> missing;
  for (const auto& c : plan.installs) {
    auto it = installed.find(c.name + ":" + c.arch);
    if (it == installed.end()) it = installed.find(c.name + ":all");
    if (it != installed.end() && it->second == c.candidate)
      ++check.applied;
    else
      missing.push_back(fmt::format("{}:{} {} (dpkg has {})", c.name, c.arch, c.candidate,
                                    it == installed.end() ? "none" : it->second));
  }
  if (!missing.empty()) {
    check.problem = fmt::format("after the update the guest's dpkg database lacks planned versions: {}",
                                fmt::join(missing, ", "));
    return;
  }

  auto resolve_universe = universe;
  resolve_universe.work_dir = scratch / fmt::format("finalized-{}", plan.image.id);
  auto results = assess::resolve_in_worker(options.worker_exe, resolve_universe,
                                           {{"finalized", *status, extended.value_or(""), {}}},
                                           options.timeout_per_image);
  if (results.empty() || !results.front().resolution) {
    check.problem = fmt::format("the updated package database cannot be assessed: {}",
                                results.empty() ? "no result" : results.front().error);
    return;
  }
  check.compliance = assess::compliance_of(*results.front().resolution);
  if (check.compliance == catalog::kSecurityUpdatesPending || check.compliance == catalog::kUnknown)
    check.problem = fmt::format("after the update the image is still {}", check.compliance);
}

}  // namespace dormant::patch
