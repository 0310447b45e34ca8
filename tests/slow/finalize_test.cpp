// `--finalize` (patch::finalize_boot) on the local libvirt daemon, booting
// the real debootstrap guest (ext4-whole-full.raw from make-images.sh: the
// only fixture with a real kernel and initrd) under qemu TCG.
//
// The library image is the fixture image itself, used read-only as the
// backing file of a qcow2 overlay in a temp dir: every test checks that its
// bytes (sha256), owner, mode and ctime are what they were before the suite.
// The offline update staged here is a stand-in written with debugfs on a
// qemu-storage-daemon FUSE export of the overlay (the real staging code is
// tested elsewhere): /system-update, a oneshot unit in
// system-update.target.wants that removes it, writes a result file and
// reboots; on_reboot=destroy then ends the domain.
//
// libvirtd is started with scripts/start-libvirt.sh. Boots run one at a time.
#include "dormant/patch/finalize.hpp"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <iostream>
#include <string>
#include <thread>
#include <vector>

#include "dormant/core/error.hpp"
#include "dormant/core/subprocess.hpp"
#include "dormant/image/guest_view.hpp"
#include "support/test_support.hpp"

namespace fs = std::filesystem;
using dormant::Error;
using dormant::ErrorKind;
using dormant::ProcessOptions;
using dormant::run_process;
using dormant::patch::finalize_boot;
using dormant::patch::FinalizeOptions;
using dormant::patch::FinalizeResult;
using dormant::testing::run_ok;
using dormant::testing::source_dir;
using dormant::testing::TempDir;
using dormant::testing::write_file;

