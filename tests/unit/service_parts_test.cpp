// The parts of --mode service that run without a host
// (src/patch/service_domain.hpp, service_repo.hpp; core/base64.hpp):
// the domain XML checked by libvirt's own schema (virt-xml-validate) and
// xmllint, the guest script by shellcheck, its output parser on hostile
// text, and base64 against coreutils' base64.
#include <gtest/gtest.h>

#include "../../src/patch/service_domain.hpp"
#include "../../src/patch/service_repo.hpp"
#include "dormant/core/base64.hpp"
#include "dormant/core/error.hpp"
#include "support/test_support.hpp"

namespace dormant::patch::detail {
namespace {

using dormant::testing::TempDir;
using dormant::testing::write_file;

ServiceDomainSpec spec() {
  ServiceDomainSpec s;
  s.name = "dormant-service-20261129T091904Z-2581-7";
  s.memory_mib = 768;
  s.disk = "/pool/dormant-x-disk.qcow2";
  s.repo = "/pool/dormant-x-repo&.img";
  s.kernel = "/pool/dormant-x-vmlinuz";
  s.initrd = "/pool/dormant-x-initrd.img";
  s.cmdline = "root=UUID=3b8a6c5e-6f1d-4c1a-9a52-0d3f7e1a0001 rw";
  return s;
}

std::string xpath(const TempDir& dir, const std::string& expression) {
  ProcessResult r = run_process({"xmllint", "--xpath", expression, (dir.path() / "d.xml").string()});
  if (r.exit_code != 0) return "";
  if (!r.out.empty() && r.out.back() == '\n') r.out.pop_back();
  return r.out;
}

TEST(ServiceDomainXml, IsValidLibvirtXmlWithNoNetworkAndTheAgentChannel) {
  TempDir dir("service-xml");
  write_file(dir.path() / "d.xml", service_domain_xml(spec()));
  auto valid = run_process({"virt-xml-validate", (dir.path() / "d.xml").string(), "domain"});
  EXPECT_EQ(valid.exit_code, 0) << valid.out << valid.err;
  EXPECT_EQ(xpath(dir, "string(/domain/@type)"), "qemu");
  EXPECT_EQ(xpath(dir, "count(//interface)"), "0");
  EXPECT_EQ(xpath(dir, "string(//channel/target/@name)"), "org.qemu.guest_agent.0");
  EXPECT_EQ(xpath(dir, "count(//disk)"), "2");
  EXPECT_EQ(xpath(dir, "string(//disk[target/@dev='vda']/driver/@type)"), "qcow2");
  EXPECT_EQ(xpath(dir, "count(//disk[target/@dev='vda']/readonly)"), "0");
  // The repository disk: read-only, found in the guest by its serial.
  EXPECT_EQ(xpath(dir, "count(//disk[target/@dev='vdb']/readonly)"), "1");
  EXPECT_EQ(xpath(dir, "string(//disk[target/@dev='vdb']/serial)"), "dormant-repo");
  EXPECT_EQ(xpath(dir, "string(//disk[target/@dev='vdb']/source/@file)"), "/pool/dormant-x-repo&.img");
  EXPECT_EQ(xpath(dir, "string(/domain/on_reboot)"), "restart");
  EXPECT_EQ(xpath(dir, "string(/domain/on_poweroff)"), "destroy");
  EXPECT_EQ(xpath(dir, "count(/domain/features/acpi)"), "1");
  EXPECT_EQ(xpath(dir, "string(/domain/seclabel/@relabel)"), "no");
  EXPECT_EQ(xpath(dir, "string(/domain/memory)"), "768");
}

TEST(ServiceDomainXml, AnIncompleteSpecIsAUsageError) {
  auto s = spec();
  s.repo.clear();
  try {
    service_domain_xml(s);
    FAIL() << "accepted a domain without the repository disk";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::usage);
  }
}

TEST(ServiceScript, PassesShellcheckAsPosixSh) {
  TempDir dir("service-script");
  write_file(dir.path() / "script.sh", "#!/bin/sh\n" + service_script("20261129T091904Z-2581"));
  auto r = run_process({"shellcheck", "-s", "sh", (dir.path() / "script.sh").string()});
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
}

TEST(ServiceOutput, ReadsTheRoundAndIgnoresNoise) {
  const auto round = parse_service_output(
      "run=r1\ninterfaces=0\nGet:1 file:/run/dormant-service ./ Packages\nstatus=garbage-before\n"
      "apt_exit=0\npending=0\nreboot_required=yes\ninstalled hostname:amd64 3.23+nmu1+dormant1 ii \n"
      "pending=not-a-number-keeps-the-last?\nstatus=success\n");
  EXPECT_EQ(round.status, "success");  // the last status line counts
  EXPECT_EQ(round.apt_exit, 0);
  EXPECT_EQ(round.pending, -1);  // an unreadable value is unknown, not zero
  EXPECT_TRUE(round.reboot_required);
  EXPECT_EQ(round.interfaces, 0);
  ASSERT_EQ(round.installed.size(), 1U);
  EXPECT_EQ(round.installed[0], "hostname:amd64 3.23+nmu1+dormant1 ii ");
  const auto empty = parse_service_output(std::string(1 << 20, '\0'));
  EXPECT_EQ(empty.status, "");
  EXPECT_EQ(empty.pending, -1);
}

TEST(Base64, AgreesWithCoreutils) {
  TempDir dir("base64");
  for (std::string data : {std::string(), std::string("a"), std::string("ab"), std::string("abc"),
                           std::string("\0\xff\x10 guest output\n", 18)}) {
    write_file(dir.path() / "in", data);
    auto r = run_process({"base64", "-w0", (dir.path() / "in").string()});
    ASSERT_EQ(r.exit_code, 0);
    EXPECT_EQ(base64_encode(data), r.out);
    auto decoded = base64_decode(r.out);
    ASSERT_TRUE(decoded);
    EXPECT_EQ(*decoded, data);
  }
  EXPECT_FALSE(base64_decode("abc"));   // not a multiple of 4
  EXPECT_FALSE(base64_decode("ab!d"));  // not the alphabet
}

}  // namespace
}  // namespace dormant::patch::detail
