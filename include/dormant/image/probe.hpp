// Safety probe of an image file before anything opens it for content.
//
// Runs `qemu-img info -f <pinned format> --output=json` (which does not open
// backing files) and refuses images whose backing file, external data file or
// extents (vmdk) lie outside the allowed roots: see CVE-2015-5163 and
// CVE-2024-32498 for what a crafted image can otherwise make a host read.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "dormant/image/format.hpp"

namespace dormant::image {

struct ProbeOptions {
  // Directories the image and every file it references must lie inside
  // (normally the library roots). Empty means: the image's own directory.
  std::vector<std::filesystem::path> allowed_roots;
  // Format to pin instead of detecting it (the catalog's recorded format).
  std::optional<ImageFormat> format;
};

struct ImageProbe {
  std::filesystem::path path;  // absolute
  ImageFormat format = ImageFormat::raw;
  std::uint64_t virtual_size = 0;
  std::uint64_t file_size = 0;  // bytes allocated on the host (actual-size)
  std::optional<std::filesystem::path> backing_file;  // resolved, inside allowed roots
  std::optional<ImageFormat> backing_format;
  // Every other host file the image references (vmdk extents, data-file).
  std::vector<std::filesystem::path> referenced_files;
};

// Throws Error(hostile) for references outside the allowed roots,
// Error(corrupt) when qemu-img cannot parse the image (truncated qcow2),
// Error(conflict) when the image is locked by a running VM,
// Error(not_found)/Error(io) for missing or unreadable files.
ImageProbe probe_image(const std::filesystem::path& path, const ProbeOptions& options = {});

// Error(hostile) when the probe names a backing file without its format: qemu
// would guess that format from content, which is how a raw guest disk gets
// read as a qcow2 naming host files. probe_image never returns such a probe;
// code that hands a probe to qemu (qemu-nbd, libguestfs) calls this as well,
// so a probe built by other means gets the same rule and the same message.
void require_pinned_backing_format(const ImageProbe& probe);

}  // namespace dormant::image
