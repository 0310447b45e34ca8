// `dormant patch --mode offline` and `dormant rollback` end to end: small
// real guests (the debootstrap rootfs's dpkg database, /etc and systemd's
// offline-update generator on ext4: tests/fixtures/make-patch-guest.sh), real
// signed repositories on a loopback HTTP server, the staged result read back
// with the reference tools (e2fsck, debugfs, sha256 of the repository's own
// .deb files). Every failure case checks that the library image is
// byte-identical and that nothing is left behind.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/mount.h>

#include <atomic>
#include <cstring>
#include <map>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "dormant/core/sha256.hpp"
#include "dormant/image/guest_view.hpp"
#include "fixture_support.hpp"
#include "support/apt_repo.hpp"
#include "support/loopback_http.hpp"
#include "support/sqlite_query.hpp"
#include "update_repos.hpp"

namespace dormant::testing {
namespace {

namespace fs = std::filesystem;

struct Repos {
  TempDir dir;
  fs::path updating, bad_hash;
};
Repos* repos = nullptr;

std::string sha_of(const fs::path& path) { return sha256_file(path).sha256; }

// The --json report of a run that exits 1 (an image failed): json_output
// insists on exit status 0.
nlohmann::json failed_report(const ProcessResult& r) {
  EXPECT_EQ(r.exit_code, 1) << r.err;
  return nlohmann::json::parse(r.out);
}

// The .deb files of a repository, by file name, with their SHA-256.
std::map<std::string, std::string> repo_debs(const fs::path& repo) {
  std::map<std::string, std::string> out;
  for (const auto& e : fs::recursive_directory_iterator(repo / "pool"))
    if (e.path().extension() == ".deb") out[e.path().filename().string()] = sha_of(e.path());
  return out;
}

class CliPatch : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    repos = new Repos;
    open_to_apt(repos->dir.path());
    repos->updating = repos->dir.path() / "updating";
    build_repo(repos->updating, updating_spec(fixture_rootfs()));
    // Same repository, one .deb changed after signing (same size): its hash
    // no longer matches the signed Packages index.
    repos->bad_hash = repos->dir.path() / "bad-hash";
    copy_apt_repo(repos->updating, repos->bad_hash);
    for (const auto& e : fs::recursive_directory_iterator(repos->bad_hash / "pool"))
      if (e.path().filename().string().starts_with("tzdata_")) {
        auto bytes = read_file_text(e.path());
        bytes[bytes.size() / 2] = static_cast<char>(bytes[bytes.size() / 2] ^ 0x5a);
        write_file(e.path(), bytes);
      }
  }
  static void TearDownTestSuite() {
    delete repos;
    repos = nullptr;
  }

  void SetUp() override {
    open_to_apt(dir_.path());
    library_ = dir_.path() / "library";
    fs::create_directories(library_);
  }

  // A guest made by make-patch-guest.sh in the library.
  fs::path guest(const std::string& name, std::vector<std::string> options = {}) {
    std::vector<std::string> argv{(source_dir() / "tests/fixtures/make-patch-guest.sh").string(),
                                  fixture_rootfs().string(), (library_ / name).string()};
    argv.insert(argv.end(), options.begin(), options.end());
    run_ok(argv, {std::chrono::seconds(120)});
    return library_ / name;
  }

  void add_library_and_sources(const std::string& url, const fs::path& repo) {
    ASSERT_EQ(cli({"library", "add", library_.string(), "--name", "lib"}).exit_code, 0);
    const std::string keyring = (repo / "keyring.gpg").string();
    for (auto argv : std::vector<std::vector<std::string>>{
             {"source", "add", "debian", url, "--suite", "bookworm", "--keyring", keyring},
             {"source", "add", "debian-security", url, "--suite", "bookworm-security", "--security",
              "--keyring", keyring}}) {
      auto r = cli(argv);
      ASSERT_EQ(r.exit_code, 0) << r.err;
    }
  }

