// The identify scan over real images: small ext4 filesystems holding the
// os-release and dpkg status of the cached debootstrap rootfs, made with
// mke2fs -d and converted with qemu-img; libvirt pools and domains through
// libvirt's test driver (a node XML file, no daemon).
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>

#include "dormant/catalog/catalog.hpp"
#include "dormant/core/error.hpp"
#include "dormant/core/subprocess.hpp"
#include "dormant/library/identify.hpp"
#include "dormant/library/libraries.hpp"
#include "dormant/library/libvirt_source.hpp"
#include "support/test_support.hpp"

namespace dormant::library {
namespace {
namespace fs = std::filesystem;

const fs::path kRootfs = testing::fixture_rootfs();
using testing::run_ok;

// What inspecting the fixture must find, from the rootfs with the reference
// tools: dpkg-query and the shell's own parsing of os-release.
struct Expected {
  std::size_t packages = 0;
  std::string os_id;
  std::string pretty_name;
};

Expected expected_from_rootfs() {
  Expected e;
  auto dpkg = run_process({"dpkg-query", "--admindir=" + (kRootfs / "var/lib/dpkg").string(), "-W", "-f",
                           "${db:Status-Status}\\n"});
  std::istringstream lines(dpkg.out);
  for (std::string line; std::getline(lines, line);)
    if (!line.empty() && line != "not-installed") ++e.packages;
  auto os = run_process({"sh", "-c", ". \"$1\" && printf '%s\\n%s' \"$ID\" \"$PRETTY_NAME\"", "sh",
                         fs::canonical(kRootfs / "usr/lib/os-release").string()});
  auto newline = os.out.find('\n');
  e.os_id = os.out.substr(0, newline);
  e.pretty_name = os.out.substr(newline + 1);
  return e;
}

// Records every progress call, to check what was (not) inspected.
struct RecordingProgress final : ProgressSink {
  std::size_t total = 0;
  std::map<std::string, std::string> outcomes;
  bool ended = false;
  void begin(std::string_view, std::size_t t) override { total = t; }
  void step(std::size_t, std::string_view item, std::string_view outcome) override {
    outcomes[std::string(item)] = outcome;
  }
  void end() override { ended = true; }
};

class IdentifyTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    ASSERT_TRUE(fs::exists(kRootfs)) << "run tests/fixtures/make-rootfs.sh first";
    shared_dir_.emplace("dormant-library");
    shared_ = shared_dir_->path();
    testing::make_rootfs_guest(shared_);
    expected_ = expected_from_rootfs();
  }
  static void TearDownTestSuite() { shared_dir_.reset(); }

  void SetUp() override {
    lib_ = dir_ / "lib";
    fs::create_directories(lib_ / "sub");
  }

  void put_guest(const fs::path& to, const std::string& format = "qcow2") {
    fs::create_directories(to.parent_path());
    if (format == "qcow2")
      fs::copy_file(shared_ / "guest.qcow2", to);
    else if (format == "raw")
      fs::copy_file(shared_ / "guest.raw", to);
    else
      run_ok({"qemu-img", "convert", "-O", format, (shared_ / "guest.raw").string(), to.string()});
  }

  static std::map<std::string, IdentifyEntry> by_name(const IdentifyReport& report) {
    std::map<std::string, IdentifyEntry> out;
    for (const auto& entry : report.entries) out[fs::path(entry.image.path).filename().string()] = entry;
    return out;
  }

  IdentifyReport scan(catalog::Catalog& catalog, RecordingProgress* progress = nullptr) {
    RecordingProgress local;
    IdentifyOptions options;
    options.jobs = 2;
    options.allow_guestfs = false;
    return identify(catalog, options, progress ? *progress : local);
  }

  static inline std::optional<testing::TempDir> shared_dir_;
  static inline fs::path shared_;
  static inline Expected expected_;
  testing::TempDir tmp_{"dormant-identify"};
  fs::path dir_ = tmp_.path();
  fs::path lib_;
};

