// GuestWriter on real images: files, directories and symlinks written into a
// qcow2 overlay through libext2fs over qemu-nbd, then checked with the
// reference tools (e2fsck -fn, debugfs stat) on the overlay's content, read
// back through a fresh open_guest, and the base image's sha256 unchanged.
// Images: fixtures from make-images.sh, and small ones made here with
// mke2fs -d (1 KiB blocks, ext2, a GPT disk with /var on its own partition,
// a tiny filesystem for the "no space" errors).
#include "dormant/image/guest_writer.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <fstream>
#include <functional>
#include <iostream>
#include <random>

#include "dormant/core/error.hpp"
#include "dormant/core/sha256.hpp"
#include "fixture_support.hpp"

namespace dormant::testing {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

constexpr std::uint64_t mib = 1024 * 1024;

double ms_since(Clock::time_point start) {
  return std::chrono::duration<double, std::milli>(Clock::now() - start).count();
}

// A file of `size` pseudo-random bytes (seeded: reproducible).
void random_file(const fs::path& path, std::uint64_t size, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::ofstream out(path, std::ios::binary);
  std::vector<std::uint64_t> chunk(128 * 1024);
  for (std::uint64_t done = 0; done < size;) {
    for (auto& word : chunk) word = rng();
    const auto n = std::min<std::uint64_t>(size - done, chunk.size() * 8);
    out.write(reinterpret_cast<const char*>(chunk.data()), static_cast<std::streamsize>(n));
    done += n;
  }
  ASSERT_TRUE(out.good()) << path;
}

std::string file_sha256(const fs::path& path) { return sha256_file(path).sha256; }

// A base image to write into, with the format to pin for its overlay.
struct Base {
  fs::path path;
  std::string format;
};

void overlay_of(const Base& base, const fs::path& overlay) {
  run_ok({"qemu-img", "create", "-q", "-f", "qcow2", "-F", base.format, "-b",
          fs::absolute(base.path).string(), overlay.string()});
}

image::ProbeOptions probe_options(const Base& base, const fs::path& dir) {
  image::ProbeOptions options;
  options.allowed_roots = {fs::absolute(base.path).parent_path(), dir};
  return options;
}

// ---------------------------------------------------------------- images made here

// The small guest tree: os-release, fstab, a file where a directory could be
// expected, and /var/run -> /run as Debian has it.
void make_tree(const fs::path& tree, const std::string& fstab, bool with_var_content) {
  fs::create_directories(tree / "etc");
  fs::create_directories(tree / "run");
  fs::create_directories(tree / "var");
  write_file(tree / "etc/os-release",
             "PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nID=debian\nVERSION_ID=\"12\"\n");
  write_file(tree / "etc/fstab", fstab);
  write_file(tree / "etc/notadir", "a regular file\n");
  if (with_var_content) {
    fs::create_directories(tree / "var/lib");
    fs::create_symlink("/run", tree / "var/run");
  }
}

void mkfs(const std::string& type, unsigned block, const fs::path& tree, const fs::path& file,
          std::uint64_t bytes, const std::vector<std::string>& extra = {}) {
  std::vector<std::string> argv = {
      "mke2fs",         "-q", "-F",         "-t", type, "-b", std::to_string(block), "-E",
      "root_owner=0:0", "-d", tree.string()};
  argv.insert(argv.end(), extra.begin(), extra.end());
  argv.push_back(file.string());
  argv.push_back(std::to_string(bytes / 1024) + "k");
  run_ok(argv);
}

void put_at(const fs::path& part, const fs::path& disk, std::uint64_t offset) {
  run_ok({"dd", "if=" + part.string(), "of=" + disk.string(), "bs=1M", "seek=" + std::to_string(offset),
          "oflag=seek_bytes", "conv=notrunc,sparse", "status=none"});
}

// Whole-disk filesystem of `type` with `block`-byte blocks.
Base make_whole(const fs::path& dir, const std::string& type, unsigned block, std::uint64_t bytes,
                const std::vector<std::string>& extra = {}) {
  make_tree(dir / "tree", "/dev/vda / " + type + " errors=remount-ro 0 1\n", true);
  Base base{dir / "base.raw", "raw"};
  mkfs(type, block, dir / "tree", base.path, bytes, extra);
  return base;
}

// GPT disk: root on partition 1, /var (fstab UUID=) on partition 2.
constexpr const char* var_uuid = "6a3c1f0e-58c4-4d52-9d0e-3b1f5f2d7a11";
Base make_gpt_var(const fs::path& dir, std::uint64_t disk_mib) {
  make_tree(dir / "root",
            std::string("/dev/vda1 / ext4 defaults 0 1\nUUID=") + var_uuid + " /var ext4 defaults 0 2\n",
            false);
  fs::create_directories(dir / "var/lib");
  fs::create_symlink("/run", dir / "var/run");
  Base base{dir / "base.raw", "raw"};
  const std::uint64_t part_sectors = (disk_mib / 2 - 1) * 2048;
  run_ok({"truncate", "-s", std::to_string(disk_mib * mib), base.path.string()});
  sfdisk(base.path, fmt::format("label: gpt\nstart=2048, size={}\nstart={}, size={}\n", part_sectors,
                                2048 + part_sectors, part_sectors));
  mkfs("ext4", 4096, dir / "root", dir / "p1.img", part_sectors * 512);
  mkfs("ext4", 1024, dir / "var", dir / "p2.img", part_sectors * 512, {"-U", var_uuid});
  put_at(dir / "p1.img", base.path, 2048 * 512);
  put_at(dir / "p2.img", base.path, (2048 + part_sectors) * 512);
  return base;
}

// ---------------------------------------------------------------- checks with the reference tools

// The overlay's filesystem at [offset, offset+length) as a raw file.
fs::path extract_filesystem(const fs::path& overlay, const image::WritableFilesystem& fs,
                            const fs::path& dir) {
  const fs::path full = dir / "flat.raw";
  if (!fs::exists(full))
    run_ok({"qemu-img", "convert", "-f", "qcow2", "-O", "raw", overlay.string(), full.string()});
  if (fs.offset == 0) return full;
  const fs::path part = dir / fmt::format("part-{}.raw", fs.offset);
  run_ok({"dd", "if=" + full.string(), "of=" + part.string(), "bs=1M", "iflag=skip_bytes,count_bytes",
          "skip=" + std::to_string(fs.offset), "count=" + std::to_string(fs.length), "conv=sparse",
          "status=none"});
  return part;
}

void expect_fsck_clean(const fs::path& raw) {
  auto result = run_process({"e2fsck", "-fn", raw.string()}, {std::chrono::seconds(300)});
  EXPECT_EQ(result.exit_code, 0) << "e2fsck -fn " << raw << ":\n" << result.out << result.err;
}

std::string debugfs(const fs::path& raw, const std::string& request) {
  auto result = run_ok({"debugfs", "-R", request, raw.string()});
  return result.out;
}

// debugfs "stat" of a path: its type/mode and root owner.
void expect_stat(const fs::path& raw, const std::string& path, const std::string& type, unsigned mode) {
  const std::string out = debugfs(raw, "stat \"" + path + "\"");
  EXPECT_NE(out.find("Type: " + type), std::string::npos) << path << ":\n" << out;
  EXPECT_NE(out.find(fmt::format("Mode:  {:04o}", mode)), std::string::npos) << path << ":\n" << out;
  EXPECT_NE(out.find("User:     0   Group:     0"), std::string::npos) << path << ":\n" << out;
}

template <typename F>
Error expect_error(F&& action, ErrorKind kind) {
  try {
    action();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), kind) << e.what();
    return e;
  }
  ADD_FAILURE() << "no error thrown, expected " << to_string(kind);
  return Error(ErrorKind::internal, "", "");
}

