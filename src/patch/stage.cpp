// Staging: the plan's .debs and the offline-update machinery written into the
// overlay through image::GuestWriter; verification by reading them back.
#include "stage.hpp"

#include <fmt/format.h>

#include <nlohmann/json.hpp>
#include <set>

#include "dormant/core/error.hpp"
#include "dormant/core/sha256.hpp"
#include "dormant/image/overlay.hpp"
#include "guest_update.hpp"

namespace dormant::patch {
namespace {

namespace fs = std::filesystem;

constexpr std::uint64_t kMiB = 1024 * 1024;
// Room dpkg needs beyond the unpacked files (its database, the old
// versions' files while they are replaced, logs).
constexpr std::uint64_t kGuestMargin = 64 * kMiB;

std::string human(std::uint64_t bytes) {
  return fmt::format("{:.1f} MiB", static_cast<double>(bytes) / kMiB);
}

bool has_systemd_update_support(image::GuestView& view) {
  for (const auto& path : guest::generator_paths())
    if (view.type_of(path) == image::FileType::regular) return true;
  return false;
}

// A fixed file shared by every run: written when absent, accepted when it has
// the same content, refused when it differs (another dormant version's, or
// the administrator's).
void write_shared(image::GuestWriter& writer, std::string_view path, const std::string& content,
                  unsigned mode) {
  auto type = writer.view().type_of(path, false);
  if (!type) {
    writer.write_text(path, content, mode);
    return;
  }
  auto existing =
      type == image::FileType::regular ? writer.view().read_file(path, 1 << 20, false) : std::nullopt;
  if (!existing || *existing != content)
    fail(ErrorKind::conflict, std::string(path),
         "exists in the guest with other content than dormant writes there; remove it from the image or "
         "patch with the dormant version that wrote it");
}

// The filesystems that staging writes to must be clean (their journals
// replayed) before anything is written.
std::vector<std::string> dirty_filesystems(image::GuestWriter& writer,
                                           const std::vector<std::string>& paths) {
  std::vector<std::string> dirty;
  std::set<std::string> seen;
  for (const auto& path : paths) {
    const auto fs = writer.filesystem_of(path);
    if (fs.needs_recovery && seen.insert(fs.mountpoint).second) dirty.push_back(fs.mountpoint);
  }
  return dirty;
}

const std::vector<std::string>& written_paths() {
  static const std::vector<std::string> paths{"/", "/etc/systemd/system", std::string(guest::kBase)};
  return paths;
}

// Free space: the .debs are stored under /var/lib/dormant, and dpkg unpacks
// the new versions (Installed-Size) next to the old ones under /usr mostly;
// when both are one filesystem it needs the sum.
void check_guest_space(image::GuestWriter& writer, const StageInput& input, std::string_view image) {
  std::uint64_t debs = 0, unpacked = 0;
  for (const auto& d : input.debs) debs += d.size;
  for (auto s : input.installed_sizes) unpacked += s;
  const auto var_fs = writer.filesystem_of(guest::kBase);
  const auto usr_fs = writer.filesystem_of("/usr");
  std::vector<std::pair<std::string, std::uint64_t>> needs;
  if (var_fs.mountpoint == usr_fs.mountpoint) {
    needs.emplace_back(var_fs.mountpoint, debs + unpacked + kGuestMargin);
  } else {
    needs.emplace_back(var_fs.mountpoint, debs + kGuestMargin);
    needs.emplace_back(usr_fs.mountpoint, unpacked + kGuestMargin);
  }
  for (const auto& [mountpoint, need] : needs) {
    const auto free = writer.free_bytes(mountpoint);
    if (free < need)
      fail(ErrorKind::limit, std::string(image),
           "not enough free space in the guest's {} filesystem: the update needs {} ({} of packages, {} "
           "unpacked, {} margin) and {} is free; nothing was written",
           mountpoint, human(need), human(debs), human(unpacked), human(kGuestMargin), human(free));
  }
}

std::string plan_json(const std::string& run_id, const ImagePatch& plan) {
  nlohmann::json j;
  j["run"] = run_id;
  auto& installs = j["install"] = nlohmann::json::array();
  for (const auto& c : plan.installs)
    installs.push_back({{"name", c.name},
                        {"arch", c.arch},
                        {"from", c.installed},
                        {"to", c.candidate},
                        {"security", c.security},
                        {"auto", c.auto_installed}});
  auto& removals = j["remove"] = nlohmann::json::array();
  for (const auto& c : plan.removals)
    removals.push_back({{"name", c.name}, {"arch", c.arch}, {"version", c.installed}});
  return j.dump(2) + "\n";
}

std::string lines(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& item : items) out += item + "\n";
  return out;
}

}  // namespace

