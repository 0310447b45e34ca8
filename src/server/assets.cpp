// The console's files and the OpenAPI document: embedded, or read from
// DORMANT_WEB_DIR (ServeOptions::web_dir) while developing the console.
#include "assets.hpp"

#include <fstream>
#include <sstream>

#include "dormant/server/server.hpp"

namespace dormant::server {
namespace embedded {
struct File {
  std::string_view name;
  std::string_view content;
};
extern const File kFiles[];
extern const int kFileCount;
}  // namespace embedded

namespace {

std::string_view embedded_file(std::string_view name) {
  for (int i = 0; i < embedded::kFileCount; ++i)
    if (embedded::kFiles[i].name == name) return embedded::kFiles[i].content;
  return {};
}

std::string_view type_of(std::string_view name) {
  if (name.ends_with(".html")) return "text/html; charset=utf-8";
  if (name.ends_with(".js")) return "text/javascript; charset=utf-8";
  if (name.ends_with(".css")) return "text/css; charset=utf-8";
  return "application/octet-stream";
}

}  // namespace

std::string_view openapi_document() { return embedded_file("openapi.json"); }

std::function<bool(const std::string&, Reply&)> console_files(std::filesystem::path web_dir) {
  return [web_dir = std::move(web_dir)](const std::string& path, Reply& reply) {
    // Only names built into the binary are served: no path from a request
    // ever reaches the filesystem unchecked, with or without web_dir.
    const std::string name = path == "/" ? "index.html" : path.substr(1);
    const std::string_view embedded = embedded_file("web/" + name);
    if (embedded.empty()) return false;
    if (web_dir.empty()) {
      reply.body = std::string(embedded);
    } else {
      std::ifstream in(web_dir / name, std::ios::binary);
      if (!in) return false;
      std::ostringstream text;
      text << in.rdbuf();
      reply.body = text.str();
    }
    reply.content_type = std::string(type_of(name));
    return true;
  };
}

}  // namespace dormant::server