// ---------------------------------------------------------------- the write matrix

struct Case {
  std::string name;
  std::function<Base(const fs::path& dir)> make;
};

std::vector<Case> cases() {
  auto fixture = [](std::string file) {
    return [file](const fs::path&) {
      const auto& entry = manifest_entry(file);
      return Base{image_path(entry), entry.at("format").get<std::string>()};
    };
  };
  return {
      {"fixture_ext4_whole_full_4k", fixture("ext4-whole-full.raw")},
      {"fixture_mbr_ext4", fixture("mbr-ext4.qcow2")},
      {"fixture_gpt_multifs_var_partition", fixture("gpt-multifs.qcow2")},
      {"fixture_ext2_whole", fixture("ext2-whole.qcow2")},
      {"fixture_mbr_ext3", fixture("mbr-ext3.raw")},
      {"made_ext4_1k_blocks", [](const fs::path& d) { return make_whole(d, "ext4", 1024, 160 * mib); }},
      {"made_ext2_1k_blocks", [](const fs::path& d) { return make_whole(d, "ext2", 1024, 96 * mib); }},
      {"made_gpt_var_partition", [](const fs::path& d) { return make_gpt_var(d, 200); }},
  };
}

class GuestWriterMatrix : public ::testing::TestWithParam<Case> {};

