// The server's route table and docs/openapi.json describe the same API:
// every routed (method, path) is documented, and every documented one is
// routed. Also the token file rules (server/token.cpp) on a real filesystem.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <set>

#include "dormant/core/error.hpp"
#include "dormant/server/server.hpp"
#include "support/test_support.hpp"

namespace dormant::testing {
namespace {

namespace fs = std::filesystem;
using Pair = std::pair<std::string, std::string>;

std::set<Pair> documented(const nlohmann::json& doc) {
  std::set<Pair> out;
  for (const auto& [path, item] : doc.at("paths").items())
    for (const auto& [method, operation] : item.items())
      if (method == "get" || method == "post" || method == "delete" || method == "put" || method == "patch") {
        std::string upper = method;
        for (auto& c : upper) c = static_cast<char>(std::toupper(c));
        out.emplace(upper, path);
      }
  return out;
}

TEST(ApiRoutes, TheOpenApiDocumentDescribesExactlyTheRoutedEndpoints) {
  std::ifstream in(source_dir() / "docs/openapi.json");
  auto doc = nlohmann::json::parse(in);
  auto routes = server::api_routes();
  std::set<Pair> routed(routes.begin(), routes.end());
  EXPECT_EQ(routed.size(), routes.size()) << "a route is registered twice";
  auto docs = documented(doc);
  for (const auto& r : routed)
    EXPECT_TRUE(docs.count(r)) << r.first << " " << r.second << " is not in openapi.json";
  for (const auto& d : docs)
    EXPECT_TRUE(routed.count(d)) << d.first << " " << d.second << " is documented, not routed";
  EXPECT_GE(routed.size(), 30u);
  // The embedded copy is the file in the tree.
  std::ifstream again(source_dir() / "docs/openapi.json");
  std::string text((std::istreambuf_iterator<char>(again)), std::istreambuf_iterator<char>());
  EXPECT_EQ(server::openapi_document(), text);
}

TEST(ApiToken, IsCreatedOnceWithMode0600AndThenReused) {
  TempDir dir;
  const fs::path file = dir.path() / "c.db.api-token";
  const std::string token = server::load_or_create_token(file);
  EXPECT_EQ(token.size(), 64u);
  EXPECT_EQ(token.find_first_not_of("0123456789abcdef"), std::string::npos);
  struct stat st {};
  ASSERT_EQ(::stat(file.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  EXPECT_EQ(server::load_or_create_token(file), token);
  TempDir other;
  EXPECT_NE(server::load_or_create_token(other.path() / "t"), token) << "tokens must be random";
}

TEST(ApiToken, ATokenFileOthersCanReadIsRefused) {
  TempDir dir;
  const fs::path file = dir.path() / "t";
  server::load_or_create_token(file);
  ::chmod(file.c_str(), 0644);
  try {
    server::load_or_create_token(file);
    FAIL() << "a world-readable token file was accepted";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::hostile);
    EXPECT_NE(std::string(e.what()).find("chmod 600"), std::string::npos) << e.what();
  }
  ::chmod(file.c_str(), 0600);
  std::ofstream(file) << "short\n";
  EXPECT_THROW(server::load_or_create_token(file), Error);
  fs::remove(file);
  fs::create_symlink("/etc/hostname", file);
  EXPECT_THROW(server::load_or_create_token(file), Error) << "a symlink must not be followed";
}

}  // namespace
}  // namespace dormant::testing
