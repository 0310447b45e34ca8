// The JSON form of an Inspection (docs/inspect.schema.json), written by
// `dormant inspect --json` and stored by the catalog, and read back.
#include <nlohmann/json.hpp>

#include "dormant/core/error.hpp"
#include "dormant/inspect/inspection.hpp"

namespace dormant::inspect {

nlohmann::json to_json(const Inspection& r) {
  using nlohmann::json;
  json packages = json::array();
  for (const auto& p : r.packages) {
    packages.push_back({{"name", p.name},
                        {"version", p.version},
                        {"arch", p.arch},
                        {"source", p.source},
                        {"source_version", p.source_version},
                        {"status", p.status},
                        {"want", p.want}});
  }
  json filesystems = json::array();
  for (const auto& m : r.filesystems)
    filesystems.push_back(
        {{"mountpoint", m.mountpoint}, {"device", m.device}, {"fstype", m.fstype}, {"uuid", m.uuid}});
  return {
      {"format", r.format},
      {"access", r.access},
      {"virtual_size", r.virtual_size},
      {"os",
       {{"id", r.os.id},
        {"version_id", r.os.version_id},
        {"pretty_name", r.os.pretty_name},
        {"version_codename", r.os.version_codename},
        {"debian_version", r.os.debian_version}}},
      {"arch", r.arch},
      {"hostname", r.hostname},
      {"kernels", r.kernels},
      {"packages", std::move(packages)},
      {"filesystems", std::move(filesystems)},
      {"warnings", r.warnings},
  };
}

namespace {

// Absent keys keep the default; present ones must have the right type
// (nlohmann's get<> throws type_error otherwise).
template <typename T>
void read(const nlohmann::json& obj, const char* key, T& out) {
  auto it = obj.find(key);
  if (it != obj.end() && !it->is_null()) out = it->get<T>();
}

const nlohmann::json& array_at(const nlohmann::json& obj, const char* key) {
  static const nlohmann::json empty = nlohmann::json::array();
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return empty;
  if (!it->is_array()) fail(ErrorKind::corrupt, "inspection", "'{}' is not an array", key);
  return *it;
}

}  // namespace

Inspection inspection_from_json(const nlohmann::json& j) {
  try {
    if (!j.is_object()) fail(ErrorKind::corrupt, "inspection", "stored inspection is not a JSON object");
    Inspection r;
    read(j, "format", r.format);
    read(j, "access", r.access);
    read(j, "virtual_size", r.virtual_size);
    if (auto os = j.find("os"); os != j.end() && !os->is_null()) {
      if (!os->is_object()) fail(ErrorKind::corrupt, "inspection", "'os' is not an object");
      read(*os, "id", r.os.id);
      read(*os, "version_id", r.os.version_id);
      read(*os, "pretty_name", r.os.pretty_name);
      read(*os, "version_codename", r.os.version_codename);
      read(*os, "debian_version", r.os.debian_version);
    }
    read(j, "arch", r.arch);
    read(j, "hostname", r.hostname);
    read(j, "kernels", r.kernels);
    for (const auto& p : array_at(j, "packages")) {
      if (!p.is_object()) fail(ErrorKind::corrupt, "inspection", "a package is not an object");
      Package pkg;
      read(p, "name", pkg.name);
      read(p, "version", pkg.version);
      read(p, "arch", pkg.arch);
      read(p, "source", pkg.source);
      read(p, "source_version", pkg.source_version);
      read(p, "status", pkg.status);
      read(p, "want", pkg.want);
      r.packages.push_back(std::move(pkg));
    }
    for (const auto& m : array_at(j, "filesystems")) {
      if (!m.is_object()) fail(ErrorKind::corrupt, "inspection", "a filesystem is not an object");
      image::MountInfo mount;
      read(m, "mountpoint", mount.mountpoint);
      read(m, "device", mount.device);
      read(m, "fstype", mount.fstype);
      read(m, "uuid", mount.uuid);
      r.filesystems.push_back(std::move(mount));
    }
    read(j, "warnings", r.warnings);
    return r;
  } catch (const nlohmann::json::exception& e) {
    fail(ErrorKind::corrupt, "inspection", "stored inspection is malformed: {}", e.what());
  }
}

}  // namespace dormant::inspect
