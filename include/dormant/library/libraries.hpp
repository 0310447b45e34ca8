// Adding libraries to the catalog, with the checks that make a bad one fail
// at `library add` rather than at the next identify.
#pragma once

#include <filesystem>
#include <string>

#include "dormant/catalog/catalog.hpp"

namespace dormant::library {

// Adds a directory library. The name defaults to the directory's base name.
// Error(not_found) when it is not a directory, Error(conflict) when taken.
catalog::Library add_directory_library(catalog::Catalog& catalog, const std::filesystem::path& directory,
                                       std::string name = {});

// Adds a libvirt storage pool (looked up now, read-only) and records the
// connection for shut-off domain discovery. The name defaults to the pool
// name. Error(not_found) for an unknown pool, Error(io) when the connection fails.
catalog::Library add_pool_library(catalog::Catalog& catalog, const std::string& pool, const std::string& uri,
                                  std::string name = {});

}  // namespace dormant::library
