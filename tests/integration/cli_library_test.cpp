// `dormant library`, `identify` and `group` end to end over a library made of
// copies of the fixture matrix, with a fresh catalog per test.
#include <gtest/gtest.h>

#include <map>
#include <set>
#include <string>

#include "fixture_support.hpp"

namespace dormant::testing {
namespace {

namespace fs = std::filesystem;

// Small images of the matrix (the 2 GB full image is left out to keep the copy
// cheap), plus one that cannot be inspected: the scan must go on past it.
const std::vector<std::string> kLibraryImages = {
    "mbr-ext4.qcow2", "mbr-logical-ext4.vmdk", "gpt-vfat-ext4.vhdx", "gpt4k-ext4.vpc",       "ext2-whole.qcow2",
    "mbr-ext3.raw",   "gpt-multifs.qcow2",     "backing-base.qcow2", "backing-overlay.qcow2",
};
const char* kUninspectable = "hostile/no-linux-root.qcow2";

class CliLibrary : public ::testing::Test {
 protected:
  void SetUp() override {
    library_ = dir_.path() / "library";
    fs::create_directories(library_);
    for (const auto& file : kLibraryImages) copy(file);
    copy(kUninspectable);
  }

  void copy(const std::string& file) {
    run_ok({"cp", "--sparse=always", "--reflink=auto", (fixtures_dir() / file).string(),
            (library_ / fs::path(file).filename()).string()});
  }

  ProcessResult cli(std::vector<std::string> args) {
    args.insert(args.begin(), {"--catalog", (dir_.path() / "catalog.db").string()});
    return run_cli(args, std::chrono::seconds(300));
  }

  nlohmann::json cli_json(std::vector<std::string> args) { return json_output(cli(args)); }

  static std::map<std::string, nlohmann::json> by_file(const nlohmann::json& images) {
    std::map<std::string, nlohmann::json> out;
    for (const auto& image : images) out[fs::path(image.at("path").get<std::string>()).filename()] = image;
    return out;
  }

