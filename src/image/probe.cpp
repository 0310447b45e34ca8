#include "dormant/image/probe.hpp"

#include <algorithm>
#include <array>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "dormant/core/error.hpp"
#include "dormant/core/paths.hpp"
#include "dormant/core/subprocess.hpp"

namespace dormant::image {

namespace fs = std::filesystem;

namespace {

constexpr auto kQemuImgTimeout = std::chrono::seconds(60);
// A vmdk descriptor is a few hundred bytes; anything near this is not one.
constexpr std::uint64_t kMaxVmdkDescriptor = std::uint64_t{1024} * 1024;
constexpr std::uint64_t kVmdkSector = 512;

struct Context {
  fs::path image;
  std::string subject;  // the image's file name, for messages
  std::vector<fs::path> roots;
};

// qemu treats "name:rest" with the colon before any slash as a protocol
// ("json:{...}", "nbd:", "http:"), not as a file: such a reference would
// escape any path check, so it is refused outright.
bool has_protocol_prefix(std::string_view ref) {
  auto colon = ref.find(':');
  if (colon == std::string_view::npos) return false;
  auto slash = ref.find('/');
  return slash == std::string_view::npos || colon < slash;
}

// Resolves a file name found inside the image (relative to the image's
// directory, as qemu does) and refuses it unless it lies inside the roots.
fs::path confine(const Context& ctx, std::string_view what, const std::string& ref) {
  if (ref.empty())
    fail(ErrorKind::hostile, ctx.subject, "{} has an empty file name; refusing to open it", what);
  if (has_protocol_prefix(ref))
    fail(ErrorKind::hostile, ctx.subject,
         "{} \"{}\" uses a qemu protocol or json: prefix instead of a file name; refusing to open it "
         "(CVE-2015-5163)",
         what, ref);
  fs::path path(ref);
  if (path.is_relative()) path = ctx.image.parent_path() / path;
  path = path.lexically_normal();
  if (!path_is_inside(path, ctx.roots)) {
    // Backing files are the classic vector (CVE-2015-5163); vmdk extents and
    // qcow2 data files the newer one (CVE-2024-32498). Only a backing file
    // can be fixed by a rebase.
    const bool backing = what == "backing file";
    fail(ErrorKind::hostile, ctx.subject, "{} {} lies outside the library; refusing to open it ({}). {}", what,
         path.string(), backing ? "CVE-2015-5163" : "CVE-2024-32498",
         backing ? "Move the file into the library or rebase the image with qemu-img rebase"
                 : "Move the file into the library next to the image, or convert the image with qemu-img convert");
  }
  return path;
}

std::uint64_t le64(const std::array<char, 64>& data, std::size_t at) {
  std::uint64_t value = 0;
  for (std::size_t i = 0; i < 8; ++i)
    value |= std::uint64_t(static_cast<unsigned char>(data[at + i])) << (8 * i);
  return value;
}

// Reads the vmdk descriptor: the whole file for a text descriptor, the
// embedded one for a sparse (KDMV) file.
std::string read_vmdk_descriptor(const Context& ctx) {
  std::ifstream in(ctx.image, std::ios::binary);
  if (!in) fail(ErrorKind::io, ctx.subject, "cannot open for reading: {}", std::strerror(errno));
  std::array<char, 64> head{};
  in.read(head.data(), head.size());
  std::uint64_t offset = 0;
  std::uint64_t length = kMaxVmdkDescriptor;
  if (std::memcmp(head.data(), "KDMV", 4) == 0) {
    offset = le64(head, 28) * kVmdkSector;
    length = std::min(le64(head, 36), kMaxVmdkDescriptor / kVmdkSector) * kVmdkSector;
    if (offset == 0 || length == 0) return {};
  }
  in.clear();
  in.seekg(static_cast<std::streamoff>(offset));
  std::string text(length, '\0');
  in.read(text.data(), static_cast<std::streamsize>(text.size()));
  text.resize(static_cast<std::size_t>(in.gcount()));
  return text.substr(0, text.find('\0'));
}

// The vmdk driver opens every extent while qemu-img info opens the image
// (CVE-2024-32498), so the extents are checked from the descriptor text before
// qemu runs, not only from its JSON afterwards.
void precheck_vmdk(const Context& ctx) {
  std::istringstream lines(read_vmdk_descriptor(ctx));
  std::string line;
  while (std::getline(lines, line)) {
    std::istringstream words(line);
    std::string access;
    words >> access;
    auto quote = line.find('"');
    auto end = quote == std::string::npos ? std::string::npos : line.find('"', quote + 1);
    if (end == std::string::npos) continue;
    std::string name = line.substr(quote + 1, end - quote - 1);
    if (access == "RW" || access == "RDONLY" || access == "NOACCESS")
      confine(ctx, "extent", name);
    else if (line.rfind("parentFileNameHint", 0) == 0)
      confine(ctx, "backing file", name);
  }
}

// qemu's message without its "qemu-img: Could not open 'x': " prefix.
std::string qemu_reason(const std::string& err) {
  std::string line = err.substr(0, err.find('\n'));
  for (std::string_view prefix : {"qemu-img: "}) {
    if (line.rfind(prefix, 0) == 0) line.erase(0, prefix.size());
  }
  if (line.rfind("Could not open '", 0) == 0) {
    auto close = line.find("': ");
    if (close != std::string::npos) line.erase(0, close + 3);
  }
  return line.empty() ? "qemu-img failed without a message" : line;
}

[[noreturn]] void fail_qemu(const Context& ctx, const ProcessResult& result, std::string_view tool) {
  if (result.timed_out)
    fail(ErrorKind::io, ctx.subject, "{} did not finish within {} s", tool, kQemuImgTimeout.count());
  auto reason = qemu_reason(result.err);
  if (result.err.find("Failed to get shared \"write\" lock") != std::string::npos ||
      result.err.find("Failed to get \"write\" lock") != std::string::npos)
    fail(ErrorKind::conflict, ctx.subject, "image is in use by a running VM ({}); shut the VM down first",
         reason);
  if (result.err.find("No such file or directory") != std::string::npos)
    fail(ErrorKind::not_found, ctx.subject, "{}", reason);
  if (result.err.find("Permission denied") != std::string::npos)
    fail(ErrorKind::io, ctx.subject, "{}", reason);
  fail(ErrorKind::corrupt, ctx.subject, "qemu cannot read the image: {}", reason);
}

nlohmann::json qemu_img_info(const Context& ctx, ImageFormat format) {
  ProcessOptions options;
  options.timeout = kQemuImgTimeout;
  // -f pins the format: qemu never guesses (a raw guest disk that starts with
  // a qcow2 header must stay raw). info never opens the backing file.
  auto result = run_process(
      {"qemu-img", "info", "-f", std::string(to_string(format)), "--output=json", ctx.image.string()},
      options);
  if (result.exit_code != 0) fail_qemu(ctx, result, "qemu-img info");
  try {
    return nlohmann::json::parse(result.out);
  } catch (const nlohmann::json::exception& e) {
    fail(ErrorKind::internal, ctx.subject, "qemu-img info printed JSON that does not parse: {}", e.what());
  }
}

// qemu-img info reads only the header; a truncated qcow2 or vhdx passes it.
// check walks the metadata (fast: no data clusters are read) and finds
// tables beyond the end of the file.
void qemu_img_check(const Context& ctx, ImageFormat format) {
  if (format != ImageFormat::qcow2 && format != ImageFormat::vhdx) return;
  ProcessOptions options;
  options.timeout = kQemuImgTimeout;
  // check would open the backing file (and fail when it is absent); the
  // metadata walk does not need it, so it is switched off with backing: null.
  nlohmann::json spec = {{"driver", std::string(to_string(format))},
                         {"file", {{"driver", "file"}, {"filename", ctx.image.string()}}}};
  if (format == ImageFormat::qcow2) spec["backing"] = nullptr;
  auto result = run_process({"qemu-img", "check", "json:" + spec.dump()}, options);
  constexpr int kOk = 0, kLeaks = 3;  // leaked clusters waste space but read correctly
  if (result.exit_code == kOk || result.exit_code == kLeaks) return;
  if (result.exit_code == 2 && !result.timed_out) {
    std::string first;
    std::istringstream lines(result.out + result.err);
    for (std::string line; std::getline(lines, line);)
      if (line.rfind("ERROR", 0) == 0) {
        first = line;
        break;
      }
    fail(ErrorKind::corrupt, ctx.subject,
         "qemu-img check found corruption: {}; repair a copy with qemu-img check -r all",
         first.empty() ? "(no detail)" : first);
  }
  fail_qemu(ctx, result, "qemu-img check");
}

std::optional<std::string> string_field(const nlohmann::json& object, const char* key) {
  auto it = object.find(key);
  if (it == object.end() || !it->is_string()) return std::nullopt;
  return it->get<std::string>();
}

}  // namespace

namespace {
// qemu follows a backing chain to its end when the image is opened, so every
// link must pass the same checks as the top image; the depth bound stops a
// crafted chain (or a loop through symlinks) from running forever.
constexpr int kMaxBackingDepth = 16;
ImageProbe probe_link(const fs::path& path, const ProbeOptions& options, int depth);
}  // namespace

ImageProbe probe_image(const fs::path& path, const ProbeOptions& options) { return probe_link(path, options, 0); }

namespace {
ImageProbe probe_link(const fs::path& path, const ProbeOptions& options, int depth) {
  std::error_code ec;
  Context ctx;
  ctx.image = fs::absolute(path, ec).lexically_normal();
  ctx.subject = path.filename().string();
  ctx.roots = options.allowed_roots;
  if (ctx.roots.empty()) ctx.roots.push_back(ctx.image.parent_path());

  auto status = fs::status(ctx.image, ec);
  if (!fs::exists(status))
    fail(ErrorKind::not_found, ctx.subject, "no such image file: {}", ctx.image.string());
  if (!fs::is_regular_file(status))
    fail(ErrorKind::unsupported, ctx.subject,
         "not a regular file (devices, FIFOs and directories are not images)");
  if (!path_is_inside(ctx.image, ctx.roots))
    fail(ErrorKind::hostile, ctx.subject, "{} resolves to a file outside the library; refusing to open it",
         ctx.image.string());

  ImageFormat detected = detect_format(ctx.image);
  if (options.format && *options.format != detected)
    fail(
        ErrorKind::hostile, ctx.subject,
        "image was recorded as {} but its content now looks like {}; refusing to open it with either format. "
        "Check how the file changed, then forget and re-add it",
        to_string(*options.format), to_string(detected));
  ImageFormat format = options.format.value_or(detected);
  if (format == ImageFormat::vmdk) precheck_vmdk(ctx);

  auto info = qemu_img_info(ctx, format);
  ImageProbe probe;
  probe.path = ctx.image;
  probe.format = format;
  try {
    if (auto reported = string_field(info, "format"); reported && *reported != to_string(format))
      fail(ErrorKind::internal, ctx.subject, "qemu-img opened the image as {} although {} was pinned",
           *reported, to_string(format));
    probe.virtual_size = info.at("virtual-size").get<std::uint64_t>();
    probe.file_size = info.value("actual-size", std::uint64_t{0});
    if (auto backing = string_field(info, "backing-filename")) {
      probe.backing_file = confine(ctx, "backing file", *backing);
      if (auto full = string_field(info, "full-backing-filename")) confine(ctx, "backing file", *full);
      if (auto backing_format = string_field(info, "backing-filename-format")) {
        probe.backing_format = format_from_string(*backing_format);
        if (!probe.backing_format)
          fail(ErrorKind::unsupported, ctx.subject, "backing file format {} is not supported",
               *backing_format);
      }
    }
    const auto specific =
        info.value("format-specific", nlohmann::json::object()).value("data", nlohmann::json::object());
    if (auto data_file = string_field(specific, "data-file"))
      probe.referenced_files.push_back(confine(ctx, "external data file", *data_file));
    if (auto extents = specific.find("extents"); extents != specific.end() && extents->is_array()) {
      for (const auto& extent : *extents) {
        auto name = string_field(extent, "filename");
        if (!name) continue;
        auto file = confine(ctx, "extent", *name);
        if (file != ctx.image) probe.referenced_files.push_back(file);
      }
    }
  } catch (const nlohmann::json::exception& e) {
    fail(ErrorKind::internal, ctx.subject, "unexpected qemu-img info JSON: {}", e.what());
  }
  qemu_img_check(ctx, format);
  if (probe.backing_file) {
    require_pinned_backing_format(probe);
    if (depth + 1 >= kMaxBackingDepth)
      fail(ErrorKind::limit, ctx.subject, "backing chain is deeper than {} images", kMaxBackingDepth);
    ProbeOptions link_options{ctx.roots, probe.backing_format};
    try {
      probe_link(*probe.backing_file, link_options, depth + 1);
    } catch (const Error& e) {
      throw Error(e.kind(), ctx.subject, fmt::format("backing file {}: {}", probe.backing_file->string(), e.message()));
    }
  }
  return probe;
}
}  // namespace

void require_pinned_backing_format(const ImageProbe& probe) {
  if (probe.backing_file && !probe.backing_format)
    fail(ErrorKind::hostile, probe.path.filename().string(),
         "backing file {} has no recorded format, so qemu would guess it; refusing to open it. "
         "Record it with: qemu-img rebase -u -F <format> -b <backing> {}",
         probe.backing_file->string(), probe.path.string());
}

}  // namespace dormant::image
