// Private to patch/: what a finalize boot left in the overlay.
#pragma once

#include <cstddef>
#include <filesystem>
#include <string>

#include "dormant/assess/resolver.hpp"
#include "dormant/image/guest_writer.hpp"
#include "dormant/image/probe.hpp"
#include "dormant/patch/patch.hpp"

namespace dormant::patch {

struct FinalizeCheck {
  std::string status;       // the guest's result file: success, failed-apt, ...
  std::size_t applied = 0;  // planned installs at their planned version in the dpkg database
  std::string compliance;   // assessment of the finalized package database
  std::string problem;      // why the finalize did not do its job ("" when it did)
};

// Reads the finalized overlay (read-only): the ext journal must be clean
// (the guest shut down properly), the run's `result` must say success, the
// dpkg database must hold every planned version, and the assessment of that
// database (same universe as the plan) must have no security update left.
FinalizeCheck check_finalized(const std::filesystem::path& overlay, const image::ProbeOptions& probe,
                              const std::string& run_id, const ImagePatch& plan,
                              const assess::UniverseOptions& universe, const PatchOptions& options,
                              const std::filesystem::path& scratch);

// The last `count` lines of `text` (all of it when it has fewer).
std::string tail_lines(const std::string& text, std::size_t count);

// The parts of check_finalized that do not depend on how the update ran
// (also used by --mode service): every filesystem's journal is clean, and
// the dpkg database holds every planned version and assesses without a
// security update left. journals_clean returns false with check.problem set.
bool journals_clean(image::GuestWriter& guest, std::string_view after, FinalizeCheck& check);
void check_installed(image::GuestWriter& guest, const ImagePatch& plan,
                     const assess::UniverseOptions& universe, const PatchOptions& options,
                     const std::filesystem::path& scratch, FinalizeCheck& check);

}  // namespace dormant::patch