  TempDir dir_;
  fs::path library_;
};

TEST_F(CliLibrary, IdentifyRecordsEveryImageAndRescansOnlyChangedOnes) {
  auto add = cli({"library", "add", library_.string(), "--name", "matrix"});
  ASSERT_EQ(add.exit_code, 0) << add.err;

  auto report = cli_json({"identify", "--json", "--jobs", "2", "--no-guestfs"});
  ASSERT_TRUE(report.contains("images")) << report.dump();
  auto schema = source_dir() / "docs/identify.schema.json";
  if (fs::exists(schema)) {
    EXPECT_EQ(schema_errors(schema, report), "");
  }

  auto images = by_file(report["images"]);
  EXPECT_EQ(images.size(), kLibraryImages.size() + 1);
  for (const auto& file : kLibraryImages) {
    auto name = fs::path(file).filename().string();
    ASSERT_TRUE(images.count(name)) << name << " missing from identify";
    const auto& image = images[name];
    auto expected = expected_from_tree(tree_path(manifest_entry(file)));
    EXPECT_EQ(image.value("state", nlohmann::json()), "ok") << name << ": " << image.dump();
    EXPECT_EQ(image.value("outcome", ""), "added") << name;
    EXPECT_EQ(image["package_count"], expected.packages.size()) << name;
    EXPECT_EQ(image["os"]["id"], expected.os_release["ID"]) << name;
    EXPECT_EQ(image["hostname"], expected.hostname) << name;
    EXPECT_EQ(image["format"], manifest_entry(file).at("format")) << name;
  }
  auto bad = fs::path(kUninspectable).filename().string();
  ASSERT_TRUE(images.count(bad));
  EXPECT_NE(images[bad].value("state", nlohmann::json()), "ok") << images[bad].dump();
  EXPECT_FALSE(images[bad].value("reason", nlohmann::json()).is_null()) << "an uninspectable image needs a reason";
  EXPECT_EQ(report["summary"]["new"], kLibraryImages.size() + 1);
  EXPECT_EQ(report["summary"]["errors"], 1);

  // Nothing changed: nothing is inspected again.
  auto again = cli_json({"identify", "--json"});
  EXPECT_EQ(again["summary"]["unchanged"], kLibraryImages.size() + 1) << again["summary"];
  EXPECT_EQ(again["summary"]["inspected"], 0) << again["summary"];

  // Rewriting one file changes its identity; a removed one becomes missing.
  ASSERT_EQ(run_process({"touch", (library_ / "mbr-ext3.raw").string()}).exit_code, 0);
  fs::remove(library_ / "ext2-whole.qcow2");
  auto third = cli_json({"identify", "--json"});
  EXPECT_EQ(third["summary"]["changed"], 1) << third["summary"];
  EXPECT_EQ(third["summary"]["missing"], 1) << third["summary"];
  EXPECT_EQ(third["summary"]["inspected"], 1) << third["summary"];
}

TEST_F(CliLibrary, LibraryListAndErrors) {
  ASSERT_EQ(cli({"library", "add", library_.string(), "--name", "matrix"}).exit_code, 0);
  auto list = cli_json({"library", "list", "--json"});
  ASSERT_EQ(list.size(), 1u) << list.dump();
  EXPECT_EQ(list[0]["name"], "matrix");
  EXPECT_EQ(fs::weakly_canonical(list[0]["path"].get<std::string>()), fs::weakly_canonical(library_));

  auto table = cli({"library", "list"});
  EXPECT_EQ(table.exit_code, 0);
  EXPECT_NE(table.out.find("matrix"), std::string::npos) << table.out;

  auto again = cli({"library", "add", library_.string(), "--name", "matrix"});
  EXPECT_EQ(again.exit_code, 7) << again.err;
  EXPECT_NE(again.err.find("matrix"), std::string::npos) << again.err;
  auto missing = cli({"library", "add", (dir_.path() / "nope").string()});
  EXPECT_EQ(missing.exit_code, 3) << missing.err;
  EXPECT_NE(missing.err.find("nope"), std::string::npos) << missing.err;
}

TEST_F(CliLibrary, GroupsByGlobAndByHand) {
  ASSERT_EQ(cli({"library", "add", library_.string(), "--name", "matrix"}).exit_code, 0);
  ASSERT_EQ(cli({"identify", "--no-guestfs"}).exit_code, 0);

  auto create = cli({"group", "create", "web", "--match", "*qcow2*"});
  ASSERT_EQ(create.exit_code, 0) << create.err;
  auto show = cli_json({"group", "show", "web", "--json"});
  ASSERT_TRUE(show.contains("images")) << show.dump();
  std::set<std::string> members;
  for (const auto& image : show["images"]) members.insert(fs::path(image.at("path").get<std::string>()).filename());
  std::set<std::string> expected;
  for (const auto& file : kLibraryImages) {
    if (file.find("qcow2") != std::string::npos) expected.insert(fs::path(file).filename());
  }
  expected.insert(fs::path(kUninspectable).filename());
  EXPECT_EQ(members, expected);

  auto add = cli({"group", "add", "web", (library_ / "gpt4k-ext4.vpc").string()});
  EXPECT_EQ(add.exit_code, 0) << add.err;
  auto show2 = cli_json({"group", "show", "web", "--json"});
  bool has_vpc = false;
  for (const auto& image : show2["images"]) has_vpc = has_vpc || image["path"].get<std::string>().ends_with(".vpc");
  EXPECT_TRUE(has_vpc) << show2.dump();

  auto list = cli({"group", "list"});
  EXPECT_EQ(list.exit_code, 0);
  EXPECT_NE(list.out.find("web"), std::string::npos) << list.out;
  auto table = cli({"group", "show", "web"});
  EXPECT_EQ(table.exit_code, 0);
  EXPECT_NE(table.out.find("mbr-ext4.qcow2"), std::string::npos) << table.out;

  EXPECT_EQ(cli({"group", "create", "web"}).exit_code, 7);
  auto unknown = cli({"group", "show", "nosuch"});
  EXPECT_EQ(unknown.exit_code, 3);
  EXPECT_NE(unknown.err.find("nosuch"), std::string::npos) << unknown.err;
}

// The bench library generator makes distinct, real images: identify inspects
// each one and finds its own hostname.
TEST(MakeLibrary, MakesDistinctInspectableImages) {
  TempDir dir;
  auto lib = dir.path() / "bench";
  ProcessOptions options;
  options.timeout = std::chrono::seconds(300);
  auto made = run_process({"bash", (source_dir() / "tests/fixtures/make-library.sh").string(), "3", lib.string()},
                          options);
  ASSERT_EQ(made.exit_code, 0) << made.err;
  auto catalog = (dir.path() / "catalog.db").string();
  ASSERT_EQ(run_cli({"--catalog", catalog, "library", "add", lib.string()}).exit_code, 0);
  auto result = run_cli({"--catalog", catalog, "identify", "--json", "--no-guestfs"});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  auto report = nlohmann::json::parse(result.out);
  std::set<std::string> hostnames;
  for (const auto& image : report.at("images")) {
    EXPECT_EQ(image.value("state", nlohmann::json()), "ok") << image.dump();
    hostnames.insert(image.value("hostname", nlohmann::json("")).get<std::string>());
  }
  EXPECT_EQ(hostnames, (std::set<std::string>{"lib-0001", "lib-0002", "lib-0003"}));
}

}  // namespace
}  // namespace dormant::testing
