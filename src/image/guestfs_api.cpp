#include "guestfs_api.hpp"

#include "dormant/core/shared_library.hpp"

namespace dormant::image {

const GuestfsApi& guestfs_api() {
  // Initialised once; a failed load throws and is retried on the next call.
  static const GuestfsApi api = [] {
    static const SharedLibrary library("libguestfs.so.0", "libguestfs0");
    GuestfsApi loaded;
#define DORMANT_BIND_FUNCTION(name) library.bind(loaded.name, #name);
    DORMANT_GUESTFS_FUNCTIONS(DORMANT_BIND_FUNCTION)
#undef DORMANT_BIND_FUNCTION
    return loaded;
  }();
  return api;
}

}  // namespace dormant::image
