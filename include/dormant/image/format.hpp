// Disk image formats: detected from content, then pinned for every open.
#pragma once

#include <cstddef>
#include <filesystem>
#include <optional>
#include <span>
#include <string_view>

namespace dormant::image {

enum class ImageFormat { raw, qcow2, vmdk, vhdx, vpc };

std::string_view to_string(ImageFormat format);
std::optional<ImageFormat> format_from_string(std::string_view name);

// Detects the format from the first bytes of an image (at least 512 are
// needed; fewer is treated as raw). Raw when no known magic matches.
ImageFormat detect_format(std::span<const std::byte> head);

// Reads the head of the file and detects its format. Throws Error(io) when
// the file cannot be read.
ImageFormat detect_format(const std::filesystem::path& path);

}  // namespace dormant::image