  ProcessResult cli(std::vector<std::string> args) {
    args.insert(args.begin(), {"--catalog", catalog().string()});
    return run_cli(args, std::chrono::seconds(600));
  }

  ProcessResult patch(std::vector<std::string> args) {
    args.insert(args.begin(), {"patch", "--mode", "offline", "--json", "--cache-dir", cache().string()});
    return cli(args);
  }

  fs::path catalog() const { return dir_.path() / "catalog.db"; }
  fs::path cache() const { return dir_.path() / "cache"; }

  // Nothing of a run may remain in the library directory but the images and
  // the kept versions.
  void expect_no_work_left() {
    EXPECT_FALSE(fs::exists(library_ / ".dormant-work")) << "work directory left behind";
    for (const auto& e : fs::directory_iterator(library_)) {
      const auto name = e.path().filename().string();
      EXPECT_TRUE(name == ".dormant-versions" || name.ends_with(".raw") || name.ends_with(".qcow2")) << name;
    }
  }

  static std::set<std::string> names(const nlohmann::json& list) {
    std::set<std::string> out;
    for (const auto& c : list) out.insert(c.at("name").get<std::string>());
    return out;
  }

  TempDir dir_;
  fs::path library_;
};

// e2fsck -fn on the filesystem of a whole-disk raw image (the reference check).
void expect_fsck_clean(const fs::path& raw) {
  auto r = run_process({"e2fsck", "-fn", raw.string()});
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
}