namespace {

struct LibraryImage {
  fs::path path;
  std::string sha256;
  std::string stat;  // "uid gid mode ctime"
};

std::string stat_line(const fs::path& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return "missing";
  return std::to_string(st.st_uid) + " " + std::to_string(st.st_gid) + " " +
         std::to_string(st.st_mode & 07777) + " " + std::to_string(st.st_ctim.tv_sec) + "." +
         std::to_string(st.st_ctim.tv_nsec);
}

std::string sha256(const fs::path& path) {
  ProcessOptions opts;
  opts.timeout = std::chrono::minutes(10);
  auto r = run_process({"sha256sum", path.string()}, opts);
  return r.exit_code == 0 ? r.out.substr(0, 64) : "sha256sum failed: " + r.err;
}

// The bootable fixture image (built or reused), hashed once per process.
const LibraryImage& library_image() {
  static const LibraryImage image = [] {
    std::vector<std::string> argv{(source_dir() / "tests/fixtures/make-images.sh").string()};
    if (const char* dir = std::getenv("DORMANT_FIXTURES")) argv.emplace_back(dir);
    ProcessOptions opts;
    opts.timeout = std::chrono::minutes(40);
    auto r = run_process(argv, opts);
    if (r.exit_code != 0) throw std::runtime_error("make-images.sh failed: " + r.err);
    std::string out = r.out;
    while (!out.empty() && out.back() == '\n') out.pop_back();
    fs::path dir = out.substr(out.rfind('\n') == std::string::npos ? 0 : out.rfind('\n') + 1);
    LibraryImage result;
    result.path = dir / "ext4-whole-full.raw";
    result.stat = stat_line(result.path);
    result.sha256 = sha256(result.path);
    return result;
  }();
  return image;
}

void expect_library_unchanged() {
  const LibraryImage& image = library_image();
  EXPECT_EQ(stat_line(image.path), image.stat) << "owner, mode or ctime of the library image changed";
  EXPECT_EQ(sha256(image.path), image.sha256) << "the library image's content changed";
}

void start_libvirt() {
  ProcessOptions opts;
  opts.timeout = std::chrono::seconds(90);
  run_ok({(source_dir() / "scripts/start-libvirt.sh").string()}, opts);
}

std::vector<std::string> dormant_domains() {
  auto r = run_process({"virsh", "-c", "qemu:///system", "list", "--all", "--name"});
  std::vector<std::string> names;
  std::size_t pos = 0;
  while (pos < r.out.size()) {
    std::size_t nl = r.out.find('\n', pos);
    if (nl == std::string::npos) nl = r.out.size();
    std::string line = r.out.substr(pos, nl - pos);
    if (line.starts_with("dormant-finalize-")) names.push_back(line);
    pos = nl + 1;
  }
  return names;
}

// Whether libvirt lists the domain (other runs may have their own
// dormant-finalize-* domains on the same daemon).
bool has_domain(const std::string& name) {
  for (const auto& listed : dormant_domains())
    if (listed == name) return true;
  return false;
}

// A qcow2 overlay of the library image (backing format pinned).
fs::path make_overlay(const fs::path& dir) {
  fs::path overlay = dir / "overlay.qcow2";
  run_ok({"qemu-img", "create", "-q", "-f", "qcow2", "-b", library_image().path.string(), "-F", "raw",
          overlay.string()});
  return overlay;
}

// Runs debugfs -w with `commands` on the overlay's disk, exported writable as
// a regular file by qemu-storage-daemon (FUSE); the backing image is opened
// read-only by qemu.
void debugfs_on_overlay(const fs::path& overlay, const fs::path& dir, const std::string& commands) {
  fs::path mountpoint = dir / "disk.raw";
  write_file(mountpoint, "");
  write_file(dir / "cmds", commands);
  pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    std::string file = "driver=file,node-name=f,filename=" + overlay.string();
    std::string export_ = "type=fuse,id=e,node-name=q,writable=on,mountpoint=" + mountpoint.string();
    ::execlp("qemu-storage-daemon", "qemu-storage-daemon", "--blockdev", file.c_str(), "--blockdev",
             "driver=qcow2,node-name=q,file=f", "--export", export_.c_str(), static_cast<char*>(nullptr));
    ::_exit(127);
  }
  // The export is up when the mountpoint shows the disk's size.
  for (int i = 0; i < 300 && fs::file_size(mountpoint) == 0; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  ASSERT_GT(fs::file_size(mountpoint), 0u) << "qemu-storage-daemon did not export the overlay";
  auto r = run_process({"debugfs", "-w", "-f", (dir / "cmds").string(), mountpoint.string()});
  ::kill(pid, SIGTERM);
  int status = 0;
  ::waitpid(pid, &status, 0);
  // debugfs exits 0 even when a command fails: callers check the result
  // through the guest view.
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::cout << "[ debugfs  ] " << r.out << r.err;
}

// The stand-in offline update (systemd.offline-updates(7) as the memo's unit).
void stage_test_update(const fs::path& overlay, const fs::path& dir) {
  write_file(dir / "unit",
             "[Unit]\n"
             "Description=dormant finalize test update\n"
             "DefaultDependencies=no\n"
             "Requires=sysinit.target\n"
             "After=sysinit.target system-update-pre.target\n"
             "Before=shutdown.target system-update.target\n"
             "[Service]\n"
             "Type=oneshot\n"
             "ExecStart=/usr/local/sbin/dormant-test-update\n"
             "StandardOutput=journal+console\n"
             "FailureAction=reboot\n");
  write_file(dir / "script",
             "#!/bin/sh\n"
             "rm -f /system-update\n"
             "sync\n"
             "mkdir -p /var/lib/dormant-test\n"
             "echo \"applied boot_id=$(cat /proc/sys/kernel/random/boot_id)\" >/var/lib/dormant-test/result\n"
             "sync\n"
             "echo dormant-test-update: done\n"
             "systemctl reboot --no-block\n");
  fs::permissions(dir / "script", fs::perms(0755));
  fs::permissions(dir / "unit", fs::perms(0644));
  const std::string wants = "/etc/systemd/system/system-update.target.wants";
  debugfs_on_overlay(overlay, dir,
                     "cd /usr/local/sbin\nwrite " + (dir / "script").string() +
                         " dormant-test-update\n"
                         "cd /etc/systemd/system\nwrite " +
                         (dir / "unit").string() +
                         " dormant-test.service\n"
                         "mkdir " +
                         wants +
                         "\n"
                         "symlink " +
                         wants +
                         "/dormant-test.service ../dormant-test.service\n"
                         "mkdir /var/lib/dormant-test\n"
                         "cd /\n"  // debugfs resolves "/name" against its cwd
                         "symlink /system-update /var/lib/dormant-test\n");
}

std::unique_ptr<dormant::image::OpenedGuest> open_overlay(const fs::path& overlay) {
  dormant::image::OpenOptions options;
  options.probe.allowed_roots = {overlay.parent_path(), library_image().path.parent_path()};
  options.allow_guestfs = false;
  return std::make_unique<dormant::image::OpenedGuest>(dormant::image::open_guest(overlay, options));
}

FinalizeOptions options_for(const fs::path& dir, const std::string& name, std::chrono::seconds timeout) {
  FinalizeOptions options;
  options.domain_name = "dormant-finalize-test-" + name + "-" + std::to_string(::getpid());
  options.work_dir = dir / "work";
  fs::create_directories(options.work_dir);
  options.timeout = timeout;
  options.memory_mib = 1024;
  return options;
}

class FinalizeTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    start_libvirt();
    (void)library_image();
  }
  void SetUp() override {
    ASSERT_EQ(library_image().sha256.size(), 64u)
        << "the suite's library image could not be hashed: " << library_image().sha256;
  }
};

