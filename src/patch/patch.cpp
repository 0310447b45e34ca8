// The offline patch run: plan -> download -> stage -> verify -> [finalize]
// -> commit, per image, each step recorded in the catalog before the next.
#include "dormant/patch/patch.hpp"

#include <fmt/format.h>
#include <signal.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <charconv>
#include <cstdlib>
#include <map>
#include <nlohmann/json.hpp>
#include <set>

#include "dormant/assess/assess.hpp"
#include "dormant/assess/download.hpp"
#include "dormant/assess/worker.hpp"
#include "dormant/core/error.hpp"
#include "dormant/core/sha256.hpp"
#include "dormant/core/subprocess.hpp"
#include "dormant/image/overlay.hpp"
#include "dormant/image/probe.hpp"
#include "dormant/patch/finalize.hpp"
#include "dormant/patch/versions.hpp"
#include "finalize_check.hpp"
#include "run_context.hpp"
#include "stage.hpp"

namespace dormant::patch {

// The overlay grows by the staged bytes, and commit writes a whole new image
// next to the old one: both must fit on the library's filesystem.
void check_host_space(const std::filesystem::path& dir, std::uint64_t staged, std::uint64_t image_allocated) {
  constexpr std::uint64_t kMiB = 1024 * 1024;
  struct statvfs st {};
  if (::statvfs(dir.c_str(), &st) != 0)
    fail(ErrorKind::io, dir.string(), "statvfs: {}", std::strerror(errno));
  const std::uint64_t free = static_cast<std::uint64_t>(st.f_bavail) * st.f_frsize;
  const std::uint64_t need = staged + image_allocated + 64 * kMiB;
  if (free < need)
    fail(ErrorKind::limit, dir.string(),
         "not enough free space beside the library image: patching needs {:.1f} MiB (the staged packages "
         "plus a full copy of the image for the atomic replace) and {:.1f} MiB is free; nothing was written",
         static_cast<double>(need) / kMiB, static_cast<double>(free) / kMiB);
}


void record(catalog::Catalog& catalog, const std::string& run_id, const ImagePatch& p) {
  catalog::PatchImageRecord r;
  r.run_id = run_id;
  r.image_id = p.image.id;
  r.state = p.state;
  r.reason = p.reason;
  r.planned = static_cast<std::int64_t>(p.installs.size() + p.removals.size());
  std::int64_t debs = 0;
  for (const auto& f : p.staged)
    if (f.guest_path.ends_with(".deb")) ++debs;
  r.staged = debs;
  if (p.applied) r.applied = static_cast<std::int64_t>(*p.applied);
  r.verified = p.verified;
  r.old_sha256 = p.old_sha256;
  r.new_sha256 = p.new_sha256;
  r.version_path = p.version_path;
  r.detail_json = to_json(p).dump();
  catalog.put_patch_image(r);
}

namespace {

namespace fs = std::filesystem;

std::string make_run_id() {
  std::string now = catalog::utc_now();  // 2026-11-29T10:15:00Z
  std::string compact;
  for (char c : now)
    if (c != '-' && c != ':') compact += c;
  return fmt::format("{}-{}", compact, ::getpid());
}

// The plan is the assessment's resolution: what dist-upgrade (or the
// security-only / exclude variant) installs and removes.
void take_plan(ImagePatch& p, const assess::ImageAssessment& a) {
  if (!a.resolution) {
    p.state = "failed";
    p.step = "plan";
    p.reason = a.reason.empty() ? "no resolution" : a.reason;
    return;
  }
  const auto& r = *a.resolution;
  if (!r.broken.empty() || !r.resolver_error.empty()) {
    p.state = "failed";
    p.step = "plan";
    p.reason = a.reason;
    return;
  }
  for (const auto& u : r.updates) {
    if (u.action == assess::PackageChange::Action::upgrade)
      p.installs.push_back(u);
    else if (u.action != assess::PackageChange::Action::removed)
      p.not_planned.push_back(u);
  }
  for (const auto& n : r.new_packages) p.installs.push_back(n);
  p.removals = r.removed_packages;
  p.state = p.installs.empty() && p.removals.empty() ? "nothing-to-do" : "planned";
}

// Bytes the package takes unpacked: its Installed-Size (KiB), read by the
// host's dpkg-deb from the verified .deb. The field is optional; without it,
// four times the .deb's size stands in (compression ratios of packages are
// mostly below that).
std::uint64_t installed_size_of(const fs::path& deb, std::uint64_t deb_size) {
  auto r = run_process({"dpkg-deb", "-f", deb.string(), "Installed-Size"});
  std::uint64_t kib = 0;
  std::string_view text = r.out;
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.remove_suffix(1);
  if (r.exit_code == 0 && text.empty()) return 4 * deb_size;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), kib);
  if (r.exit_code != 0 || ec != std::errc() || ptr != text.data() + text.size())
    fail(ErrorKind::corrupt, deb.string(), "dpkg-deb cannot read Installed-Size: {}", r.err);
  return kib * 1024;
}