std::string apt_name(const assess::PackageChange& c, const std::string& native) {
  return c.arch.empty() || c.arch == native || c.arch == "all" ? c.name : c.name + ":" + c.arch;
}

std::vector<std::pair<std::string, std::string>> plan_texts(
    const std::string& run_id, const ImagePatch& plan, const std::vector<assess::DownloadedPackage>& debs) {
  std::string sums;
  for (const auto& deb : debs) sums += fmt::format("{}  {}\n", deb.sha256, deb.file.filename().string());
  const auto native = plan.image.arch;
  std::vector<std::string> packages, automatic, removals;
  for (const auto& c : plan.installs) {
    packages.push_back(apt_name(c, native));
    if (c.auto_installed) automatic.push_back(apt_name(c, native));
  }
  for (const auto& c : plan.removals) {
    packages.push_back(apt_name(c, native));
    removals.push_back(apt_name(c, native) + "-");
  }
  return {{"SHA256SUMS", sums},
          {"packages", lines(packages)},
          {"auto", lines(automatic)},
          {"remove", lines(removals)},
          {"plan.json", plan_json(run_id, plan)}};
}

StageOutput stage_update(const StageInput& input) {
  const std::string image = input.plan->image.path;
  StageOutput out;
  auto writer = image::open_guest_writer(input.overlay, input.probe);

  if (!has_systemd_update_support(writer->view()))
    fail(ErrorKind::unsupported, image,
         "the guest has no systemd offline-update support (systemd-system-update-generator is missing): "
         "offline patching needs a systemd guest; use a maintenance host instead");
  if (writer->view().type_of(guest::kSystemUpdate, false))
    fail(ErrorKind::conflict, image,
         "an offline update is already staged in this image (/system-update exists) and has not been "
         "applied: boot the image once to apply it (or `dormant rollback` it) before staging another");

  auto dirty = dirty_filesystems(*writer, written_paths());
  if (!dirty.empty()) {
    if (!input.replay_journal)
      fail(ErrorKind::unsupported, image,
           "the ext journal of the guest's {} filesystem needs recovery (the guest was not shut down "
           "cleanly); nothing was written. `dormant patch --replay-journal` replays it on the overlay "
           "(the library image is not touched), or boot and shut down the guest once",
           fmt::join(dirty, ", "));
    std::vector<image::WritableFilesystem> to_replay;
    for (const auto& fs : writer->filesystems())
      if (fs.needs_recovery) to_replay.push_back(fs);
    writer->close();
    writer.reset();
    for (const auto& fs : to_replay) image::replay_ext_journal(input.overlay, fs.offset, fs.length);
    out.journal_replayed = true;
    writer = image::open_guest_writer(input.overlay, input.probe);
    dirty = dirty_filesystems(*writer, written_paths());
    if (!dirty.empty())
      fail(ErrorKind::corrupt, image, "the journal of {} still needs recovery after e2fsck replayed it",
           fmt::join(dirty, ", "));
  }

  check_guest_space(*writer, input, image);

  const std::string dir = guest::run_dir(input.run_id);
  writer->mkdir_p(guest::kBase, 0755);
  write_shared(*writer, guest::kLauncher, guest::launcher_text(), 0755);
  writer->mkdir_p(guest::kWantsDir, 0755);
  write_shared(*writer, guest::kUnitPath, guest::unit_text(), 0644);
  if (!writer->view().type_of(guest::kWantsLink, false))
    writer->symlink(guest::kWantsLink, guest::kWantsTarget);

  writer->mkdir_p(dir + "/debs", 0755);
  writer->mkdir_p(dir + "/sources.list.d", 0755);
  for (const auto& deb : input.debs) {
    const std::string guest_path = fmt::format("{}/debs/{}", dir, deb.file.filename().string());
    writer->write_file(guest_path, deb.file, 0644);
    out.files.push_back({guest_path, deb.sha256, deb.size});
  }
  auto texts = plan_texts(input.run_id, *input.plan, input.debs);
  texts.emplace_back("sources.list", "");
  for (const auto& [name, content] : texts) {
    const std::string path = dir + "/" + name;
    writer->write_text(path, content, 0644);
    out.files.push_back({path, sha256_hex(content), content.size()});
  }
  const std::string apply = guest::apply_script(input.run_id);
  writer->write_text(dir + "/apply", apply, 0755);
  out.files.push_back({dir + "/apply", sha256_hex(apply), apply.size()});

  // Last: from here on the guest's next boot is an update boot.
  writer->symlink(guest::kSystemUpdate, dir);
  std::set<std::string> mounts;
  for (const auto& path : written_paths()) {
    auto fs = writer->filesystem_of(path);
    if (mounts.insert(fs.mountpoint).second) out.filesystems.push_back(fs);
  }
  writer->close();
  return out;
}