struct Written {
  std::string path;    // guest path
  std::string sha256;  // of the content
  unsigned mode;
};

TEST_P(GuestWriterMatrix, WritesWhatE2fsckAndAFreshViewAccept) {
  TempDir dir("guest-writer");
  const Base base = GetParam().make(dir.path());
  ASSERT_FALSE(HasFatalFailure());
  const std::string base_sha = file_sha256(base.path);
  const fs::path overlay = dir.path() / "ov.qcow2";
  overlay_of(base, overlay);

  std::vector<Written> files;
  std::vector<std::pair<std::string, std::string>> links;  // path, target
  std::vector<image::WritableFilesystem> filesystems;
  {
    auto writer = image::open_guest_writer(overlay, probe_options(base, dir.path()));
    filesystems = writer->filesystems();
    ASSERT_FALSE(filesystems.empty());
    EXPECT_EQ(filesystems.front().mountpoint, "/");
    for (const auto& f : filesystems) EXPECT_FALSE(f.needs_recovery) << f.mountpoint;

    writer->mkdir_p("/var/lib/dormant/nested/deeper", 0750);
    writer->mkdir_p("/var/lib/dormant/nested/deeper");  // exists: no error
    const std::uint64_t free = writer->free_bytes("/var/lib/dormant");
    EXPECT_GT(free, 0u);

    std::vector<std::uint64_t> sizes = {1, 5'000'000};
    // 50 MiB where it fits, and not through ext2fs_file_write (no extents:
    // one NBD round trip per block, a minute for 50 MiB on 1 KiB blocks).
    const std::string type = writer->filesystem_of("/var/lib/dormant").fstype;
    if (free > 60 * mib && type == "ext4") sizes.push_back(50 * mib);
    for (std::size_t i = 0; i < sizes.size(); ++i) {
      const fs::path source = dir.path() / fmt::format("src{}.bin", i);
      random_file(source, sizes[i], i + 1);
      const std::string path = fmt::format("/var/lib/dormant/nested/file{}.bin", i);
      const auto start = Clock::now();
      writer->write_file(path, source, 0640);
      std::cout << "[ timing ] " << GetParam().name << ": " << sizes[i] << " bytes written in "
                << ms_since(start) << " ms\n";
      files.push_back({path, file_sha256(source), 0640});
      fs::remove(source);
    }
    // Free space went down by at least the data written.
    std::uint64_t data = 0;
    for (auto size : sizes) data += size;
    EXPECT_LE(writer->free_bytes("/var/lib/dormant") + data, free);

    writer->write_text("/var/lib/dormant/empty", "");
    files.push_back({"/var/lib/dormant/empty", sha256_hex(""), 0644});
    writer->write_text("/var/lib/dormant/script.sh", "#!/bin/sh\necho hello\n", 0755);
    files.push_back({"/var/lib/dormant/script.sh", sha256_hex("#!/bin/sh\necho hello\n"), 0755});
    writer->write_text("/etc/dormant-root.conf", "on the root filesystem\n");
    files.push_back({"/etc/dormant-root.conf", sha256_hex("on the root filesystem\n"), 0644});

    // Fast (in the inode) and slow (a data block) symlinks.
    const std::string fast = "/var/lib/dormant/script.sh";
    std::string slow = "/var/lib/dormant/";
    for (int i = 0; i < 40; ++i) slow += "./";
    slow += "script.sh";
    ASSERT_LT(fast.size(), 60u);
    ASSERT_GT(slow.size(), 60u);
    writer->symlink("/system-update", fast);
    writer->symlink("/var/lib/dormant/slow-link", slow);
    links = {{"/system-update", fast}, {"/var/lib/dormant/slow-link", slow}};

    // Many entries with long names in one directory: it must grow
    // (ext2fs_expand_dir) for files, directories and symlinks alike.
    writer->mkdir_p("/var/lib/dormant/many");
    for (int i = 0; i < 120; ++i) {
      const std::string stem = fmt::format("/var/lib/dormant/many/{:03}-{}", i, std::string(200, 'n'));
      if (i % 3 == 0) {
        writer->write_text(stem, fmt::format("file {}\n", i));
        files.push_back({stem, sha256_hex(fmt::format("file {}\n", i)), 0644});
      } else if (i % 3 == 1) {
        writer->mkdir_p(stem);
      } else {
        writer->symlink(stem, "/var/lib/dormant/script.sh");
      }
    }
    // The writer's own view sees what was written.
    EXPECT_EQ(writer->view().read_file("/var/lib/dormant/script.sh", 1024), "#!/bin/sh\necho hello\n");
    EXPECT_EQ(writer->view().list_dir("/var/lib/dormant/many")->size(), 120u);
    writer->close();
  }

  // A fresh read-only view of the overlay reads the same content.
  {
    image::OpenOptions options;
    options.probe = probe_options(base, dir.path());
    options.allow_guestfs = false;
    auto guest = image::open_guest(overlay, options);
    for (const auto& file : files) {
      auto content = guest.view->read_file(file.path, 64 * mib);
      ASSERT_TRUE(content) << file.path;
      EXPECT_EQ(sha256_hex(*content), file.sha256) << file.path;
    }
    for (const auto& [path, target] : links) {
      EXPECT_EQ(guest.view->type_of(path, false), image::FileType::symlink) << path;
      EXPECT_EQ(guest.view->read_file(path, 1024), "#!/bin/sh\necho hello\n") << path << " -> " << target;
    }
    EXPECT_EQ(guest.view->type_of("/var/lib/dormant/nested/deeper"), image::FileType::directory);
  }

  // e2fsck -fn on every filesystem, debugfs stat of what was written.
  for (const auto& f : filesystems) {
    SCOPED_TRACE(f.mountpoint);
    const fs::path raw = extract_filesystem(overlay, f, dir.path());
    expect_fsck_clean(raw);
  }
  auto fs_of = [&](const std::string& path) {
    const image::WritableFilesystem* best = &filesystems.front();
    for (const auto& f : filesystems)
      if (f.mountpoint != "/" && (path == f.mountpoint || path.starts_with(f.mountpoint + "/")) &&
          f.mountpoint.size() > best->mountpoint.size())
        best = &f;
    const std::string inside = best->mountpoint == "/" ? path : path.substr(best->mountpoint.size());
    return std::pair{extract_filesystem(overlay, *best, dir.path()), inside};
  };
  for (const auto& file : files) {
    if (file.path.find("/many/") != std::string::npos) continue;  // sampled below
    auto [raw, inside] = fs_of(file.path);
    expect_stat(raw, inside, "regular", file.mode);
  }
  {
    auto [raw, inside] = fs_of("/var/lib/dormant/nested/deeper");
    expect_stat(raw, inside, "directory", 0750);
    auto [raw2, inside2] = fs_of("/var/lib/dormant/many");
    expect_stat(raw2, inside2, "directory", 0755);
    // The directory really grew past one block.
    const std::string out = debugfs(raw2, "stat \"" + inside2 + "\"");
    EXPECT_EQ(out.find("Size: 1024\n"), std::string::npos) << out;
    auto [raw3, inside3] = fs_of("/system-update");
    const std::string link = debugfs(raw3, "stat \"" + inside3 + "\"");
    EXPECT_NE(link.find("Fast link dest: \"/var/lib/dormant/script.sh\""), std::string::npos) << link;
    auto [raw4, inside4] = fs_of("/var/lib/dormant/slow-link");
    const std::string slow = debugfs(raw4, "stat \"" + inside4 + "\"");
    EXPECT_EQ(slow.find("Fast link dest"), std::string::npos) << slow;
    EXPECT_NE(slow.find("Type: symlink"), std::string::npos) << slow;
  }
  EXPECT_EQ(file_sha256(base.path), base_sha) << "the base image changed";
}

