// JSON of a patch run, as `dormant patch --json` prints it and the catalog
// keeps it per image (docs/patch.schema.json).
#include <nlohmann/json.hpp>

#include "dormant/assess/worker.hpp"
#include "dormant/catalog/json.hpp"
#include "dormant/patch/hosts.hpp"
#include "dormant/patch/patch.hpp"

namespace dormant::patch {

nlohmann::json to_json(const ImagePatch& p) {
  nlohmann::json j;
  j["image"] = p.image.path;
  j["image_id"] = p.image.id;
  j["state"] = p.state;
  j["step"] = p.step.empty() ? nlohmann::json(nullptr) : nlohmann::json(p.step);
  j["reason"] = p.reason.empty() ? nlohmann::json(nullptr) : nlohmann::json(p.reason);
  j["install"] = p.installs;
  j["remove"] = p.removals;
  j["not_planned"] = p.not_planned;
  auto& staged = j["staged"] = nlohmann::json::array();
  for (const auto& f : p.staged)
    staged.push_back({{"path", f.guest_path}, {"sha256", f.sha256}, {"size", f.size}});
  j["verified"] = p.verified;
  j["fsck"] = p.fsck.empty() ? nlohmann::json(nullptr) : nlohmann::json(p.fsck);
  j["applied_status"] = p.applied_status.empty() ? nlohmann::json(nullptr) : nlohmann::json(p.applied_status);
  j["applied"] = p.applied ? nlohmann::json(*p.applied) : nlohmann::json(nullptr);
  j["compliance_after"] =
      p.compliance_after.empty() ? nlohmann::json(nullptr) : nlohmann::json(p.compliance_after);
  j["old_sha256"] = p.old_sha256.empty() ? nlohmann::json(nullptr) : nlohmann::json(p.old_sha256);
  j["new_sha256"] = p.new_sha256.empty() ? nlohmann::json(nullptr) : nlohmann::json(p.new_sha256);
  j["version_path"] = p.version_path.empty() ? nlohmann::json(nullptr) : nlohmann::json(p.version_path);
  j["seconds"] = p.seconds;
  if (!p.host.empty() || !p.phase_log.empty()) {  // --mode service
    auto& s = j["service"];
    s["host"] = p.host.empty() ? nlohmann::json(nullptr) : nlohmann::json(p.host);
    s["domain"] = p.domain.empty() ? nlohmann::json(nullptr) : nlohmann::json(p.domain);
    s["rounds"] = p.rounds;
    s["pending_after"] = p.pending_after ? nlohmann::json(*p.pending_after) : nlohmann::json(nullptr);
    s["guest_interfaces"] =
        p.guest_interfaces ? nlohmann::json(*p.guest_interfaces) : nlohmann::json(nullptr);
    s["shutdown"] = p.shutdown.empty() ? nlohmann::json(nullptr) : nlohmann::json(p.shutdown);
    s["log"] = p.phase_log;
    s["guest_output"] = p.guest_log;
    s["leftovers"] = p.leftovers;
    // The share of the servicing wall time spent waiting on the guest
    // (boot, update, shutdown) rather than copying or checking.
    double guest = 0, all = 0;
    for (const auto& [step, secs] : p.seconds) {
      if (step == "boot" || step == "update" || step == "shutdown") guest += secs;
      if (step == "prepare" || step == "copy_in" || step == "boot" || step == "update" ||
          step == "shutdown" || step == "copy_out" || step == "verify")
        all += secs;
    }
    s["guest_wait_share"] = all > 0 ? nlohmann::json(guest / all) : nlohmann::json(nullptr);
  }
  return j;
}

nlohmann::json to_json(const HostStatus& s) {
  return {{"host", catalog::to_json(s.host)},
          {"reachable", s.reachable},
          {"error", s.error},
          {"cpus", s.cpus},
          {"memory_mib", s.memory_mib},
          {"free_memory_mib", s.free_memory_mib},
          {"pool_ok", s.pool_ok},
          {"pool_available_bytes", s.pool_available_bytes},
          {"running_vms", s.running_vms},
          {"free_slots", s.free_slots}};
}

nlohmann::json to_json(const PatchReport& report) {
  nlohmann::json j;
  j["run"] = report.run_id;
  j["dry_run"] = report.dry_run;
  auto& images = j["images"] = nlohmann::json::array();
  for (const auto& p : report.images) images.push_back(to_json(p));
  j["summary"] = {{"images", report.images.size()},
                  {"committed", report.committed},
                  {"nothing_to_do", report.nothing_to_do},
                  {"failed", report.failed}};
  return j;
}

}  // namespace dormant::patch
