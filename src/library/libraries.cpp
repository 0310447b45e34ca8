#include "dormant/library/libraries.hpp"

#include "dormant/core/error.hpp"
#include "dormant/library/libvirt_source.hpp"

namespace dormant::library {
namespace fs = std::filesystem;

catalog::Library add_directory_library(catalog::Catalog& catalog, const fs::path& directory, std::string name) {
  std::error_code ec;
  if (!fs::is_directory(directory, ec))
    fail(ErrorKind::not_found, directory.string(), "not a directory; a library is a directory of disk images");
  fs::path canonical = fs::canonical(directory, ec);
  if (ec) fail(ErrorKind::io, directory.string(), "cannot resolve the directory: {}", ec.message());
  if (name.empty()) name = canonical.filename().string();
  if (name.empty()) name = canonical.string();  // the root directory
  catalog::Library library;
  library.name = std::move(name);
  library.kind = catalog::LibraryKind::directory;
  library.path = canonical.string();
  return catalog.add_library(std::move(library));
}

catalog::Library add_pool_library(catalog::Catalog& catalog, const std::string& pool, const std::string& uri,
                                  std::string name) {
  if (pool.empty()) fail(ErrorKind::usage, "library", "the pool name is empty");
  auto contents = list_pool(uri, pool);  // fails now for an unknown pool or a bad URI
  catalog::Library library;
  library.name = name.empty() ? pool : std::move(name);
  library.kind = catalog::LibraryKind::libvirt_pool;
  library.path = contents.target_path;
  library.pool = pool;
  library.uri = uri;
  auto added = catalog.add_library(std::move(library));
  catalog.add_connection(uri);
  return added;
}

}  // namespace dormant::library
