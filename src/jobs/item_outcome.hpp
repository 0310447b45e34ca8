// Private to jobs/: what became of an item, read from the record its patch
// process left (the catalog, not its stdout: the record survives a crash).
#pragma once

#include <cstdint>
#include <string>

#include "dormant/catalog/catalog.hpp"

namespace dormant::jobs::detail {

// An item interrupted this many times is failed instead of run again.
inline constexpr std::int64_t kMaxAttempts = 3;

struct ItemOutcome {
  std::string state;   // done, failed, pending (run it again)
  std::string result;  // the patch row's state, or "" when there is none
  std::string reason;
  std::string patch_run_id;
  std::string log;  // lines for the item's log
};

// Settles `item` (state running, its process gone and its patch runs
// reconciled) from the newest patch run of its job run that has a row for
// its image: committed / nothing-to-do -> done; failed by the patch itself ->
// failed; interrupted (patch.hpp kInterruptedReason) or no row at all ->
// pending again, or failed once the item has had kMaxAttempts attempts.
ItemOutcome outcome_from_record(catalog::Catalog& catalog, const catalog::JobItem& item);

// The item's log lines for one attempt, from a patch row's detail_json:
// per-step seconds, the phase log, the guest output's tail, the reason.
std::string log_from_detail(const std::string& detail_json);

// The last `lines` lines of a file ("" when unreadable).
std::string file_tail(const std::string& path, std::size_t lines);

}  // namespace dormant::jobs::detail
