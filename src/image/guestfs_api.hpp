// libguestfs, loaded on first use (see dormant/core/shared_library.hpp for
// why). Call sites use guestfs_api().guestfs_launch(...) etc.; the header
// still comes from libguestfs-dev, so every signature is the library's own.
#pragma once

#include <guestfs.h>

#define DORMANT_GUESTFS_FUNCTIONS(X)                                                                         \
  X(guestfs_add_drive_opts)                                                                                  \
  X(guestfs_canonical_device_name) X(guestfs_close) X(guestfs_create_flags) X(guestfs_cryptsetup_open)       \
      X(guestfs_free_statns) X(guestfs_inspect_get_mountpoints) X(guestfs_inspect_get_type)                  \
          X(guestfs_inspect_os) X(guestfs_last_errno) X(guestfs_last_error) X(guestfs_launch)                \
              X(guestfs_list_devices) X(guestfs_list_filesystems) X(guestfs_list_partitions) X(guestfs_ls)   \
                  X(guestfs_lstatns) X(guestfs_lvm_scan) X(guestfs_lvs) X(guestfs_mount_ro) X(guestfs_pread) \
                      X(guestfs_set_backend) X(guestfs_set_backend_settings) X(guestfs_set_cachedir)         \
                          X(guestfs_set_error_handler) X(guestfs_set_network) X(guestfs_set_tmpdir)          \
                              X(guestfs_shutdown) X(guestfs_statns) X(guestfs_umount_all)                    \
                                  X(guestfs_vfs_type) X(guestfs_vfs_uuid)

namespace dormant::image {

struct GuestfsApi {
#define DORMANT_DECLARE_FUNCTION(name) decltype(&::name) name = nullptr;
  DORMANT_GUESTFS_FUNCTIONS(DORMANT_DECLARE_FUNCTION)
#undef DORMANT_DECLARE_FUNCTION
};

// Loads libguestfs.so.0 once (thread-safe). Error(unsupported) naming the
// package when it is not installed.
const GuestfsApi& guestfs_api();

}  // namespace dormant::image