TEST_F(FinalizeTest, BootsTheStagedUpdateAndTheDomainIsGone) {
  TempDir dir("finalize-ok");
  fs::path overlay = make_overlay(dir.path());
  ASSERT_NO_FATAL_FAILURE(stage_test_update(overlay, dir.path()));
  {
    auto guest = open_overlay(overlay);
    ASSERT_EQ(guest->view->type_of("/system-update", false), dormant::image::FileType::symlink);
    ASSERT_EQ(guest->view->type_of("/usr/local/sbin/dormant-test-update"), dormant::image::FileType::regular);
    ASSERT_EQ(guest->view->type_of("/etc/systemd/system/system-update.target.wants/dormant-test.service"),
              dormant::image::FileType::regular);  // the link resolves to the unit
  }

  FinalizeOptions options = options_for(dir.path(), "ok", std::chrono::seconds(900));
  FinalizeResult result = finalize_boot(overlay, options);
  std::cout << "[ timing   ] finalize boot-to-gone: " << result.elapsed.count() / 1000.0 << " s\n";
  EXPECT_EQ(result.state, FinalizeResult::State::stopped) << result.console_tail;
  EXPECT_EQ(result.console_log, options.work_dir / "console.log");
  EXPECT_FALSE(result.console_tail.empty());
  // The unit's output reached the serial log (StandardOutput=journal+console).
  EXPECT_NE(dormant::testing::read_file_text(result.console_log).find("dormant-test-update: done"),
            std::string::npos)
      << result.console_tail;
  EXPECT_FALSE(has_domain(options.domain_name));

  auto guest = open_overlay(overlay);
  auto text = guest->view->read_file("/var/lib/dormant-test/result", 4096);
  ASSERT_TRUE(text) << "the unit did not run; console:\n" << result.console_tail;
  EXPECT_TRUE(text->starts_with("applied boot_id=")) << *text;
  EXPECT_FALSE(guest->view->type_of("/system-update", false)) << "/system-update was not removed";
  guest.reset();
  expect_library_unchanged();
}

TEST_F(FinalizeTest, TimeOutDestroysTheDomain) {
  TempDir dir("finalize-timeout");
  fs::path overlay = make_overlay(dir.path());
  // No /system-update: the guest boots normally to a login prompt and stays up.
  FinalizeOptions options = options_for(dir.path(), "timeout", std::chrono::seconds(20));
  FinalizeResult result = finalize_boot(overlay, options);
  EXPECT_EQ(result.state, FinalizeResult::State::timeout);
  EXPECT_GE(result.elapsed, std::chrono::seconds(20));
  if (!dormant::testing::kSanitized) {
    EXPECT_LT(result.elapsed, std::chrono::seconds(90));
  }
  // The guest got far enough to print its kernel banner on the serial log.
  EXPECT_NE(dormant::testing::read_file_text(result.console_log).find("Linux version"), std::string::npos)
      << result.console_tail;
  EXPECT_FALSE(has_domain(options.domain_name));
  expect_library_unchanged();
}