TEST_F(IdentifyTest, ScansInspectsRecordsAndThenSkipsUnchangedImages) {
  put_guest(lib_ / "a.qcow2");
  put_guest(lib_ / "sub" / "b.raw", "raw");
  put_guest(lib_ / "sub" / "c.vmdk", "vmdk");
  put_guest(lib_ / "no-extension", "qcow2");  // found by its magic
  put_guest(lib_ / ".hidden.qcow2");          // hidden: skipped
  put_guest(lib_ / ".cache" / "d.qcow2");     // inside a hidden directory: skipped
  std::ofstream(lib_ / "notes.txt") << "not an image\n";
  {
    std::ofstream junk(lib_ / "junk.img", std::ios::binary);
    for (int i = 0; i < 100000; ++i) junk.put(static_cast<char>((i * 7919) % 251));
  }
  // A symlinked directory pointing out of the library is not followed.
  put_guest(dir_ / "outside" / "e.qcow2");
  fs::create_directory_symlink(dir_ / "outside", lib_ / "link-out");

  catalog::Catalog catalog(dir_ / "catalog.db");
  add_directory_library(catalog, lib_, "lib");

  RecordingProgress progress;
  auto first = scan(catalog, &progress);
  EXPECT_TRUE(progress.ended);
  EXPECT_EQ(progress.total, 5u);
  auto entries = by_name(first);
  ASSERT_EQ(entries.size(), 5u) << nlohmann::json(to_json(first)).dump(2);
  for (const char* name : {"a.qcow2", "b.raw", "c.vmdk", "no-extension"}) {
    ASSERT_TRUE(entries.count(name)) << name;
    const auto& image = entries[name].image;
    EXPECT_EQ(entries[name].outcome, Outcome::added) << name;
    EXPECT_EQ(entries[name].library, "lib");
    EXPECT_EQ(image.state, "ok") << name << ": " << image.reason;
    EXPECT_EQ(image.os_id, expected_.os_id) << name;
    EXPECT_EQ(image.os_pretty_name, expected_.pretty_name) << name;
    EXPECT_EQ(image.package_count, static_cast<std::int64_t>(expected_.packages)) << name;
    EXPECT_FALSE(image.inspection_json.empty());
    EXPECT_EQ(nlohmann::json::parse(image.inspection_json).at("packages").size(), expected_.packages);
  }
  EXPECT_EQ(entries["c.vmdk"].image.format, "vmdk");
  EXPECT_EQ(entries["b.raw"].image.format, "raw");
  EXPECT_EQ(entries["no-extension"].image.format, "qcow2");
  // The garbage .img is recorded with a reason, and the scan went on.
  ASSERT_TRUE(entries.count("junk.img"));
  EXPECT_TRUE(entries["junk.img"].image.state == "unsupported" || entries["junk.img"].image.state == "error");
  EXPECT_NE(entries["junk.img"].image.reason.find("junk.img"), std::string::npos)
      << entries["junk.img"].image.reason;
  EXPECT_EQ(first.added, 5u);
  EXPECT_EQ(first.errors, 1u);
  EXPECT_EQ(first.inspected, 5u);
  EXPECT_EQ(catalog.images().size(), 5u);

  // Second run: identities unchanged, nothing inspected.
  RecordingProgress progress2;
  auto second = scan(catalog, &progress2);
  EXPECT_EQ(second.unchanged, 5u);
  EXPECT_EQ(second.inspected, 0u);
  for (const auto& [item, outcome] : progress2.outcomes) EXPECT_EQ(outcome, "unchanged") << item;

  // Restoring the mtime after a rewrite does not hide it: ctime changed.
  struct stat before {};
  ASSERT_EQ(::stat((lib_ / "a.qcow2").c_str(), &before), 0);
  {
    // Same size, same bytes (the first byte written back), same mtime: only ctime tells.
    std::fstream file(lib_ / "a.qcow2", std::ios::in | std::ios::out | std::ios::binary);
    char first = 0;
    file.get(first);
    file.seekp(0);
    file.put(first);
  }
  timespec times[2] = {before.st_atim, before.st_mtim};
  ASSERT_EQ(::utimensat(AT_FDCWD, (lib_ / "a.qcow2").c_str(), times, 0), 0);
  fs::remove(lib_ / "sub" / "b.raw");
  auto third = scan(catalog);
  auto entries3 = by_name(third);
  EXPECT_EQ(entries3["a.qcow2"].outcome, Outcome::changed);
  EXPECT_EQ(entries3["a.qcow2"].image.state, "ok");
  EXPECT_EQ(third.changed, 1u);
  EXPECT_EQ(third.inspected, 1u);
  EXPECT_EQ(third.unchanged, 3u);
  EXPECT_EQ(third.missing, 1u);
  EXPECT_EQ(catalog.find_image((lib_ / "sub" / "b.raw").string())->state, "missing");
  EXPECT_EQ(catalog.find_image((lib_ / "a.qcow2").string())->id, entries["a.qcow2"].image.id)
      << "the id is kept";

  // The JSON of the report carries the summary and one item per image.
  auto json = to_json(third);
  EXPECT_EQ(json["summary"]["changed"], 1);
  EXPECT_EQ(json["images"].size(), third.entries.size());
}

TEST_F(IdentifyTest, AddDirectoryLibraryChecksTheDirectory) {
  catalog::Catalog catalog(dir_ / "catalog.db");
  try {
    add_directory_library(catalog, dir_ / "nope");
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::not_found);
    EXPECT_NE(std::string(e.what()).find("nope"), std::string::npos);
  }
  auto lib = add_directory_library(catalog, lib_ / "sub" / "..");
  EXPECT_EQ(lib.name, "lib");
  EXPECT_EQ(lib.path, fs::canonical(lib_).string());
  EXPECT_THROW(add_directory_library(catalog, lib_, "other"), Error) << "same directory twice";
}

TEST(ImageExtensions, KnownOnes) {
  for (const char* name : {"a.qcow2", "a.IMG", "a.raw", "a.vmdk", "a.vhdx", "a.vhd", "a.vpc"})
    EXPECT_TRUE(has_image_extension(name)) << name;
  for (const char* name : {"a.txt", "a", "qcow2", "a.qcow2.bak"})
    EXPECT_FALSE(has_image_extension(name)) << name;
}