INSTANTIATE_TEST_SUITE_P(Images, GuestWriterMatrix, ::testing::ValuesIn(cases()),
                         [](const ::testing::TestParamInfo<Case>& info) { return info.param.name; });

// ---------------------------------------------------------------- placement on the right filesystem

TEST(GuestWriter, VarOnItsOwnPartitionIsWrittenThere) {
  TempDir dir("guest-writer-var");
  const Base base = make_gpt_var(dir.path(), 120);
  ASSERT_FALSE(HasFatalFailure());
  const fs::path overlay = dir.path() / "ov.qcow2";
  overlay_of(base, overlay);
  std::vector<image::WritableFilesystem> filesystems;
  {
    auto writer = image::open_guest_writer(overlay, probe_options(base, dir.path()));
    filesystems = writer->filesystems();
    ASSERT_EQ(filesystems.size(), 2u);
    EXPECT_EQ(filesystems[1].mountpoint, "/var");
    EXPECT_EQ(filesystems[1].uuid, var_uuid);
    EXPECT_EQ(writer->filesystem_of("/var/lib/x").mountpoint, "/var");
    EXPECT_EQ(writer->filesystem_of("/variable").mountpoint, "/");
    EXPECT_EQ(filesystems[0].offset, 2048u * 512);
    EXPECT_GT(filesystems[1].offset, filesystems[0].offset + filesystems[0].length - 1);
    writer->mkdir_p("/var/lib/dormant");
    writer->write_text("/var/lib/dormant/where", "var\n");
    // The mountpoint itself exists.
    expect_error([&] { writer->write_text("/var", "x"); }, ErrorKind::conflict);
    writer->close();
  }
  const fs::path var = extract_filesystem(overlay, filesystems[1], dir.path());
  const fs::path root = extract_filesystem(overlay, filesystems[0], dir.path());
  EXPECT_EQ(debugfs(var, "cat /lib/dormant/where"), "var\n");
  // Nothing went to the root filesystem's (empty) /var directory.
  EXPECT_NE(run_process({"debugfs", "-R", "stat /var/lib/dormant", root.string()}).err.find("not found"),
            std::string::npos);
  expect_fsck_clean(var);
  expect_fsck_clean(root);
}

