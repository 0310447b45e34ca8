// One resolution on whatever apt is configured with right now (lists
// directory and dpkg status): the steps apt-get's UpgradeHelper takes for
// dist-upgrade, or those of `apt-get install PKG...` for --security-only;
// --exclude holds packages first, as `apt-mark hold` would.
// Private to assess/.
#pragma once

#include "dormant/assess/resolver.hpp"
#include "security.hpp"

namespace dormant::assess::detail {

// Builds the caches in memory, applies the status and resolves. Throws
// Error(corrupt) naming "dpkg status" when apt cannot read the caches (apt's
// messages: in the per-image lists dormant writes itself, only the status is
// foreign).
Resolution resolve_configured(const SourceIndex& sources, const ResolveOptions& options = {});

}  // namespace dormant::assess::detail