TEST(DomainXml, DiskSourcesOfDiskDevicesOnly) {
  std::vector<std::pair<std::string, std::string>> volumes;
  auto paths = disks_from_domain_xml(R"(<domain type='kvm'><name>x</name><devices>
    <disk type='file' device='disk'><source file='/a.qcow2'/></disk>
    <disk type='block' device='disk'><source dev='/dev/vg/b'/></disk>
    <disk type='volume' device='disk'><source pool='p' volume='v.qcow2'/></disk>
    <disk type='file' device='cdrom'><source file='/c.iso'/></disk>
  </devices></domain>)",
                                     &volumes);
  EXPECT_EQ(paths, (std::vector<fs::path>{"/a.qcow2", "/dev/vg/b"}));
  EXPECT_EQ(volumes, (std::vector<std::pair<std::string, std::string>>{{"p", "v.qcow2"}}));
  EXPECT_THROW(disks_from_domain_xml("<domain", nullptr), Error);
}

// libvirt's test driver reads pools, volumes and domains from a node XML.
TEST_F(IdentifyTest, LibvirtPoolAndShutOffDomains) {
  fs::path pool_dir = dir_ / "pool";
  fs::path vm_dir = dir_ / "vms";
  put_guest(pool_dir / "vol1.qcow2");
  put_guest(vm_dir / "off.qcow2");
  put_guest(vm_dir / "on.qcow2");
  fs::path node = dir_ / "node.xml";
  std::ofstream(node) << fmt::format(R"(<node>
  <domain type='test' xmlns:test='http://libvirt.org/schemas/domain/test/1.0'>
    <name>vm-off</name><memory>65536</memory><os><type>hvm</type></os>
    <devices>
      <disk type='file' device='disk'><source file='{vm}/off.qcow2'/><target dev='vda'/></disk>
      <disk type='file' device='disk'><source file='{pool}/vol1.qcow2'/><target dev='vdb'/></disk>
      <disk type='file' device='cdrom'><source file='{vm}/cd.iso'/><target dev='hdc'/></disk>
    </devices>
    <test:runstate>5</test:runstate>
  </domain>
  <domain type='test'>
    <name>vm-on</name><memory>65536</memory><os><type>hvm</type></os>
    <devices><disk type='file' device='disk'><source file='{vm}/on.qcow2'/><target dev='vda'/></disk></devices>
  </domain>
  <pool type='dir'>
    <name>images</name>
    <target><path>{pool}</path></target>
    <volume type='file'><name>vol1.qcow2</name><capacity>8388608</capacity></volume>
  </pool>
</node>)",
                                     fmt::arg("vm", vm_dir.string()), fmt::arg("pool", pool_dir.string()));
  std::string uri = "test://" + node.string();

  auto contents = list_pool(uri, "images");
  EXPECT_EQ(contents.target_path, pool_dir.string());
  ASSERT_EQ(contents.volumes.size(), 1u);
  EXPECT_EQ(contents.volumes[0], pool_dir / "vol1.qcow2");
  EXPECT_THROW(list_pool(uri, "nosuch"), Error);

  catalog::Catalog catalog(dir_ / "catalog.db");
  auto lib = add_pool_library(catalog, "images", uri);
  EXPECT_EQ(lib.name, "images");
  EXPECT_EQ(catalog.connections(), std::vector<std::string>{uri});
  try {
    add_pool_library(catalog, "nosuch", uri);
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::not_found) << e.what();
  }

  auto report = scan(catalog);
  auto entries = by_name(report);
  ASSERT_TRUE(entries.count("vol1.qcow2"));
  EXPECT_EQ(entries["vol1.qcow2"].library, "images");
  EXPECT_EQ(entries["vol1.qcow2"].image.domain, "vm-off") << "a pool volume used by a domain names it";
  EXPECT_EQ(entries["vol1.qcow2"].image.state, "ok") << entries["vol1.qcow2"].image.reason;
  ASSERT_TRUE(entries.count("off.qcow2"));
  EXPECT_EQ(entries["off.qcow2"].image.domain, "vm-off");
  EXPECT_EQ(entries["off.qcow2"].image.state, "ok") << entries["off.qcow2"].image.reason;
  EXPECT_EQ(entries["off.qcow2"].image.package_count, static_cast<std::int64_t>(expected_.packages));
  EXPECT_FALSE(entries["off.qcow2"].image.library_id);
  ASSERT_TRUE(entries.count("on.qcow2"));
  EXPECT_EQ(entries["on.qcow2"].outcome, Outcome::skipped);
  EXPECT_NE(entries["on.qcow2"].image.reason.find("running"), std::string::npos);
  EXPECT_FALSE(catalog.find_image((vm_dir / "on.qcow2").string()))
      << "a running domain's disk is not inspected";
  EXPECT_FALSE(entries.count("cd.iso"));
  EXPECT_EQ(report.added, 2u);
  EXPECT_EQ(report.skipped, 1u);
}

}  // namespace
}  // namespace dormant::library