TEST_F(CliPatch, DryRunPrintsThePlanAndChangesNothing) {
  const auto image = guest("web.raw");
  const auto before = sha_of(image);
  LoopbackHttpServer server(repos->updating);
  add_library_and_sources(server.url(), repos->updating);
  auto r = patch({image.string(), "--dry-run"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto report = json_output(r);
  EXPECT_EQ(schema_errors(source_dir() / "docs/patch.schema.json", report), "");
  ASSERT_EQ(report["images"].size(), 1u);
  const auto& p = report["images"][0];
  EXPECT_EQ(p["state"], "dry-run");
  EXPECT_EQ(names(p["install"]), (std::set<std::string>{"base-files", "tzdata", "dormtest-tz-helper"}));
  EXPECT_TRUE(p["staged"].empty());
  EXPECT_EQ(sha_of(image), before);
  EXPECT_FALSE(fs::exists(library_ / ".dormant-versions"));
  expect_no_work_left();
  EXPECT_EQ(sqlite_query(catalog(), "SELECT count(*) FROM patch_runs"), "0");

  // The table form names every planned change.
  auto table =
      cli({"patch", "--mode", "offline", "--dry-run", "--cache-dir", cache().string(), image.string()});
  ASSERT_EQ(table.exit_code, 0) << table.err;
  EXPECT_NE(table.out.find("upgrade tzdata:"), std::string::npos) << table.out;
  EXPECT_NE(table.out.find("install dormtest-tz-helper:"), std::string::npos) << table.out;
  EXPECT_NE(table.out.find("dry run, nothing changed"), std::string::npos) << table.out;
}

TEST_F(CliPatch, SecurityOnlyAndExcludeShapeThePlan) {
  const auto image = guest("web.raw");
  LoopbackHttpServer server(repos->updating);
  add_library_and_sources(server.url(), repos->updating);
  auto security = json_output(patch({image.string(), "--dry-run", "--security-only"}));
  const auto& s = security["images"][0];
  EXPECT_EQ(names(s["install"]), (std::set<std::string>{"tzdata", "dormtest-tz-helper"})) << s.dump(2);
  ASSERT_EQ(s["not_planned"].size(), 1u) << s.dump(2);
  EXPECT_EQ(s["not_planned"][0]["name"], "base-files");
  EXPECT_EQ(s["not_planned"][0]["action"], "deferred");

  auto excluded = json_output(patch({image.string(), "--dry-run", "--exclude", "tzdata"}));
  const auto& e = excluded["images"][0];
  EXPECT_EQ(names(e["install"]), (std::set<std::string>{"base-files"})) << e.dump(2);
  ASSERT_EQ(e["not_planned"].size(), 1u) << e.dump(2);
  EXPECT_EQ(e["not_planned"][0]["name"], "tzdata");
  EXPECT_EQ(e["not_planned"][0]["action"], "excluded");
  // A plan only: the compliance history has the identify-time assessment, not these.
  EXPECT_EQ(sqlite_query(catalog(), "SELECT count(*) FROM assessments WHERE result_json LIKE '%deferred%'"),
            "0");
}

TEST_F(CliPatch, StagesIntoAPartitionedQcow2CommitsAtomicallyAndRollsBack) {
  const auto image = guest("web.qcow2", {"--layout", "mbr", "--format", "qcow2"});
  const auto before = sha_of(image);
  LoopbackHttpServer server(repos->updating);
  add_library_and_sources(server.url(), repos->updating);
  auto r = patch({image.string()});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  auto report = json_output(r);
  EXPECT_EQ(schema_errors(source_dir() / "docs/patch.schema.json", report), "");
  const auto& p = report["images"][0];
  ASSERT_EQ(p["state"], "committed") << p.dump(2);
  EXPECT_EQ(p["verified"], true);
  EXPECT_EQ(p["old_sha256"], before);
  const auto after = sha_of(image);
  EXPECT_NE(after, before);
  EXPECT_EQ(p["new_sha256"], after);
  // The previous version is kept, byte for byte.
  ASSERT_FALSE(p["version_path"].is_null());
  EXPECT_EQ(sha_of(p["version_path"].get<std::string>()), before);
  expect_no_work_left();

  // Read the committed image back: every .deb of the plan, with the
  // repository's own hash, the unit, its .wants link and /system-update.
  image::OpenOptions open;
  open.allow_guestfs = false;
  auto opened = image::open_guest(image, open);
  auto& view = *opened.view;
  const std::string run = report["run"];
  const std::string dir = "/var/lib/dormant/offline-update/" + run;
  EXPECT_EQ(view.type_of("/system-update", false), image::FileType::symlink);
  EXPECT_EQ(view.type_of("/system-update", true), image::FileType::directory);
  auto debs = view.list_dir(dir + "/debs");
  ASSERT_TRUE(debs.has_value());
  const auto expected = repo_debs(repos->updating);
  std::size_t staged = 0;
  for (const auto& name : *debs) {
    ASSERT_TRUE(expected.contains(name)) << name;
    auto content = view.read_file(dir + "/debs/" + name, 64 << 20);
    ASSERT_TRUE(content.has_value()) << name;
    EXPECT_EQ(sha256_hex(*content), expected.at(name)) << name;
    ++staged;
  }
  EXPECT_EQ(staged, 3u);
  auto unit = view.read_file("/etc/systemd/system/dormant-offline-update.service", 1 << 20);
  ASSERT_TRUE(unit.has_value());
  EXPECT_NE(unit->find("ExecStart=/var/lib/dormant/offline-update/run-v1"), std::string::npos);
  EXPECT_EQ(
      view.type_of("/etc/systemd/system/system-update.target.wants/dormant-offline-update.service", true),
      image::FileType::regular);
  auto sums = view.read_file(dir + "/SHA256SUMS", 1 << 20);
  ASSERT_TRUE(sums.has_value());
  for (const auto& [name, sha] : expected)
    EXPECT_NE(sums->find(sha + "  " + name), std::string::npos) << name;
  auto script = view.read_file(dir + "/apply", 1 << 20);
  ASSERT_TRUE(script.has_value());
  opened = {};

  // The guest's scripts are valid POSIX sh (shellcheck: the reference linter).
  TempDir scripts;
  write_file(scripts.path() / "apply", *script);
  auto lint = run_process({"shellcheck", "-s", "sh", "-S", "warning", (scripts.path() / "apply").string()});
  EXPECT_EQ(lint.exit_code, 0) << lint.out << lint.err;

  // e2fsck on the committed image's partition.
  TempDir check;
  run_ok(
      {"qemu-img", "convert", "-f", "qcow2", "-O", "raw", image.string(), (check.path() / "d.raw").string()});
  run_ok({"dd", "if=" + (check.path() / "d.raw").string(), "of=" + (check.path() / "p1.raw").string(),
          "bs=512", "skip=2048", "status=none"});
  expect_fsck_clean(check.path() / "p1.raw");

  // The catalog: what was planned, staged and verified, and the run.
  EXPECT_EQ(sqlite_query(catalog(), "SELECT state, planned, staged, verified FROM patch_images"),
            "committed|3|3|1");
  EXPECT_EQ(sqlite_query(catalog(), "SELECT state FROM patch_runs"), "done");
  // Staged, not applied: the image's own dpkg database is unchanged until it boots.
  EXPECT_EQ(sqlite_query(catalog(), "SELECT state FROM assessments ORDER BY id DESC LIMIT 1"),
            "security-updates-pending");

  // A second patch refuses: the staged update is still pending in the guest.
  auto again = patch({image.string()});
  EXPECT_EQ(again.exit_code, 1);
  EXPECT_NE(failed_report(again)["images"][0]["reason"].get<std::string>().find("already staged"),
            std::string::npos);
  EXPECT_EQ(sha_of(image), after);

  // rollback: the previous bytes come back; the patched ones are kept in turn.
  auto back = cli({"rollback", image.string(), "--json"});
  ASSERT_EQ(back.exit_code, 0) << back.err;
  EXPECT_EQ(sha_of(image), before);
  auto versions = json_output(cli({"rollback", image.string(), "--list", "--json"}));
  ASSERT_EQ(versions.size(), 1u);
  EXPECT_EQ(sha_of(versions[0]["path"].get<std::string>()), after);
  ASSERT_EQ(cli({"rollback", image.string()}).exit_code, 0);
  EXPECT_EQ(sha_of(image), after);
}

TEST_F(CliPatch, AWrongPackageHashFailsTheImageAndLeavesItByteIdentical) {
  const auto image = guest("web.raw");
  const auto before = sha_of(image);
  LoopbackHttpServer server(repos->bad_hash);
  add_library_and_sources(server.url(), repos->bad_hash);
  auto r = patch({image.string()});
  EXPECT_EQ(r.exit_code, 1);
  const auto p = failed_report(r)["images"][0];
  EXPECT_EQ(p["state"], "failed");
  EXPECT_EQ(p["step"], "download");
  EXPECT_NE(p["reason"].get<std::string>().find("Hash Sum mismatch"), std::string::npos) << p.dump(2);
  EXPECT_EQ(sha_of(image), before);
  expect_no_work_left();
  // The file that failed verification is not kept anywhere in the cache.
  for (const auto& e : fs::recursive_directory_iterator(cache()))
    EXPECT_FALSE(e.path().filename().string().starts_with("tzdata_")) << e.path();
  EXPECT_EQ(sqlite_query(catalog(), "SELECT state FROM patch_images"), "failed");
}

// The repository loses its packages between the plan and the download (a
// mirror being replaced): the indexes still verify, the .debs of the main
// suite download, the security suite's are gone (404).
TEST_F(CliPatch, TheRepositoryGoingAwayMidDownloadFailsCleanly) {
  const auto image = guest("web.raw");
  const auto before = sha_of(image);
  const fs::path served = dir_.path() / "served";
  copy_apt_repo(repos->updating, served);
  LoopbackHttpServer server(served);
  add_library_and_sources(server.url(), repos->updating);
  ASSERT_EQ(patch({image.string(), "--dry-run"}).exit_code, 0);  // indexes fetched and verified
  fs::remove_all(served / "pool/bookworm-security");
  auto r = patch({image.string()});
  const auto p = failed_report(r)["images"][0];
  EXPECT_EQ(p["state"], "failed") << p.dump(2);
  EXPECT_EQ(p["step"], "download");
  EXPECT_NE(p["reason"].get<std::string>().find("tzdata"), std::string::npos) << p.dump(2);
  EXPECT_EQ(sha_of(image), before);
  expect_no_work_left();
  // Nothing half-downloaded is kept: only whole, verified files in the cache.
  for (const auto& e : fs::recursive_directory_iterator(cache() / "debs"))
    if (e.is_regular_file() && e.path().filename() != "lock") {  // apt's lock file
      EXPECT_EQ(e.path().extension(), ".deb") << e.path();
      EXPECT_NE(e.path().parent_path().filename(), "partial") << e.path();
    }
}

TEST_F(CliPatch, AGuestWithoutSystemdIsUnsupported) {
  const auto image = guest("old.raw", {"--no-systemd"});
  const auto before = sha_of(image);
  LoopbackHttpServer server(repos->updating);
  add_library_and_sources(server.url(), repos->updating);
  auto r = patch({image.string()});
  EXPECT_EQ(r.exit_code, 1);
  const auto p = failed_report(r)["images"][0];
  EXPECT_EQ(p["step"], "stage");
  EXPECT_NE(p["reason"].get<std::string>().find("no systemd offline-update support"), std::string::npos)
      << p.dump(2);
  EXPECT_EQ(sha_of(image), before);
  expect_no_work_left();
}

TEST_F(CliPatch, NotEnoughGuestSpaceIsFoundBeforeAnythingIsWritten) {
  const auto image = guest("full.raw", {"--size", "96", "--filler", "40"});
  const auto before = sha_of(image);
  LoopbackHttpServer server(repos->updating);
  add_library_and_sources(server.url(), repos->updating);
  auto r = patch({image.string()});
  EXPECT_EQ(r.exit_code, 1);
  const auto p = failed_report(r)["images"][0];
  EXPECT_EQ(p["step"], "stage");
  EXPECT_NE(p["reason"].get<std::string>().find("not enough free space in the guest"), std::string::npos)
      << p.dump(2);
  EXPECT_TRUE(p["staged"].empty());
  EXPECT_EQ(sha_of(image), before);
  expect_no_work_left();
}

TEST_F(CliPatch, ADirtyJournalIsRefusedOrReplayedOnTheOverlay) {
  const auto image = guest("crashed.raw", {"--dirty-journal"});
  const auto before = sha_of(image);
  LoopbackHttpServer server(repos->updating);
  add_library_and_sources(server.url(), repos->updating);
  auto refused = patch({image.string()});
  EXPECT_EQ(refused.exit_code, 1);
  const auto p = failed_report(refused)["images"][0];
  EXPECT_EQ(p["step"], "stage");
  EXPECT_NE(p["reason"].get<std::string>().find("needs recovery"), std::string::npos) << p.dump(2);
  EXPECT_NE(p["reason"].get<std::string>().find("--replay-journal"), std::string::npos) << p.dump(2);
  EXPECT_EQ(sha_of(image), before);
  expect_no_work_left();

  auto replayed = patch({image.string(), "--replay-journal"});
  ASSERT_EQ(replayed.exit_code, 0) << replayed.out << replayed.err;
  EXPECT_EQ(json_output(replayed)["images"][0]["state"], "committed");
  // The committed image's journal is clean and its filesystem checks clean;
  // the kept version is the untouched original (journal still dirty).
  auto header = run_process({"dumpe2fs", "-h", image.string()});
  EXPECT_EQ(header.out.find("needs_recovery"), std::string::npos) << header.out;
  expect_fsck_clean(image);
  const auto versions = json_output(cli({"rollback", image.string(), "--list", "--json"}));
  ASSERT_EQ(versions.size(), 1u);
  EXPECT_EQ(sha_of(versions[0]["path"].get<std::string>()), before);
}

// The host filesystem fills up while the run writes the overlay or the new
// image: the library sits on a small tmpfs that another writer fills as soon
// as the run's overlay appears.
TEST_F(CliPatch, TheHostDiskFillingUpMidRunFailsCleanly) {
  const fs::path mnt = dir_.path() / "small";
  fs::create_directories(mnt);
  if (::mount("tmpfs", mnt.c_str(), "tmpfs", 0, "size=160m") != 0)
    GTEST_SKIP() << "cannot mount a tmpfs here (needs root): " << std::strerror(errno);
  struct Unmount {
    fs::path p;
    ~Unmount() { ::umount2(p.c_str(), MNT_DETACH); }
  } unmount{mnt};
  library_ = mnt / "library";
  fs::create_directories(library_);
  const auto image = guest("web.raw");
  const auto before = sha_of(image);
  LoopbackHttpServer server(repos->updating);
  add_library_and_sources(server.url(), repos->updating);
  ASSERT_EQ(patch({image.string(), "--dry-run"}).exit_code, 0);

  std::atomic<bool> filled{false};
  std::thread filler([&] {
    for (int i = 0; i < 6000 && !filled; ++i) {
      // As soon as the overlay exists: the staging writes (through qemu-nbd)
      // or the new image of the commit run into ENOSPC.
      std::error_code ec;
      bool overlay = false;
      for (fs::recursive_directory_iterator it(library_ / ".dormant-work", ec), end; !ec && it != end;
           it.increment(ec))
        if (it->path().filename() == "overlay.qcow2") overlay = true;
      if (overlay) {
        run_process({"fallocate", "-l", "1G", (mnt / "filler").string()});          // fails: too big
        run_process({"sh", "-c", "cat /dev/zero > " + (mnt / "filler").string()});  // fills it
        filled = true;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
  });
  auto r = patch({image.string(), "--offline"});
  filled = true;
  filler.join();
  fs::remove(mnt / "filler");
  const auto p = failed_report(r)["images"][0];
  EXPECT_EQ(p["state"], "failed") << p.dump(2);
  std::cerr << "disk full: failed at " << p["step"] << ": " << p["reason"] << "\n";
  EXPECT_EQ(sha_of(image), before);
  expect_no_work_left();
}

// SIGKILL after each step's record: the library image is byte-identical
// before the commit and the new version (with the old one kept) after it;
// the next run removes the work directory and marks the run abandoned.
class CliPatchKilled : public CliPatch, public ::testing::WithParamInterface<std::string> {};

TEST_P(CliPatchKilled, LeavesTheImageWholeAndTheNextRunCleansUp) {
  const auto image = guest("web.raw");
  const auto before = sha_of(image);
  LoopbackHttpServer server(repos->updating);
  add_library_and_sources(server.url(), repos->updating);
  ASSERT_EQ(::setenv("DORMANT_TEST_KILL_AT", GetParam().c_str(), 1), 0);
  auto killed = patch({image.string()});
  ::unsetenv("DORMANT_TEST_KILL_AT");
  EXPECT_EQ(killed.exit_code, -1) << "expected SIGKILL at " << GetParam() << "\n" << killed.err;
  if (GetParam() == "committed") {
    EXPECT_NE(sha_of(image), before);
    ASSERT_TRUE(fs::exists(library_ / ".dormant-versions"));
  } else {
    EXPECT_EQ(sha_of(image), before);
  }
  // No qemu-nbd or qemu-storage-daemon of the run outlives it (they end on
  // their own once the killed run's sockets close).
  EXPECT_EQ(processes_left(library_.string(), std::chrono::seconds(10)), "") << "processes left";

  ASSERT_EQ(patch({image.string(), "--dry-run", "--offline"}).exit_code, 0);
  expect_no_work_left();
  EXPECT_EQ(sqlite_query(catalog(), "SELECT state FROM patch_runs"), "abandoned");
}

INSTANTIATE_TEST_SUITE_P(Steps, CliPatchKilled,
                         ::testing::Values("planned", "downloaded", "staged", "verified", "flattened",
                                           "committed"),
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace dormant::testing
