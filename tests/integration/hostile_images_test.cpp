// Hostile and damaged images: each must fail with the documented ErrorKind and
// a message that names the image and the problem, never crash, and never make
// the host read a file outside the library.
#include <gtest/gtest.h>

#include <string>

#include "dormant/core/error.hpp"
#include "dormant/image/probe.hpp"
#include "dormant/inspect/inspection.hpp"
#include "fixture_support.hpp"

namespace dormant::testing {
namespace {

namespace fs = std::filesystem;

ErrorKind kind_from_string(const std::string& name) {
  for (auto kind : {ErrorKind::usage, ErrorKind::not_found, ErrorKind::unsupported, ErrorKind::hostile,
                    ErrorKind::corrupt, ErrorKind::limit, ErrorKind::io, ErrorKind::conflict, ErrorKind::internal}) {
    if (to_string(kind) == name) return kind;
  }
  throw std::runtime_error("manifest names an unknown error kind: " + name);
}

class HostileImage : public ::testing::TestWithParam<std::string> {};

TEST_P(HostileImage, FailsWithTheRightKindAndAClearMessage) {
  const auto& entry = manifest_entry(GetParam());
  ASSERT_EQ(entry.at("expect"), "error");
  auto image = image_path(entry);
  auto expected_kind = kind_from_string(entry.at("error_kind"));

  try {
    image::OpenOptions options;
    options.allow_guestfs = false;  // the fast path must decide; the appliance is the slow tier's
    auto got = inspect::inspect_image(image, options);
    FAIL() << image << " was inspected without error (" << got.packages.size() << " packages, os "
           << got.os.id << ")";
  } catch (const Error& e) {
    std::string text = e.what();
    EXPECT_EQ(to_string(e.kind()), to_string(expected_kind)) << text;
    EXPECT_NE(text.find(image.filename().string()), std::string::npos)
        << "the message does not name the image: " << text;
    bool names_problem = false;
    for (const auto& word : entry.at("message_any")) {
      names_problem = names_problem || contains_icase(text + " " + e.cause(), word.get<std::string>());
    }
    EXPECT_TRUE(names_problem) << "the message does not name the problem (any of " << entry.at("message_any")
                               << "): " << text;
  } catch (const std::exception& e) {
    FAIL() << "not a dormant::Error: " << e.what();
  }
}

INSTANTIATE_TEST_SUITE_P(Fixtures, HostileImage, ::testing::ValuesIn(kHostileImages), test_name);

// An image that references a host file outside the library must be refused by
// the probe, before any qemu-nbd starts or a byte of content is read: the
// refusal comes from probe_image itself. (cli_inspect_test.cpp also traces
// the CLI to prove no process opened the file.)
class OutsideReference : public ::testing::TestWithParam<std::string> {};

TEST_P(OutsideReference, IsRefusedByTheProbe) {
  const auto& entry = manifest_entry(GetParam());
  auto image = image_path(entry);
  try {
    image::probe_image(image);
    FAIL() << "probe_image accepted " << image;
  } catch (const Error& e) {
    EXPECT_EQ(to_string(e.kind()), "hostile") << e.what();
    EXPECT_NE(std::string(e.what()).find(entry.at("outside_file").get<std::string>()), std::string::npos)
        << "the message should name the outside file: " << e.what();
  }
}

INSTANTIATE_TEST_SUITE_P(Fixtures, OutsideReference,
                         ::testing::Values("hostile/backing-etc-passwd.qcow2", "hostile/extent-etc-passwd.vmdk"),
                         test_name);

// Allowing the hostile directory as a root does not make /etc/passwd allowed.
TEST(OutsideReference, StaysRefusedWithExplicitRoots) {
  image::ProbeOptions options;
  options.allowed_roots = {fixtures_dir()};
  for (const char* file : {"hostile/backing-etc-passwd.qcow2", "hostile/extent-etc-passwd.vmdk"}) {
    try {
      image::probe_image(fixtures_dir() / file, options);
      ADD_FAILURE() << "probe_image accepted " << file;
    } catch (const Error& e) {
      EXPECT_EQ(to_string(e.kind()), "hostile") << e.what();
    }
  }
}

// The image itself must lie inside the allowed roots too.
TEST(OutsideReference, ImageOutsideTheRootsIsRefused) {
  TempDir elsewhere;
  image::ProbeOptions options;
  options.allowed_roots = {elsewhere.path()};
  try {
    image::probe_image(fixtures_dir() / "mbr-ext4.qcow2", options);
    FAIL() << "an image outside the allowed roots was accepted";
  } catch (const Error& e) {
    EXPECT_EQ(to_string(e.kind()), "hostile") << e.what();
  }
}

}  // namespace
}  // namespace dormant::testing
