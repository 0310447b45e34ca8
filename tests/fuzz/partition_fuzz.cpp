// libFuzzer: read_partition_table over arbitrary bytes. Any outcome other than
// a table or a dormant::Error (a crash, a sanitizer report, a hang) is a bug.
#include <cstddef>
#include <cstdint>
#include <vector>

#include "dormant/core/error.hpp"
#include "dormant/image/block_device.hpp"
#include "dormant/image/partition.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const auto* first = reinterpret_cast<const std::byte*>(data);
  dormant::image::MemoryDevice disk(std::vector<std::byte>(first, first + size), "fuzz.raw");
  try {
    auto table = dormant::image::read_partition_table(disk);
    for (const auto& p : table.partitions) {
      // Invariant: every partition the parser returns lies on the device.
      if (p.offset > disk.size() || p.size > disk.size() - p.offset) __builtin_trap();
    }
  } catch (const dormant::Error&) {
  }
  return 0;
}
