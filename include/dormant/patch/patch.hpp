// Offline patching (`dormant patch --mode offline`): per image
//   plan      the assessment's resolution (dist-upgrade, or --security-only /
//             --exclude), from freshly verified indexes
//   download  the plan's .debs into the verified cache (assess/download.hpp)
//   stage     on a qcow2 overlay of the library image (never the image
//             itself): the .debs, their SHA256SUMS, a systemd offline-update
//             unit and /system-update, written with libext2fs
//   verify    re-read every staged file and hash it; e2fsck -fn clean
//   finalize  (optional) boot the overlay once with no network so the guest
//             applies the update and powers off; re-inspect and re-assess it
//   commit    flatten the overlay into a new image beside the library image
//             and rename(2) it into place; the old version is kept
// Each step's outcome is recorded in the catalog before the next begins.
// Whatever fails, the library image stays byte-identical and the run's work
// directory is removed.
#pragma once

#include <chrono>
#include <cstddef>
#include <filesystem>
#include <map>
#include <nlohmann/json_fwd.hpp>
#include <optional>
#include <string>
#include <vector>

#include "dormant/assess/resolver.hpp"
#include "dormant/catalog/catalog.hpp"
#include "dormant/core/progress.hpp"

namespace dormant::patch {

// --mode service: per-phase time-outs (each ends with the VM stopped, the
// host cleaned up and the library image untouched).
struct ServiceTimeouts {
  std::chrono::seconds copy{900};      // each upload / download of the working copy
  std::chrono::seconds boot{300};      // start until the guest agent answers (also after a reboot)
  std::chrono::seconds update{1800};   // each update round inside the guest
  std::chrono::seconds shutdown{180};  // agent, then ACPI, then forced off
};

enum class PatchMode { offline, service };

struct PatchOptions {
  PatchMode mode = PatchMode::offline;
  std::filesystem::path cache_dir;   // indexes, the .deb cache, scratch (as assess)
  std::filesystem::path worker_exe;  // the dormant binary (`__resolve-worker`)
  bool refresh = true;               // false: --offline (indexes of the last fetch)
  bool security_only = false;
  std::vector<std::string> exclude;
  bool dry_run = false;
  bool finalize = false;
  bool replay_journal = false;  // replay a dirty ext journal on the overlay instead of refusing
  // Finalize time-out; 0 = from the plan (2 min + 20 s per package + 20 min per kernel).
  std::chrono::seconds finalize_timeout{0};
  std::string libvirt_uri = "qemu:///system";
  std::size_t keep_versions = 2;  // previous versions kept for rollback
  // --mode service: the maintenance hosts of the --hosts group (the image
  // goes to the reachable one with the most free VM slots), time-outs, and
  // how many update rounds (a reboot between two) before giving up.
  std::vector<catalog::Host> hosts;
  ServiceTimeouts service_timeouts;
  std::optional<std::int64_t> job_run_id;  // the job run this patch run serves (`dormant job run`)
  int max_rounds = 3;
  std::chrono::milliseconds timeout_per_image{std::chrono::minutes(2)};  // resolver / download worker
};

struct StagedFile {
  std::string guest_path;
  std::string sha256;
  std::uint64_t size = 0;
};

struct ImagePatch {
  catalog::ImageRecord image;
  std::string state;  // catalog::PatchImageRecord states
  std::string step;   // the step that failed (with state "failed")
  std::string reason;
  std::vector<assess::PackageChange> installs;  // upgrades and new packages, in plan order
  std::vector<assess::PackageChange> removals;
  std::vector<assess::PackageChange> not_planned;  // held, excluded, deferred, kept back
  std::vector<StagedFile> staged;
  bool verified = false;
  std::string fsck;  // e2fsck's verdict on the staged overlay
  // After --finalize: what the guest reported and what its dpkg database says.
  std::string applied_status;          // the guest's `result` status ("success", "failed-apt")
  std::optional<std::size_t> applied;  // planned installs now at their planned version
  std::string compliance_after;        // assessment of the finalized image
  // --mode service: where and how it ran.
  std::string host;                     // the maintenance host's name
  std::string domain;                   // the transient domain's name
  int rounds = 0;                       // update rounds run in the guest
  std::optional<int> pending_after;     // what apt in the guest still saw pending after the last round
  std::string shutdown;                 // how it stopped: agent, acpi, forced
  std::optional<int> guest_interfaces;  // network interfaces besides lo the guest saw (0: isolated)
  std::vector<std::string> phase_log;   // one line per phase event, for the job log
  std::string guest_log;                // the guest's update output (capped)
  std::vector<std::string> leftovers;   // host objects dormant could not remove (host gone)
  std::string old_sha256, new_sha256, version_path;
  std::map<std::string, double> seconds;  // per step
};

struct PatchReport {
  std::string run_id;
  bool dry_run = false;
  std::vector<ImagePatch> images;  // in the order asked
  std::size_t committed = 0, nothing_to_do = 0, failed = 0;
};

// Patches `images` (catalog records) as described above. Errors that
// concern one image fail that image only (state "failed", step, reason);
// throws only when the catalog fails.
PatchReport patch_images(catalog::Catalog& catalog, const std::vector<catalog::ImageRecord>& images,
                         const PatchOptions& options, ProgressSink& progress);

// Removes what killed runs left: reconciles every dead run (below), then
// removes work directories `.dormant-work/<run>` of dead processes in
// `library_dir`. Returns the directories removed.
std::vector<std::filesystem::path> remove_abandoned_work(catalog::Catalog& catalog,
                                                         const std::filesystem::path& library_dir);

// A patch run is live while its process (the pid after the run id's last
// '-', on this machine) exists, unless the catalog records it as finished.
// A run the catalog does not know is another catalog's: live while its
// process is.
bool patch_run_is_live(catalog::Catalog& catalog, const std::string& run_id);

// The reason reconcile_dead_runs gives an image it found half done; a job
// runs such an image again.
inline constexpr std::string_view kInterruptedReason = "interrupted: the patch process died";

// Brings the record and the world back in line after patch processes died
// (SIGKILL, power loss): for every run the catalog has running whose process
// is gone, each image still in progress is settled —
//   commit in progress (new_sha256 recorded, state not yet committed): the
//     library image is hashed; the new hash completes the commit in the
//     record, the old one rolls it back (and removes the version link made
//     for it), anything else is reported and left alone;
//   any earlier step: failed with kInterruptedReason (nothing was committed);
// the run's work directories (beside its images, and its scratch in the
// cache) are removed, its maintenance hosts are cleaned (`dormant host
// cleanup`; an unreachable host is reported, not fatal), and the run is
// marked abandoned. Idempotent; safe to run from several processes at once.
// Returns one line per action taken.
std::vector<std::string> reconcile_dead_runs(catalog::Catalog& catalog);

nlohmann::json to_json(const ImagePatch& image);
nlohmann::json to_json(const PatchReport& report);

}  // namespace dormant::patch