std::chrono::seconds finalize_timeout_for(const ImagePatch& p, const PatchOptions& options) {
  if (options.finalize_timeout.count() > 0) return options.finalize_timeout;
  std::size_t kernels = 0;
  for (const auto& c : p.installs)
    if (c.name.starts_with("linux-image-")) ++kernels;
  return std::chrono::seconds(120 + 20 * p.installs.size() + 1200 * kernels);
}

// Flattens the overlay into a new file of the image's format beside the
// image and renames it into place, keeping the old version.
void commit(RunContext& ctx, ImagePatch& p, const fs::path& overlay, const fs::path& work) {
  StepTimer t(p, "commit");
  p.step = "commit";
  const fs::path candidate = work / fmt::format("new.{}", p.image.format);
  image::flatten_overlay(overlay, p.image.format, candidate);
  {
    StepTimer h(p, "hash_after");
    p.new_sha256 = sha256_file(candidate).sha256;
  }
  // The commit begins: with new_sha256 recorded, a process killed from here
  // on is settled by the image's hash (reconcile_dead_runs).
  record(ctx.catalog, ctx.run_id, p);
  kill_point("flattened");
  p.version_path =
      replace_keeping_version(p.image.path, candidate, p.old_sha256, ctx.options.keep_versions).string();
  p.state = "committed";
  p.step.clear();
  record(ctx.catalog, ctx.run_id, p);
  kill_point("committed");
}

void patch_one(RunContext& ctx, ImagePatch& p, const assess::ImageAssessment& a) {
  const auto& options = ctx.options;
  const fs::path image_path = p.image.path;
  const fs::path library_dir = image_path.parent_path();

  // download
  std::vector<assess::DownloadedPackage> debs;
  std::vector<std::uint64_t> installed_sizes;
  {
    StepTimer t(p, "download");
    p.step = "download";
    std::vector<assess::PackageRef> refs;
    for (const auto& c : p.installs) refs.push_back({c.name, c.arch, c.candidate});
    if (!refs.empty()) {
      auto universe = *a.universe;
      universe.work_dir = ctx.scratch / fmt::format("download-{}", p.image.id);
      debs = assess::download_in_worker(options.worker_exe, universe, refs, options.cache_dir / "debs",
                                        options.timeout_per_image);
    }
    for (const auto& d : debs) installed_sizes.push_back(installed_size_of(d.file, d.size));
    p.state = "downloaded";
    record(ctx.catalog, ctx.run_id, p);
    kill_point("downloaded");
  }

  // stage, on an overlay in the library's own directory (same filesystem
  // for the atomic replace; dot names are never catalogued)
  const fs::path work = work_dir_for(library_dir, ctx.run_id) / fmt::format("image-{}", p.image.id);
  RemoveOnExit cleanup{work};
  fs::create_directories(work);
  if (options.mode == PatchMode::service) {
    commit(ctx, p, service_image(ctx, p, a, debs, work), work);
    return;
  }
  const fs::path overlay = work / "overlay.qcow2";
  image::ProbeOptions probe_options;
  probe_options.allowed_roots = {library_dir, work};
  StageOutput staged;
  std::uint64_t staged_bytes = 0;
  for (const auto& d : debs) staged_bytes += d.size;
  {
    StepTimer t(p, "stage");
    p.step = "stage";
    image::ProbeOptions base_probe;
    base_probe.allowed_roots = {library_dir};
    base_probe.format = image::format_from_string(p.image.format);
    const auto probe = image::probe_image(image_path, base_probe);
    check_host_space(library_dir, staged_bytes, probe.file_size);
    {
      StepTimer h(p, "hash_before");  // the whole image is read: timed apart from staging
      p.old_sha256 = sha256_file(image_path).sha256;
    }
    image::create_overlay(probe, overlay);
    StageInput input{ctx.run_id, overlay, probe_options, debs, installed_sizes, &p, options.replay_journal};
    staged = stage_update(input);
    p.staged = staged.files;
    p.state = "staged";
    record(ctx.catalog, ctx.run_id, p);
    kill_point("staged");
  }

  {
    StepTimer t(p, "verify");
    p.step = "verify";
    p.fsck = verify_staged(overlay, probe_options, staged);
    p.verified = true;
    p.state = "verified";
    record(ctx.catalog, ctx.run_id, p);
    kill_point("verified");
  }

  if (options.finalize) {
    StepTimer t(p, "finalize");
    p.step = "finalize";
    FinalizeOptions f;
    f.libvirt_uri = options.libvirt_uri;
    f.domain_name = fmt::format("dormant-finalize-{}-{}", ctx.run_id, p.image.id);
    f.work_dir = work / "finalize";
    fs::create_directories(f.work_dir);
    f.timeout = finalize_timeout_for(p, options);
    auto boot = finalize_boot(overlay, f);
    if (boot.state == FinalizeResult::State::timeout)
      fail(ErrorKind::limit, p.image.path,
           "the finalize boot did not finish within {} s; the domain was destroyed and the overlay "
           "discarded (the library image is unchanged). Last console lines:\n{}",
           f.timeout.count(), boot.console_tail);
    auto check = check_finalized(overlay, probe_options, ctx.run_id, p, *a.universe, options, ctx.scratch);
    p.applied_status = check.status;
    p.applied = check.applied;
    p.compliance_after = check.compliance;
    if (!check.problem.empty())
      fail(ErrorKind::corrupt, p.image.path, "{}. Last console lines:\n{}", check.problem, boot.console_tail);
    p.state = "finalized";
    record(ctx.catalog, ctx.run_id, p);
    kill_point("finalized");
  }

  commit(ctx, p, overlay, work);
}

