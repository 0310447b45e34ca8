// Moving files to and from a maintenance host through libvirt's storage
// volume API (virStorageVolUpload / virStorageVolDownload over a stream), so
// that a remote host (qemu+ssh://, qemu+tls://) works exactly like the
// local one. Private to patch/ --mode service.
#pragma once

#include <libvirt/libvirt.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <string>

namespace dormant::patch::detail {

using Deadline = std::chrono::steady_clock::time_point;

// Creates volume `name` in `pool` (format "qcow2" or "raw", capacity in
// bytes) and uploads `file` into it. Returns the volume's path on the host.
// Error(conflict) when the name exists, Error(io) on libvirt errors,
// Error(limit) when the deadline passes (the volume is deleted again).
std::string upload_volume(virConnectPtr conn, virStoragePoolPtr pool, const std::string& name,
                          const std::string& format, std::uint64_t capacity,
                          const std::filesystem::path& file, Deadline deadline);

// Downloads volume `name` of `pool` into `file` (created 0600, fsynced).
// Error(io) / Error(limit) as above; a partial file is removed.
void download_volume(virConnectPtr conn, virStoragePoolPtr pool, const std::string& name,
                     const std::filesystem::path& file, Deadline deadline);

// Deletes the volume when it exists; false when libvirt refused (the host is gone).
bool delete_volume(virStoragePoolPtr pool, const std::string& name);

}  // namespace dormant::patch::detail
