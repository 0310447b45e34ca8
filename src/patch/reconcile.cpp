// Reconciliation after patch processes died: the record says how far each
// image got, the world (image hashes, work directories, host objects) is
// made to agree with it. See reconcile_dead_runs in patch.hpp.
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <charconv>
#include <nlohmann/json.hpp>
#include <set>

#include "dormant/core/error.hpp"
#include "dormant/core/process.hpp"
#include "dormant/core/sha256.hpp"
#include "dormant/patch/hosts.hpp"
#include "dormant/patch/patch.hpp"
#include "dormant/patch/versions.hpp"

namespace dormant::patch {
namespace {

namespace fs = std::filesystem;

pid_t pid_of_run(std::string_view run_id) {
  const auto dash = run_id.rfind('-');
  if (dash == std::string_view::npos) return 0;
  pid_t pid = 0;
  auto [ptr, ec] = std::from_chars(run_id.data() + dash + 1, run_id.data() + run_id.size(), pid);
  if (ec != std::errc() || ptr != run_id.data() + run_id.size()) return 0;
  return pid;
}

bool in_progress(const std::string& state) {
  return state == "planned" || state == "downloaded" || state == "staged" || state == "verified" ||
         state == "finalized";
}

std::string hash_or_empty(const fs::path& path) {
  try {
    return sha256_file(path).sha256;
  } catch (const Error&) {
    return {};
  }
}

// A crash between the version link and the rename leaves the current image
// linked into its version store as well: that link is not a version.
void remove_link_to_current(const fs::path& image, std::vector<std::string>& actions) {
  struct stat current {};
  if (::stat(image.c_str(), &current) != 0) return;
  for (const auto& v : list_versions(image)) {
    struct stat kept {};
    if (::stat(v.path.c_str(), &kept) == 0 && kept.st_ino == current.st_ino &&
        kept.st_dev == current.st_dev) {
      std::error_code ec;
      fs::remove(v.path, ec);
      if (!ec) actions.push_back(fmt::format("removed {} (a link to the unchanged image)", v.path.string()));
    }
  }
}

// Settles one image row of a dead run; returns the action taken.
void settle(catalog::Catalog& catalog, catalog::PatchImageRecord row, std::vector<std::string>& actions) {
  const fs::path image = row.image_path;
  if (!row.new_sha256.empty()) {  // the commit had begun
    const std::string now = hash_or_empty(image);
    if (now == row.new_sha256) {
      row.state = "committed";
      const auto versions = list_versions(image);
      if (!versions.empty() && row.old_sha256.starts_with(versions.front().sha256_prefix))
        row.version_path = versions.front().path.string();
      row.reason = "the process died after the atomic replace; the commit was completed from the record";
      actions.push_back(fmt::format("{}: commit completed (the new image is in place)", image.string()));
    } else if (now == row.old_sha256) {
      remove_link_to_current(image, actions);
      row.state = "failed";
      row.new_sha256.clear();
      row.reason = std::string(kInterruptedReason) +
                   " during commit, before the replace; rolled back, the "
                   "image is unchanged";
      actions.push_back(fmt::format("{}: commit rolled back (the image is unchanged)", image.string()));
    } else {
      row.state = "failed";
      row.reason = fmt::format(
          "{} during commit, and the image now matches neither its hash before ({}) nor after ({}); it was "
          "left as it is: check it and `dormant rollback --list` it",
          kInterruptedReason, row.old_sha256, row.new_sha256);
      actions.push_back(fmt::format("{}: matches neither recorded hash; left alone", image.string()));
    }
  } else {
    // Service mode records its phases in the detail (the state stays
    // "downloaded" until the image is back and verified).
    auto detail = nlohmann::json::parse(row.detail_json, nullptr, false);
    const std::string step = detail.is_object() && detail.contains("step") && detail["step"].is_string()
                                 ? detail["step"].get<std::string>()
                                 : std::string();
    const std::string where = step.empty()
                                  ? fmt::format("(its last record: state '{}')", row.state)
                                  : fmt::format("(its last record: state '{}', step '{}')", row.state, step);
    row.state = "failed";
    row.reason =
        fmt::format("{} {}; nothing was committed, the image is unchanged", kInterruptedReason, where);
    actions.push_back(fmt::format("{}: interrupted {}; nothing committed", image.string(), where));
  }
  row.updated_at.clear();
  catalog.put_patch_image(row);
}

void clean_hosts(catalog::Catalog& catalog, const catalog::PatchRun& run, std::vector<std::string>& actions) {
  nlohmann::json options = nlohmann::json::parse(run.options_json, nullptr, false);
  if (!options.is_object() || !options.contains("hosts") || !options["hosts"].is_array()) return;
  for (const auto& name : options["hosts"]) {
    if (!name.is_string()) continue;
    auto host = catalog.find_host(name.get<std::string>());
    if (!host) continue;
    try {
      // Only what this dead run left: objects of other runs may belong to
      // live runs of another catalog sharing the host (found by the slow
      // tests, where one test's reconciliation destroyed another's VM).
      for (const auto& removed : cleanup_host(*host, [&](const std::string& id) { return id != run.id; }))
        actions.push_back(fmt::format("host {}: removed {}", host->name, removed));
    } catch (const Error& e) {
      actions.push_back(fmt::format("host {}: not cleaned ({}); `dormant host cleanup {}` once it is back",
                                    host->name, e.what(), host->name));
    }
  }
}

}  // namespace

bool patch_run_is_live(catalog::Catalog& catalog, const std::string& run_id) {
  auto run = catalog.find_patch_run(run_id);
  if (run && run->state != "running") return false;  // finished here: what it left is a leftover
  // Running here, or unknown to this catalog: live while its process is. An
  // unknown run whose process lives is another catalog's job on this machine
  // using the same daemon, and its VM is not ours to destroy (the slow tests
  // saw `host cleanup` of one catalog remove another's running VMs).
  return process_alive(pid_of_run(run_id));
}

std::vector<fs::path> remove_abandoned_work(catalog::Catalog& catalog, const fs::path& library_dir) {
  reconcile_dead_runs(catalog);
  // Work directories of processes that died before their run was recorded.
  std::vector<fs::path> removed;
  std::error_code ec;
  for (fs::directory_iterator it(library_dir / ".dormant-work", ec), end; !ec && it != end;
       it.increment(ec)) {
    const pid_t pid = pid_of_run(it->path().filename().string());
    if (pid <= 0 || process_alive(pid)) continue;
    std::error_code ignored;
    fs::remove_all(it->path(), ignored);
    removed.push_back(it->path());
  }
  return removed;
}

std::vector<std::string> reconcile_dead_runs(catalog::Catalog& catalog) {
  std::vector<std::string> actions;
  for (const auto& run : catalog.patch_runs(1000)) {
    if (run.state != "running" || patch_run_is_live(catalog, run.id)) continue;
    std::set<fs::path> dirs;
    for (const auto& row : catalog.patch_images(run.id)) {
      dirs.insert(fs::path(row.image_path).parent_path());
      if (in_progress(row.state)) settle(catalog, row, actions);
    }
    if (run.mode == "service") clean_hosts(catalog, run, actions);
    std::error_code ec;
    for (const auto& dir : dirs) {
      const fs::path work = dir / ".dormant-work" / run.id;
      if (fs::exists(work, ec) && fs::remove_all(work, ec) > 0)
        actions.push_back(fmt::format("removed {}", work.string()));
      fs::remove(dir / ".dormant-work", ec);  // only when empty
    }
    nlohmann::json options = nlohmann::json::parse(run.options_json, nullptr, false);
    if (options.is_object() && options.contains("cache_dir") && options["cache_dir"].is_string()) {
      const fs::path scratch =
          fs::path(options["cache_dir"].get<std::string>()) / "work" / ("patch-" + run.id);
      if (fs::exists(scratch, ec) && fs::remove_all(scratch, ec) > 0)
        actions.push_back(fmt::format("removed {}", scratch.string()));
    }
    catalog.finish_patch_run(run.id, "abandoned");
    actions.push_back(fmt::format("patch run {} marked abandoned", run.id));
  }
  return actions;
}

}  // namespace dormant::patch
