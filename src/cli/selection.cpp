// Helpers shared by the commands that act on a selection of images and run
// the resolver worker (assess, patch).
#include <filesystem>
#include <ostream>
#include <set>

#include "command.hpp"
#include "dormant/core/error.hpp"
#include "dormant/library/identify.hpp"

namespace dormant::cli {

namespace fs = std::filesystem;

fs::path own_executable() {
  std::error_code ec;
  auto path = fs::read_symlink("/proc/self/exe", ec);
  if (ec)
    fail(ErrorKind::io, "/proc/self/exe", "cannot find the dormant executable for the resolver worker: {}",
         ec.message());
  return path;
}

void require_one_selector(const ImageSelection& selection, std::string_view verb) {
  const int selectors =
      (selection.images.empty() ? 0 : 1) + (selection.group.empty() ? 0 : 1) + (selection.all ? 1 : 0);
  if (selectors != 1)
    fail(ErrorKind::usage, std::string(verb),
         "name images, or give --group G, or --all (exactly one of them)");
}

std::vector<catalog::ImageRecord> select_images(catalog::Catalog& catalog, const ImageSelection& selection,
                                                std::string_view verb) {
  require_one_selector(selection, verb);
  std::vector<catalog::ImageRecord> out;
  if (selection.all) {
    for (auto& image : catalog.images())
      if (image.state != "missing") out.push_back(std::move(image));
  } else if (!selection.group.empty()) {
    if (!catalog.find_group(selection.group)) fail(ErrorKind::not_found, selection.group, "no such group");
    for (auto& member : catalog.group_members(selection.group)) out.push_back(std::move(member.image));
  } else {
    std::set<std::int64_t> seen;
    for (const auto& name : selection.images) {
      auto id = resolve_image(catalog, name);
      if (seen.insert(id).second) out.push_back(*catalog.find_image(id));
    }
  }
  if (out.empty())
    fail(ErrorKind::not_found, selection.all ? "catalog" : selection.group, "no images to {}", verb);
  return out;
}

std::vector<catalog::ImageRecord> identify_and_select(Context& context, const ImageSelection& selection,
                                                      std::string_view verb, bool identify_first,
                                                      ProgressSink& progress) {
  require_one_selector(selection, verb);
  auto& catalog = context.catalog();
  if (identify_first) {
    auto report = library::identify(catalog, {}, progress);
    for (const auto& w : report.warnings) *context.err << "dormant: warning: " << w << '\n';
  }
  return select_images(catalog, selection, verb);
}

}  // namespace dormant::cli
