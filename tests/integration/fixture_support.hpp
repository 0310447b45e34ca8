// Shared helpers for the integration tier: the fixture manifest written by
// tests/fixtures/make-images.sh, expected values computed from the tree an
// image was made from (with the reference tools: dpkg-query, sh), and running
// the dormant CLI. TempDir, source_dir() and the other helpers every tier
// shares are in support/test_support.hpp.
#pragma once

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <filesystem>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "dormant/core/subprocess.hpp"
#include "support/test_support.hpp"

namespace dormant::testing {

// The images of the matrix that must inspect successfully, and the hostile
// ones that must fail. Listed in code (not read from the manifest) so that
// gtest discovery works before the fixtures exist; a test checks that the
// manifest lists exactly these.
extern const std::vector<std::string> kGoodImages;
extern const std::vector<std::string> kHostileImages;

// $DORMANT_FIXTURES, else /var/cache/dormant-fixtures/images.
std::filesystem::path fixtures_dir();

// The parsed manifest.json; throws std::runtime_error naming the command that
// builds the fixtures when it is missing.
const nlohmann::json& manifest();

// The manifest entry whose "file" is `file`; throws when absent.
const nlohmann::json& manifest_entry(std::string_view file);

// Absolute path of an image / of the tree an entry was made from.
std::filesystem::path image_path(const nlohmann::json& entry);
std::filesystem::path tree_path(const nlohmann::json& entry);

// One dpkg-query row, in the order of inspect::Package.
struct ExpectedPackage {
  std::string name, version, arch, source, source_version, status, want;
  auto operator<=>(const ExpectedPackage&) const = default;
};

struct ExpectedGuest {
  std::vector<ExpectedPackage> packages;  // sorted
  std::map<std::string, std::string> os_release;  // ID, VERSION_ID, PRETTY_NAME, VERSION_CODENAME
  std::string debian_version;
  std::string hostname;
  std::string arch;                  // Architecture of the tree's dpkg package
  std::vector<std::string> kernels;  // sorted, unique
};

// Computes what inspecting an image made from `tree` must find, from the tree
// itself with the reference tools (never hard-coded).
ExpectedGuest expected_from_tree(const std::filesystem::path& tree);

// Text of first differences between two sorted package lists (empty when equal).
std::string describe_package_diff(const std::vector<ExpectedPackage>& expected,
                                  const std::vector<ExpectedPackage>& actual);

// Runs the dormant CLI built with the tests.
ProcessResult run_cli(const std::vector<std::string>& args,
                      std::chrono::milliseconds timeout = std::chrono::seconds(120));

// The python3 that has the jsonschema module (Debian's python3-jsonschema).
std::string python_with_jsonschema();

// Validates `document` against the JSON Schema file with python3-jsonschema;
// returns "" when valid, else the validator's messages.
std::string schema_errors(const std::filesystem::path& schema, const nlohmann::json& document);

bool contains_icase(std::string_view haystack, std::string_view needle);

// A gtest parameter name for a fixture file name: every character that is
// not alphanumeric becomes '_'.
std::string test_name(const ::testing::TestParamInfo<std::string>& info);

}  // namespace dormant::testing