// ---------------------------------------------------------------- refusals

class GuestWriterRefusals : public ::testing::Test {
 protected:
  void SetUp() override {
    base_ = make_whole(dir_.path(), "ext4", 1024, 32 * mib);
    ASSERT_FALSE(HasFatalFailure());
    overlay_ = dir_.path() / "ov.qcow2";
    overlay_of(base_, overlay_);
  }
  std::unique_ptr<image::GuestWriter> open() {
    return image::open_guest_writer(overlay_, probe_options(base_, dir_.path()));
  }
  // qemu-img compare: the overlay's virtual disk equals the base's.
  bool overlay_unchanged() {
    return run_process({"qemu-img", "compare", "-q", "-f", "qcow2", "-F", "raw", overlay_.string(),
                        base_.path.string()})
               .exit_code == 0;
  }
  TempDir dir_{"guest-writer-refuse"};
  Base base_;
  fs::path overlay_;
};

TEST_F(GuestWriterRefusals, ExistingNamesAreConflicts) {
  auto writer = open();
  expect_error([&] { writer->write_text("/etc/os-release", "x"); }, ErrorKind::conflict);
  expect_error([&] { writer->symlink("/etc/fstab", "/x"); }, ErrorKind::conflict);
  expect_error([&] { writer->mkdir_p("/etc/notadir"); }, ErrorKind::conflict);
  const fs::path source = dir_.path() / "s";
  write_file(source, "y");
  expect_error([&] { writer->write_file("/etc/os-release", source); }, ErrorKind::conflict);
  writer->write_text("/etc/new", "1");
  expect_error([&] { writer->write_text("/etc/new", "2"); }, ErrorKind::conflict);
  // A missing parent is not created implicitly.
  expect_error([&] { writer->write_text("/nope/file", "1"); }, ErrorKind::not_found);
  writer->close();
  const fs::path raw = extract_filesystem(overlay_, {"/", "ext4", "", 0, 0, false}, dir_.path());
  EXPECT_EQ(debugfs(raw, "cat /etc/new"), "1");
  expect_fsck_clean(raw);
}