void fail_image(catalog::Catalog& catalog, const std::string& run_id, ImagePatch& p, std::string reason) {
  p.state = "failed";
  // --mode service: what could not be removed from a host that went away.
  if (!p.leftovers.empty() && reason.find("dormant host cleanup") == std::string::npos)
    reason += fmt::format("; left on host {}: {}; `dormant host cleanup {}` removes them once it is back",
                          p.host, fmt::join(p.leftovers, ", "), p.host);
  p.reason = std::move(reason);
  record(catalog, run_id, p);
}

}  // namespace

PatchReport patch_images(catalog::Catalog& catalog, const std::vector<catalog::ImageRecord>& images,
                         const PatchOptions& options, ProgressSink& progress) {
  PatchReport report;
  report.run_id = make_run_id();
  report.dry_run = options.dry_run;

  std::set<fs::path> dirs;
  for (const auto& image : images) dirs.insert(fs::path(image.path).parent_path());
  for (const auto& dir : dirs) remove_abandoned_work(catalog, dir);

  // plan: a fresh assessment, resolved for the options given
  assess::AssessOptions assess_options;
  assess_options.cache_dir = options.cache_dir;
  assess_options.worker_exe = options.worker_exe;
  assess_options.refresh = options.refresh;
  assess_options.timeout_per_image = options.timeout_per_image;
  assess_options.resolve.security_only = options.security_only;
  assess_options.resolve.exclude = options.exclude;
  auto assessment = assess::assess_images(catalog, images, assess_options, progress);

  nlohmann::json run_options = {{"security_only", options.security_only},
                                {"exclude", options.exclude},
                                {"dry_run", options.dry_run},
                                {"finalize", options.finalize},
                                {"replay_journal", options.replay_journal},
                                {"keep_versions", options.keep_versions},
                                {"cache_dir", options.cache_dir.string()}};
  if (options.mode == PatchMode::service) {
    std::vector<std::string> hosts;
    for (const auto& h : options.hosts) hosts.push_back(h.name);
    run_options["hosts"] = hosts;
    run_options["max_rounds"] = options.max_rounds;
    run_options["timeouts"] = {{"copy", options.service_timeouts.copy.count()},
                               {"boot", options.service_timeouts.boot.count()},
                               {"update", options.service_timeouts.update.count()},
                               {"shutdown", options.service_timeouts.shutdown.count()}};
  }
  if (!options.dry_run)
    catalog.begin_patch_run({report.run_id, "", "",
                             options.mode == PatchMode::service ? "service" : "offline", run_options.dump(),
                             "running", options.job_run_id});

  fs::path scratch = options.cache_dir / "work" / fmt::format("patch-{}", report.run_id);
  RemoveOnExit scratch_cleanup{scratch};
  fs::create_directories(scratch);
  RunContext ctx{catalog, options, report.run_id, scratch};

  progress.begin(options.dry_run ? "plan" : "patch", images.size());
  for (std::size_t i = 0; i < assessment.images.size(); ++i) {
    const auto& a = assessment.images[i];
    ImagePatch p;
    p.image = a.image;
    {
      StepTimer t(p, "plan");
      take_plan(p, a);
    }
    if (options.dry_run) {
      if (p.state == "planned") p.state = "dry-run";
    } else {
      record(catalog, report.run_id, p);
      kill_point("planned");
      if (p.state == "planned") {
        try {
          patch_one(ctx, p, a);
        } catch (const Error& e) {
          fail_image(catalog, report.run_id, p, e.what());
        } catch (const std::exception& e) {  // std::filesystem errors of the work directory
          fail_image(catalog, report.run_id, p, e.what());
        }
      }
    }
    if (p.state == "committed") ++report.committed;
    if (p.state == "nothing-to-do") ++report.nothing_to_do;
    if (p.state == "failed") ++report.failed;
    progress.step(i + 1, p.image.path, p.state);
    report.images.push_back(std::move(p));
  }
  progress.end();
  for (const auto& dir : dirs) {
    std::error_code ec;
    fs::remove(dir / ".dormant-work" / report.run_id, ec);  // empty by now
    fs::remove(dir / ".dormant-work", ec);                  // only when no other run uses it
  }
  // The scratch goes before the run is marked finished: a process killed
  // while removing it leaves a running record, which reconciliation cleans.
  std::error_code ec;
  fs::remove_all(scratch, ec);
  if (!options.dry_run) catalog.finish_patch_run(report.run_id, report.failed == 0 ? "done" : "failed");
  return report;
}

}  // namespace dormant::patch
