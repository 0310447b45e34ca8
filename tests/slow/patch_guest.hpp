// Shared by the end-to-end patch tests (finalize, maintenance host): a
// library holding a copy of the bootable bookworm fixture guest
// (ext4-whole-full.raw: systemd, qemu-guest-agent, a kernel), a signed
// update repository newer than it (tests/fixtures/make-update-repo.sh) on a
// loopback HTTP server, and a catalog with both sources. Needs the libvirt
// daemons (scripts/start-libvirt.sh, started here).
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "dormant/core/subprocess.hpp"
#include "support/loopback_http.hpp"
#include "support/test_support.hpp"

namespace dormant::testing {

// The fixture image directory (tests/fixtures/make-images.sh, cached).
std::filesystem::path fixtures_dir();

ProcessResult dormant_cli(const std::filesystem::path& catalog, std::vector<std::string> args,
                          std::chrono::seconds timeout = std::chrono::seconds(1800));

// The version dpkg records for `name` in the raw image's own database
// (debugfs reads the file out of the image, dpkg-query parses it); "" when
// not installed.
std::string dpkg_version(const std::filesystem::path& raw_image, const std::string& name,
                         const std::filesystem::path& scratch);

// Names listed by `virsh list --all --name` / `virsh vol-list POOL` that contain `needle`.
std::vector<std::string> libvirt_domains_with(const std::string& needle);
std::vector<std::string> pool_volumes_with(const std::string& pool, const std::string& needle);

class PatchGuestTest : public ::testing::Test {
 protected:
  void SetUp() override;
  // Extra environment for make-update-repo.sh ("NAME=value").
  virtual std::vector<std::string> repo_env() const { return {}; }

  std::filesystem::path catalog() const { return dir_.path() / "catalog.db"; }
  std::filesystem::path cache() const { return dir_.path() / "cache"; }

  TempDir dir_;
  std::filesystem::path library_, image_, repo_;
  std::unique_ptr<LoopbackHttpServer> server_;
};

}  // namespace dormant::testing
