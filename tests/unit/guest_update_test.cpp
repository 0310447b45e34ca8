// What dormant writes into a guest for an offline update: the unit, the
// launcher and the apply script (checked with sh -n and shellcheck, the
// reference tools), and the parser of the result file the guest writes back
// (hostile input).
#include "../../src/patch/guest_update.hpp"

#include <gtest/gtest.h>

#include "support/test_support.hpp"

namespace dormant::patch::guest {
namespace {

void expect_valid_sh(const std::string& script) {
  testing::TempDir dir;
  const auto path = dir.path() / "script.sh";
  testing::write_file(path, script);
  auto syntax = run_process({"sh", "-n", path.string()});
  EXPECT_EQ(syntax.exit_code, 0) << syntax.err;
  auto lint = run_process({"shellcheck", "-s", "sh", "-S", "warning", path.string()});
  EXPECT_EQ(lint.exit_code, 0) << lint.out << lint.err;
}

TEST(GuestUpdate, ScriptsAreValidPosixSh) {
  expect_valid_sh(launcher_text());
  expect_valid_sh(apply_script("20261129T101500Z-42"));
}

TEST(GuestUpdate, TheUnitIsAnOfflineUpdateUnit) {
  const auto unit = unit_text();
  for (const char* line :
       {"DefaultDependencies=no", "Requires=sysinit.target", "After=sysinit.target system-update-pre.target",
        "Before=shutdown.target system-update.target", "Type=oneshot", "FailureAction=reboot",
        "ExecStart=/var/lib/dormant/offline-update/run-v1"})
    EXPECT_NE(unit.find(line), std::string::npos) << line;
  EXPECT_EQ(unit.find("[Install]"), std::string::npos) << "pulled in only by system-update.target.wants";
}

TEST(GuestUpdate, TheApplyScriptRemovesTheLinkBeforeAnythingElse) {
  const auto script = apply_script("r1");
  const auto rm = script.find("rm -f /system-update");
  ASSERT_NE(rm, std::string::npos);
  EXPECT_LT(rm, script.find("sha256sum"));
  EXPECT_LT(rm, script.find("apt-get install"));
  EXPECT_NE(script.find("--force-confold"), std::string::npos);
  EXPECT_EQ(script.find("--no-download"), std::string::npos);
}

TEST(GuestUpdate, ParsesTheResultFile) {
  auto r = parse_result(
      "run=r1\nstarted=2026-11-29T10:00:00Z\napt_exit=0\nstatus=success\nfinished=2026-11-29T10:02:00Z\n"
      "installed hostname:amd64 3.23+nmu1+dormant1 ii \ninstalled dormant-canary:all 1.0-1 ii \n");
  EXPECT_EQ(r.run, "r1");
  EXPECT_EQ(r.status, "success");
  EXPECT_EQ(r.apt_exit, 0);
  ASSERT_EQ(r.installed.size(), 2u);
  EXPECT_EQ(r.installed["hostname:amd64"].version, "3.23+nmu1+dormant1");
  EXPECT_EQ(r.installed["dormant-canary:all"].status, "ii ");
}

TEST(GuestUpdate, HostileResultFilesParseToSomethingHarmless) {
  auto r = parse_result("status=failed-apt\napt_exit=12abc\ninstalled\ninstalled x\n\n=\nno equals sign\n");
  EXPECT_EQ(r.status, "failed-apt");
  EXPECT_FALSE(r.apt_exit.has_value());
  EXPECT_TRUE(r.installed.empty());
  EXPECT_EQ(parse_result(std::string(1 << 20, '\n')).status, "");
  EXPECT_EQ(parse_result(std::string("status=") + std::string(10000, 'x')).status.size(), 10000u);
}

}  // namespace
}  // namespace dormant::patch::guest