TEST_F(FinalizeTest, KilledCallerLeavesNoDomainRunning) {
  TempDir dir("finalize-killed");
  fs::path overlay = make_overlay(dir.path());
  FinalizeOptions options = options_for(dir.path(), "killed", std::chrono::seconds(900));
  pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    try {
      finalize_boot(overlay, options);
    } catch (...) {
    }
    ::_exit(0);
  }
  bool seen = false;
  for (int i = 0; i < 600 && !seen; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    seen = has_domain(options.domain_name);
  }
  ::kill(pid, SIGKILL);
  int status = 0;
  ::waitpid(pid, &status, 0);
  ASSERT_TRUE(seen) << "the domain never appeared";
  // libvirtd destroys an auto-destroy domain when its client's connection closes.
  bool gone = false;
  for (int i = 0; i < 100 && !gone; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    gone = !has_domain(options.domain_name);
  }
  EXPECT_TRUE(gone) << "a finalize domain outlived the killed dormant process";
  expect_library_unchanged();
}

TEST(FinalizeNoKernel, GuestWithoutKernelIsUnsupported) {
  TempDir dir("finalize-nokernel");
  // A guest whose /vmlinuz dangles and whose /boot has an initrd but no
  // kernel (as after a half-removed kernel package).
  const fs::path tree = dir.path() / "tree";
  write_file(tree / "etc/os-release", "ID=debian\nVERSION_ID=\"12\"\nVERSION_CODENAME=bookworm\n");
  write_file(tree / "boot/initrd.img-6.1.0-50-amd64", "not a kernel");
  write_file(tree / "boot/config-6.1.0-50-amd64", "CONFIG_X=y\n");
  fs::create_symlink("boot/vmlinuz-6.1.0-50-amd64", tree / "vmlinuz");
  fs::create_symlink("boot/initrd.img-6.1.0-50-amd64", tree / "initrd.img");
  run_ok(
      {"mke2fs", "-q", "-F", "-t", "ext4", "-d", tree.string(), (dir.path() / "guest.raw").string(), "8M"});
  ASSERT_FALSE(::testing::Test::HasFatalFailure());
  fs::path overlay = dir.path() / "overlay.qcow2";
  run_ok({"qemu-img", "create", "-q", "-f", "qcow2", "-b", (dir.path() / "guest.raw").string(), "-F", "raw",
          overlay.string()});
  FinalizeOptions options;
  options.domain_name = "dormant-finalize-test-nokernel";
  options.work_dir = dir.path() / "work";
  fs::create_directories(options.work_dir);
  try {
    finalize_boot(overlay, options);
    FAIL() << "booted a guest without a kernel";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::unsupported) << e.what();
    EXPECT_NE(std::string(e.what()).find("no kernel"), std::string::npos) << e.what();
  }
  EXPECT_FALSE(fs::exists(options.work_dir / "vmlinuz"));
  EXPECT_FALSE(fs::exists(options.work_dir / "initrd.img"));
}

}  // namespace

namespace {

TEST_F(FinalizeTest, UnreachableDaemonIsUnsupportedAndNamesTheFix) {
  TempDir dir("finalize-nodaemon");
  fs::path overlay = make_overlay(dir.path());
  FinalizeOptions options = options_for(dir.path(), "nodaemon", std::chrono::seconds(60));
  options.libvirt_uri = "qemu+unix:///system?socket=" + (dir.path() / "no-such.sock").string();
  try {
    finalize_boot(overlay, options);
    FAIL() << "connected to a daemon that does not exist";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::unsupported) << e.what();
    EXPECT_NE(std::string(e.what()).find("start-libvirt.sh"), std::string::npos) << e.what();
  }
  // The boot files were copied before connecting, from the guest itself.
  EXPECT_EQ(fs::file_size(options.work_dir / "vmlinuz"),
            fs::file_size(fs::canonical(dormant::testing::fixture_rootfs() / "vmlinuz")));
  EXPECT_FALSE(has_domain(options.domain_name));
}

}  // namespace
