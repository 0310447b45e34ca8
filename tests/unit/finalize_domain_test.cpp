// The --finalize domain XML and kernel choice (src/patch/finalize_*.hpp),
// checked by parsing the XML with xmllint (the reference XML parser on the
// host) and by the rules the memo lists: no NIC, ACPI, every lifecycle event
// destroys, the backing chain with pinned formats, no DAC relabelling.
#include "../../src/patch/finalize_domain.hpp"

#include <gtest/gtest.h>

#include "../../src/patch/finalize_guest.hpp"
#include "dormant/core/error.hpp"
#include "support/test_support.hpp"

namespace dormant::patch::detail {
namespace {

using dormant::testing::TempDir;
using dormant::testing::write_file;

DomainSpec spec() {
  DomainSpec s;
  s.name = "dormant-finalize-run1-img1";
  s.memory_mib = 768;
  s.kernel = "/w/vmlinuz";
  s.initrd = "/w/initrd.img";
  s.cmdline = kernel_cmdline("3b8a6c5e-6f1d-4c1a-9a52-0d3f7e1a0001");
  s.disk_chain = {{"/w/over lay&1.qcow2", "qcow2"}, {"/lib/mid.qcow2", "qcow2"}, {"/lib/base.raw", "raw"}};
  s.console_log = "/w/console.log";
  return s;
}

// xmllint --xpath on the XML (its value without the final newline); "" when it fails.
std::string xpath(const std::string& xml, const std::string& expression) {
  TempDir dir("finalize-xml");
  write_file(dir.path() / "d.xml", xml);
  ProcessResult r = run_process({"xmllint", "--xpath", expression, (dir.path() / "d.xml").string()});
  if (r.exit_code != 0) return "";
  if (!r.out.empty() && r.out.back() == '\n') r.out.pop_back();
  return r.out;
}

TEST(FinalizeDomainXml, ParsesAndHasTheSafetyRules) {
  const std::string xml = domain_xml(spec());
  TempDir dir("finalize-xml");
  write_file(dir.path() / "d.xml", xml);
  ASSERT_EQ(run_process({"xmllint", "--noout", (dir.path() / "d.xml").string()}).exit_code, 0) << xml;

  EXPECT_EQ(xpath(xml, "string(/domain/@type)"), "qemu");
  EXPECT_EQ(xpath(xml, "string(/domain/name)"), "dormant-finalize-run1-img1");
  EXPECT_EQ(xpath(xml, "count(//interface)"), "0");  // no network device at all
  EXPECT_EQ(xpath(xml, "count(/domain/features/acpi)"), "1");
  for (const char* event : {"on_poweroff", "on_reboot", "on_crash"})
    EXPECT_EQ(xpath(xml, std::string("string(/domain/") + event + ")"), "destroy") << event;
  EXPECT_EQ(xpath(xml, "string(/domain/os/type/@machine)"), "pc");
  EXPECT_EQ(xpath(xml, "string(/domain/os/kernel)"), "/w/vmlinuz");
  EXPECT_EQ(xpath(xml, "string(/domain/os/initrd)"), "/w/initrd.img");
  EXPECT_EQ(xpath(xml, "string(/domain/os/cmdline)"),
            "root=UUID=3b8a6c5e-6f1d-4c1a-9a52-0d3f7e1a0001 rw console=ttyS0,115200 panic=-1");
  EXPECT_EQ(xpath(xml, "string(//memballoon/@model)"), "none");
  EXPECT_EQ(xpath(xml, "string(//serial/@type)"), "file");
  EXPECT_EQ(xpath(xml, "string(//serial/source/@path)"), "/w/console.log");
  EXPECT_EQ(xpath(xml, "string(/domain/memory)"), "768");
  // DAC: static root label and no relabelling, so no image of the chain changes owner.
  EXPECT_EQ(xpath(xml, "string(/domain/seclabel/@model)"), "dac");
  EXPECT_EQ(xpath(xml, "string(/domain/seclabel/@relabel)"), "no");
}

TEST(FinalizeDomainXml, SpellsOutTheBackingChainWithPinnedFormats) {
  const std::string xml = domain_xml(spec());
  EXPECT_EQ(xpath(xml, "string(//disk/driver/@type)"), "qcow2");
  // The escaped name comes back unchanged through a real XML parser.
  EXPECT_EQ(xpath(xml, "string(//disk/source/@file)"), "/w/over lay&1.qcow2");
  EXPECT_EQ(xpath(xml, "string(//disk/backingStore/format/@type)"), "qcow2");
  EXPECT_EQ(xpath(xml, "string(//disk/backingStore/source/@file)"), "/lib/mid.qcow2");
  EXPECT_EQ(xpath(xml, "string(//disk/backingStore/backingStore/format/@type)"), "raw");
  EXPECT_EQ(xpath(xml, "string(//disk/backingStore/backingStore/source/@file)"), "/lib/base.raw");
  // The chain is closed: an empty <backingStore/> so libvirt probes nothing.
  EXPECT_EQ(xpath(xml, "count(//disk/backingStore/backingStore/backingStore/*)"), "0");
  EXPECT_EQ(xpath(xml, "count(//disk/backingStore/backingStore/backingStore)"), "1");
}

TEST(FinalizeDomainXml, RefusesIncompleteSpecsAndHostileUuids) {
  DomainSpec s = spec();
  s.disk_chain.clear();
  EXPECT_THROW(domain_xml(s), Error);
  try {
    kernel_cmdline("x init=/bin/sh");
    FAIL() << "accepted a hostile UUID";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::hostile);
  }
  EXPECT_THROW(kernel_cmdline("3b8a6c5e-6f1d-4c1a-9a52-0d3f7e1a000"), Error);
}

TEST(FinalizeKernelChoice, NewestKernelWithAnInitrd) {
  auto pair = choose_kernel({"config-6.1.0-50-amd64", "vmlinuz-6.1.0-9-amd64", "initrd.img-6.1.0-9-amd64",
                             "vmlinuz-6.1.0-50-amd64", "initrd.img-6.1.0-50-amd64",
                             "vmlinuz-6.1.0-51-amd64",  // newer, but no initrd
                             "System.map-6.1.0-50-amd64"});
  ASSERT_TRUE(pair);
  // Debian version order: 50 > 9 (a string compare would pick 9).
  EXPECT_EQ(pair->kernel, "/boot/vmlinuz-6.1.0-50-amd64");
  EXPECT_EQ(pair->initrd, "/boot/initrd.img-6.1.0-50-amd64");
  EXPECT_FALSE(choose_kernel({"vmlinuz-6.1.0-51-amd64", "grub"}));
  EXPECT_FALSE(choose_kernel({}));
}

}  // namespace
}  // namespace dormant::patch::detail