TEST_F(GuestWriterRefusals, GuestSymlinksAndFilesInThePathAreHostile) {
  auto writer = open();
  auto e = expect_error([&] { writer->write_text("/var/run/dormant", "x"); }, ErrorKind::hostile);
  EXPECT_NE(std::string(e.what()).find("/var/run is a symlink"), std::string::npos) << e.what();
  expect_error([&] { writer->mkdir_p("/var/run/a/b"); }, ErrorKind::hostile);
  expect_error([&] { writer->mkdir_p("/var/run"); }, ErrorKind::hostile);
  expect_error([&] { writer->symlink("/var/run/l", "/x"); }, ErrorKind::hostile);
  expect_error([&] { writer->write_text("/etc/notadir/x", "x"); }, ErrorKind::hostile);
  expect_error([&] { writer->mkdir_p("/etc/notadir/x"); }, ErrorKind::hostile);
  // A symlink written by dormant is not followed either.
  writer->mkdir_p("/srv/real");
  writer->symlink("/srv/link", "/srv/real");
  expect_error([&] { writer->write_text("/srv/link/f", "x"); }, ErrorKind::hostile);
  // Non-canonical paths are refused, not interpreted.
  expect_error([&] { writer->write_text("/srv/real/../f", "x"); }, ErrorKind::usage);
  expect_error([&] { writer->write_text("relative", "x"); }, ErrorKind::usage);
  writer->close();
  const fs::path raw = extract_filesystem(overlay_, {"/", "ext4", "", 0, 0, false}, dir_.path());
  // /run (the symlink's target) got nothing.
  EXPECT_EQ(debugfs(raw, "ls -l /run").find("dormant"), std::string::npos);
  expect_fsck_clean(raw);
}

TEST_F(GuestWriterRefusals, NoSpaceIsALimitWithNumbersBeforeWriting) {
  auto writer = open();
  const std::uint64_t free = writer->free_bytes("/");
  const fs::path big = dir_.path() / "big.bin";
  random_file(big, free + mib, 7);
  auto e = expect_error([&] { writer->write_file("/big.bin", big); }, ErrorKind::limit);
  EXPECT_NE(std::string(e.what()).find("are free"), std::string::npos) << e.what();
  EXPECT_NE(std::string(e.what()).find(std::to_string(free / 1024)), std::string::npos) << e.what();
  EXPECT_EQ(writer->free_bytes("/"), free) << "nothing allocated";
  EXPECT_FALSE(writer->view().type_of("/big.bin"));
  writer->close();
  EXPECT_TRUE(overlay_unchanged());
}

TEST(GuestWriter, RunningOutOfInodesIsALimit) {
  TempDir dir("guest-writer-inodes");
  const Base base = make_whole(dir.path(), "ext4", 1024, 8 * mib, {"-N", "32"});
  ASSERT_FALSE(HasFatalFailure());
  const fs::path overlay = dir.path() / "ov.qcow2";
  overlay_of(base, overlay);
  auto writer = image::open_guest_writer(overlay, probe_options(base, dir.path()));
  int written = 0;
  auto e = expect_error(
      [&] {
        for (; written < 1000; ++written) writer->write_text(fmt::format("/f{}", written), "x");
      },
      ErrorKind::limit);
  EXPECT_GT(written, 0);
  EXPECT_LT(written, 64);
  EXPECT_NE(std::string(e.what()).find("inode"), std::string::npos) << e.what();
  writer->close();
  const fs::path raw = extract_filesystem(overlay, {"/", "ext4", "", 0, 0, false}, dir.path());
  expect_fsck_clean(raw);
}

