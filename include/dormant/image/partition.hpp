// Partition tables: none (filesystem on the whole disk), MBR with extended and
// logical partitions, GPT; 512- and 4096-byte logical sectors.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "dormant/image/block_device.hpp"

namespace dormant::image {

enum class TableType { none, mbr, gpt };

std::string_view to_string(TableType type);

struct Partition {
  int number = 0;            // 1-based as Linux names them (logical MBR ones from 5)
  std::uint64_t offset = 0;  // bytes
  std::uint64_t size = 0;    // bytes
  std::string type;          // MBR: "0x83"; GPT: lowercase type GUID
  std::string uuid;          // GPT partition GUID (lowercase), empty for MBR
  std::string name;          // GPT partition name (UTF-8), empty for MBR
};

struct PartitionTable {
  TableType type = TableType::none;
  std::uint32_t sector_size = 512;
  std::vector<Partition> partitions;
};

// Reads the partition table. Never reads outside the device; entries that
// point beyond it, overlap loops in extended chains, or absurd counts are
// rejected with Error(corrupt) naming the device and the entry.
PartitionTable read_partition_table(BlockDevice& disk);

}  // namespace dormant::image
