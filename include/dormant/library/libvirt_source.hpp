// Read-only queries of a libvirt connection: pool volumes and the disks of
// domains. Any driver works, including test:///path/to/node.xml in tests.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

namespace dormant::library {

struct PoolContents {
  std::string target_path;  // the pool's <target><path>, "" when it has none
  std::vector<std::filesystem::path> volumes;  // volume paths
};

// Error(io) when the connection fails, Error(not_found) for an unknown pool.
PoolContents list_pool(const std::string& uri, const std::string& pool);

struct DomainDisk {
  std::string domain;
  bool running = false;  // active domains are not inspected (their images are in use)
  std::filesystem::path path;
};

// Every disk (device='disk') of every domain, active or not: file and block
// sources, and pool/volume sources resolved through the pool.
std::vector<DomainDisk> list_domain_disks(const std::string& uri);

// The file/block paths of the device='disk' disks in a domain XML; pool/volume
// pairs go to `volumes`. Exposed for tests; the XML is libvirt's, still parsed
// with limits (libxml2, no network, no entity expansion).
std::vector<std::filesystem::path> disks_from_domain_xml(const std::string& xml,
                                                         std::vector<std::pair<std::string, std::string>>* volumes);

}  // namespace dormant::library