TEST(GuestWriter, DirtyJournalIsRefusedBeforeAnyWrite) {
  TempDir dir("guest-writer-journal");
  Base base = make_whole(dir.path(), "ext4", 4096, 64 * mib);
  ASSERT_FALSE(HasFatalFailure());
  // A committed, unreplayed transaction, made with debugfs as the memo does
  // (no mount): needs_recovery is set afterwards.
  const fs::path block = dir.path() / "block";
  write_file(block, std::string(4096, 'J'));
  const fs::path script = dir.path() / "journal.cmds";
  write_file(script, "jo\njw -b 9000 " + block.string() + "\njc\n");
  run_ok({"debugfs", "-w", "-f", script.string(), base.path.string()});
  ASSERT_NE(run_ok({"dumpe2fs", "-h", base.path.string()}).out.find("needs_recovery"), std::string::npos);
  const std::string base_sha = file_sha256(base.path);

  const fs::path overlay = dir.path() / "ov.qcow2";
  overlay_of(base, overlay);
  auto writer = image::open_guest_writer(overlay, probe_options(base, dir.path()));
  EXPECT_TRUE(writer->filesystems().front().needs_recovery);
  auto e = expect_error([&] { writer->write_text("/etc/x", "x"); }, ErrorKind::unsupported);
  const std::string text = e.what();
  EXPECT_NE(text.find("ext4 journal of " + overlay.string() + " (/ on the whole disk) needs recovery"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("not shut down cleanly"), std::string::npos) << text;
  expect_error([&] { writer->mkdir_p("/var/lib/dormant"); }, ErrorKind::unsupported);
  expect_error([&] { writer->symlink("/system-update", "/x"); }, ErrorKind::unsupported);
  writer->close();
  EXPECT_EQ(run_process({"qemu-img", "compare", "-q", "-f", "qcow2", "-F", "raw", overlay.string(),
                         base.path.string()})
                .exit_code,
            0)
      << "the overlay was written";
  EXPECT_EQ(file_sha256(base.path), base_sha);
}

TEST(GuestWriter, RefusesAnythingButAQcow2Overlay) {
  TempDir dir("guest-writer-base");
  const Base base = make_whole(dir.path(), "ext4", 1024, 16 * mib);
  ASSERT_FALSE(HasFatalFailure());
  const std::string base_sha = file_sha256(base.path);
  auto e = expect_error([&] { image::open_guest_writer(base.path, probe_options(base, dir.path())); },
                        ErrorKind::unsupported);
  EXPECT_NE(std::string(e.what()).find("qcow2 overlay"), std::string::npos) << e.what();
  // A standalone qcow2 (no backing file) is a library image too.
  const fs::path standalone = dir.path() / "standalone.qcow2";
  run_ok({"qemu-img", "convert", "-f", "raw", "-O", "qcow2", base.path.string(), standalone.string()});
  const std::string standalone_sha = file_sha256(standalone);
  expect_error([&] { image::open_guest_writer(standalone, probe_options(base, dir.path())); },
               ErrorKind::unsupported);
  EXPECT_EQ(file_sha256(base.path), base_sha);
  EXPECT_EQ(file_sha256(standalone), standalone_sha);
}

TEST(GuestWriter, HostDiskFullWhileTheOverlayGrowsIsAnIoError) {
  TempDir dir("guest-writer-enospc");
  const Base base = make_whole(dir.path(), "ext4", 4096, 128 * mib);
  ASSERT_FALSE(HasFatalFailure());
  const fs::path small = dir.path() / "small";
  fs::create_directories(small);
  if (run_process({"mount", "-t", "tmpfs", "-o", "size=12m", "tmpfs", small.string()}).exit_code != 0)
    GTEST_SKIP() << "cannot mount a small tmpfs here (needs root)";
  struct Unmount {
    fs::path path;
    ~Unmount() { run_process({"umount", path.string()}); }
  } unmount{small};
  const fs::path overlay = small / "ov.qcow2";
  overlay_of(base, overlay);
  const fs::path source = dir.path() / "big.bin";
  random_file(source, 40 * mib, 3);
  image::ProbeOptions options = probe_options(base, small);
  auto writer = image::open_guest_writer(overlay, options);
  auto e = expect_error([&] { writer->write_file("/big.bin", source); }, ErrorKind::io);
  EXPECT_NE(std::string(e.what()).find("No space left on device"), std::string::npos) << e.what();
  EXPECT_NE(std::string(e.what()).find("ov.qcow2"), std::string::npos) << e.what();
}

// ---------------------------------------------------------------- the staging workload, timed

// Times the staging workload of the memo: one 50 MiB file, then 13 files of
// .deb size (5.5-6.6 MB), written into an overlay of `base`.
void bench_staging(const Base& base, const TempDir& dir, const std::string& label) {
  const fs::path overlay = dir.path() / "ov.qcow2";
  overlay_of(base, overlay);
  const fs::path fifty = dir.path() / "fifty.bin";
  random_file(fifty, 50 * mib, 11);
  std::vector<fs::path> debs;
  std::uint64_t deb_bytes = 0;
  for (int i = 0; i < 13; ++i) {
    debs.push_back(dir.path() / fmt::format("p{}.deb", i));
    const std::uint64_t size = 5'500'000 + static_cast<std::uint64_t>(i) * 90'000;
    random_file(debs.back(), size, 100 + static_cast<std::uint64_t>(i));
    deb_bytes += size;
  }
  auto start = Clock::now();
  auto writer = image::open_guest_writer(overlay, probe_options(base, dir.path()));
  const double open_ms = ms_since(start);
  writer->mkdir_p("/var/lib/dormant/debs");
  start = Clock::now();
  writer->write_file("/var/lib/dormant/fifty.bin", fifty);
  const double fifty_ms = ms_since(start);
  start = Clock::now();
  for (const auto& deb : debs) writer->write_file("/var/lib/dormant/debs/" + deb.filename().string(), deb);
  const double debs_ms = ms_since(start);
  start = Clock::now();
  writer->close();
  const double close_ms = ms_since(start);
  std::cout << fmt::format(
      "[ bench  ] {}: open {:.0f} ms; 50 MiB file {:.0f} ms; 13 files ({:.1f} MB) {:.0f} ms; close {:.0f} "
      "ms\n",
      label, open_ms, fifty_ms, static_cast<double>(deb_bytes) / 1e6, debs_ms, close_ms);
  // Content check on one: the write path, not only the timing.
  image::OpenOptions options;
  options.probe = probe_options(base, dir.path());
  options.allow_guestfs = false;
  auto guest = image::open_guest(overlay, options);
  EXPECT_EQ(sha256_hex(guest.view->read_file("/var/lib/dormant/fifty.bin", 64 * mib).value_or("")),
            file_sha256(fifty));
}

TEST(GuestWriter, BenchmarkStagingOnTheFullFixture) {
  TempDir dir("guest-writer-bench");
  const auto& entry = manifest_entry("ext4-whole-full.raw");
  bench_staging({image_path(entry), entry.at("format").get<std::string>()}, dir, "ext4-whole-full.raw");
}

TEST(GuestWriter, BenchmarkStagingOnAMadeExt4) {
  TempDir dir("guest-writer-bench-made");
  fs::create_directories(dir.path() / "img");
  const Base base = make_whole(dir.path() / "img", "ext4", 4096, 512 * mib);
  ASSERT_FALSE(HasFatalFailure());
  bench_staging(base, dir, "made 512 MiB ext4, 4 KiB blocks");
}

}  // namespace
}  // namespace dormant::testing