std::string verify_staged(const fs::path& overlay, const image::ProbeOptions& probe,
                          const StageOutput& staged) {
  {
    image::OpenOptions options;
    options.probe = probe;
    options.allow_guestfs = false;
    auto guest = image::open_guest(overlay, options);
    auto& view = *guest.view;
    for (const auto& file : staged.files) {
      auto content = view.read_file(file.guest_path, file.size + 1, false);
      if (!content)
        fail(ErrorKind::corrupt, overlay.string(), "staged file {} is missing when read back",
             file.guest_path);
      if (content->size() != file.size || sha256_hex(*content) != file.sha256)
        fail(ErrorKind::corrupt, overlay.string(), "staged file {} reads back with other content ({} bytes)",
             file.guest_path, content->size());
    }
    if (view.type_of(guest::kSystemUpdate, false) != image::FileType::symlink)
      fail(ErrorKind::corrupt, overlay.string(), "/system-update is not a symlink after staging");
    if (view.type_of(guest::kSystemUpdate, true) != image::FileType::directory)
      fail(ErrorKind::corrupt, overlay.string(), "/system-update does not lead to the run's directory");
    if (view.read_file(guest::kUnitPath, 1 << 20, false) != guest::unit_text())
      fail(ErrorKind::corrupt, overlay.string(), "{} does not read back as written", guest::kUnitPath);
    if (view.type_of(guest::kWantsLink, true) != image::FileType::regular)
      fail(ErrorKind::corrupt, overlay.string(), "{} does not lead to the unit", guest::kWantsLink);
  }
  std::vector<std::string> verdicts;
  for (const auto& fs : staged.filesystems) {
    auto result = image::check_ext_filesystem(overlay, fs.offset, fs.length);
    if (!result.clean)
      fail(ErrorKind::corrupt, overlay.string(),
           "e2fsck -fn finds errors in the guest's {} filesystem after staging (exit status {}): {}",
           fs.mountpoint, result.exit_status, result.output);
    verdicts.push_back(fmt::format("{}: clean", fs.mountpoint));
  }
  return fmt::format("{}", fmt::join(verdicts, ", "));
}

}  // namespace dormant::patch
