// open_guest: from an image file to a GuestView. The fast path reads ext2/3/4
// in user space through NBD; disks whose root or /usr or /var live on LVM,
// XFS, btrfs or LUKS go to the guestfs fallback when it is allowed.
#include "dormant/image/guest_view.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <map>
#include <regex>

#include "dormant/core/error.hpp"
#include "dormant/image/fstab.hpp"
#include "dormant/image/guestfs_view.hpp"
#include "dormant/image/nbd_device.hpp"
#include "dormant/image/partition.hpp"
#include "fast_guest_view.hpp"
#include "signature.hpp"

namespace dormant::image {

namespace {

constexpr std::uint64_t fstab_cap = std::uint64_t{64} << 10;

// Filesystems the fast path cannot read but the guestfs appliance can.
bool needs_guestfs(std::string_view type) {
  return type == "LVM2_member" || type == "xfs" || type == "btrfs" || type == "crypto_LUKS";
}

// fstab types that are not on a disk of this image (or not worth mounting to
// inspect packages).
bool is_virtual_fstype(std::string_view type) {
  static constexpr std::array<std::string_view, 20> names = {
      "swap", "proc",   "sysfs",   "tmpfs",      "devtmpfs", "devpts",   "nfs",  "nfs4",  "cifs", "smbfs",
      "none", "cgroup", "cgroup2", "securityfs", "debugfs",  "efivarfs", "fuse", "sshfs", "9p",   "virtiofs"};
  return std::find(names.begin(), names.end(), type) != names.end() || type.starts_with("fuse.");
}

// Mountpoints whose content the inspection needs (the package database and
// what it describes): /usr, /var and anything below them.
bool is_essential(std::string_view mountpoint) {
  return mountpoint == "/usr" || mountpoint == "/var" || mountpoint.starts_with("/usr/") ||
         mountpoint.starts_with("/var/");
}

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
         });
}

std::string normalise_mountpoint(std::string_view path) {
  std::string out;
  std::size_t i = 0;
  while (i < path.size()) {
    std::size_t slash = path.find('/', i);
    if (slash == std::string_view::npos) slash = path.size();
    std::string_view part = path.substr(i, slash - i);
    if (!part.empty() && part != ".") {
      if (part == "..") return "";  // not a real mountpoint
      out += "/";
      out += part;
    }
    i = slash + 1;
  }
  return out.empty() ? "/" : out;
}

// One device that may hold a filesystem: a partition, or the whole disk.
struct Volume {
  BlockDevice* device;
  int number;  // 0 for the whole disk
  Partition partition;
  Signature signature;
  Filesystem* fs = nullptr;  // when ext and opened
  std::string partuuid;      // GPT GUID, or MBR "<disk id>-<NN>"
  // Why an ext volume could not be opened: kept, not thrown, so that a
  // damaged /home does not hide a good root; thrown when the volume is needed.
  std::optional<Error> open_error;

  std::string where() const { return number == 0 ? "whole disk" : fmt::format("partition {}", number); }
  // This volume's opened filesystem mounted at `mountpoint`.
  FastMount mount_at(std::string mountpoint) const {
    return {{std::move(mountpoint), where(), std::string(fs->type()), fs->uuid(),
             number == 0 ? 0 : partition.offset, device->size()},
            fs};
  }
};

// "/dev/vda2" -> 2, "/dev/nvme0n1p3" -> 3, "/dev/sda" -> 0 (whole disk);
// nullopt for anything else. Guests with several disks are not resolved.
std::optional<int> kernel_name_partition(std::string_view spec) {
  static const std::regex scsi_like(R"(/dev/(?:xvd|vd|sd|hd)[a-z]{1,3}([0-9]{0,3}))");
  static const std::regex nvme_like(
      R"(/dev/(?:nvme[0-9]{1,3}n[0-9]{1,3}|mmcblk[0-9]{1,3})(?:p([0-9]{1,3}))?)");
  if (spec.size() > 64) return std::nullopt;
  std::match_results<std::string_view::const_iterator> match;
  if (std::regex_match(spec.begin(), spec.end(), match, scsi_like) ||
      std::regex_match(spec.begin(), spec.end(), match, nvme_like))
    return match[1].length() == 0 ? 0 : std::stoi(match[1].str());
  return std::nullopt;
}

std::string unescape_udev(std::string_view name) {
  // udev escapes '/' and other unsafe bytes in by-label names as \x2f.
  std::string out;
  for (std::size_t i = 0; i < name.size(); ++i) {
    if (name[i] == '\\' && i + 3 < name.size() && name[i + 1] == 'x' &&
        std::isxdigit(static_cast<unsigned char>(name[i + 2])) &&
        std::isxdigit(static_cast<unsigned char>(name[i + 3]))) {
      out.push_back(static_cast<char>(std::stoi(std::string(name.substr(i + 2, 2)), nullptr, 16)));
      i += 3;
    } else {
      out.push_back(name[i]);
    }
  }
  return out;
}

Volume* find_volume(std::vector<Volume>& volumes, std::string_view spec) {
  auto by = [&](auto predicate) -> Volume* {
    auto it = std::find_if(volumes.begin(), volumes.end(), predicate);
    return it == volumes.end() ? nullptr : &*it;
  };
  auto tagged = [&](std::string_view tag) -> std::optional<std::string> {
    if (spec.size() > tag.size() && iequals(spec.substr(0, tag.size()), tag)) {
      std::string value(spec.substr(tag.size()));
      if (value.size() >= 2 && (value.front() == '"' || value.front() == '\'') &&
          value.back() == value.front())
        value = value.substr(1, value.size() - 2);
      return value;
    }
    return std::nullopt;
  };
  std::optional<std::string> value;
  if ((value = tagged("UUID=")) || (value = tagged("/dev/disk/by-uuid/")))
    return by(
        [&](const Volume& v) { return !v.signature.uuid.empty() && iequals(v.signature.uuid, *value); });
  if ((value = tagged("LABEL=")) || (value = tagged("/dev/disk/by-label/"))) {
    const std::string label = unescape_udev(*value);
    return by([&](const Volume& v) { return !v.signature.label.empty() && v.signature.label == label; });
  }
  if ((value = tagged("PARTUUID=")) || (value = tagged("/dev/disk/by-partuuid/")))
    return by([&](const Volume& v) { return !v.partuuid.empty() && iequals(v.partuuid, *value); });
  if ((value = tagged("PARTLABEL=")) || (value = tagged("/dev/disk/by-partlabel/"))) {
    const std::string label = unescape_udev(*value);
    return by([&](const Volume& v) {
      return v.number != 0 && !v.partition.name.empty() && v.partition.name == label;
    });
  }
  if (auto number = kernel_name_partition(spec))
    return by([&](const Volume& v) { return v.number == *number; });
  return nullptr;
}

std::string describe_volumes(const std::vector<Volume>& volumes) {
  if (volumes.size() == 1 && volumes.front().number == 0)
    return fmt::format("whole disk: {}",
                       volumes.front().signature.type.empty() ? "unknown" : volumes.front().signature.type);
  if (volumes.empty()) return "partitions: none";
  std::string out = "partitions:";
  for (std::size_t i = 0; i < volumes.size(); ++i)
    out += fmt::format("{} {} {}", i == 0 ? "" : ",", volumes[i].number,
                       volumes[i].signature.type.empty() ? "unknown" : volumes[i].signature.type);
  return out;
}

bool root_candidate(Filesystem& fs) {
  // A dangling etc/os-release symlink (to a separate /usr) still marks a root.
  Inode root = fs.root();
  auto etc = fs.lookup(root, "etc");
  if (etc && etc->type == FileType::directory && fs.lookup(*etc, "os-release")) return true;
  auto usr = fs.lookup(root, "usr");
  if (!usr || usr->type != FileType::directory) return false;
  auto lib = fs.lookup(*usr, "lib");
  return lib && lib->type == FileType::directory && fs.lookup(*lib, "os-release").has_value();
}

OpenedGuest open_with_guestfs(const ImageProbe& probe, const OpenOptions& options) {
  OpenedGuest guest;
  guest.probe = probe;
  guest.view = open_guestfs_view(probe, options.luks_keys);
  return guest;
}

std::string mbr_disk_id(BlockDevice& disk) {
  std::array<std::byte, 4> id{};
  if (disk.size() < 512) return "";
  disk.read(440, id);
  std::uint32_t value = 0;
  for (int i = 3; i >= 0; --i)
    value = value << 8 | std::to_integer<std::uint32_t>(id[static_cast<std::size_t>(i)]);
  return fmt::format("{:08x}", value);
}

}  // namespace

OpenedGuest open_guest(const std::filesystem::path& image, const OpenOptions& options) {
  OpenedGuest guest;
  guest.probe = probe_image(image, options.probe);
  const std::string subject = guest.probe.path.string();
  if (options.writable && (guest.probe.format != ImageFormat::qcow2 || !guest.probe.backing_file))
    // The guard that keeps library images read-only: writes go only into a
    // qcow2 overlay, whose backing file qemu opens read-only.
    fail(ErrorKind::unsupported, subject,
         "refusing to open for writing: dormant writes only into a qcow2 overlay with a backing file, and "
         "this "
         "is a {} image{}",
         to_string(guest.probe.format), guest.probe.backing_file ? "" : " without a backing file");
  guest.disk = open_nbd(guest.probe, NbdOptions{.writable = options.writable});

  const PartitionTable table = read_partition_table(*guest.disk);
  std::vector<Volume> volumes;
  if (table.type == TableType::none) {
    volumes.push_back({guest.disk.get(), 0, {}, {}, nullptr, "", std::nullopt});
  } else {
    const std::string disk_id = table.type == TableType::mbr ? mbr_disk_id(*guest.disk) : "";
    for (const auto& partition : table.partitions) {
      guest.partitions.push_back(std::make_unique<SliceDevice>(
          *guest.disk, partition.offset, partition.size,
          fmt::format("{} partition {}", guest.disk->describe(), partition.number)));
      std::string partuuid =
          table.type == TableType::gpt ? partition.uuid : fmt::format("{}-{:02x}", disk_id, partition.number);
      volumes.push_back(
          {guest.partitions.back().get(), partition.number, partition, {}, nullptr, partuuid, std::nullopt});
    }
  }

  bool guestfs_could_help = false;
  for (auto& volume : volumes) {
    volume.signature = probe_signature_details(*volume.device);
    guestfs_could_help = guestfs_could_help || needs_guestfs(volume.signature.type);
    // Unknown volumes are tried too: a root whose primary superblock is
    // damaged has no signature, and open_ext_filesystem tells it apart.
    if (!volume.signature.type.starts_with("ext") && !volume.signature.type.empty()) continue;
    try {
      if (auto fs = open_ext_filesystem(*volume.device, options.writable)) {
        volume.fs = fs.get();
        guest.filesystems.push_back(std::move(fs));
      }
    } catch (const Error& error) {
      if (error.kind() == ErrorKind::io) throw;  // the transport failed: nothing else will work
      volume.open_error = error;
    }
  }

  auto fall_back = [&](std::string why) -> OpenedGuest {
    if (options.writable)
      fail(ErrorKind::unsupported, subject, "{} ({}); dormant writes into a guest offline only on ext2/3/4",
           why, describe_volumes(volumes));
    if (!options.allow_guestfs)
      fail(ErrorKind::unsupported, subject, "{} ({}); the guestfs fallback can read it but is disabled", why,
           describe_volumes(volumes));
    // Stop qemu-nbd before the appliance opens the image, users first.
    guest.view.reset();
    guest.filesystems.clear();
    guest.partitions.clear();
    guest.disk.reset();
    return open_with_guestfs(guest.probe, options);
  };

  // Root candidates, each with its fstab if it has one.
  struct Candidate {
    Volume* volume;
    std::optional<std::vector<FstabEntry>> fstab;
  };
  std::vector<Candidate> candidates;
  for (auto& volume : volumes) {
    if (volume.fs == nullptr) continue;
    try {
      if (!root_candidate(*volume.fs)) continue;
    } catch (const Error& error) {
      if (error.kind() == ErrorKind::io) throw;
      volume.open_error = error;  // a damaged directory tree: not a usable root
      continue;
    }
    auto root_only = make_fast_guest_view({volume.mount_at("/")}, subject);
    std::optional<std::vector<FstabEntry>> fstab;
    if (root_only->type_of("/etc/fstab") == FileType::regular)
      fstab = parse_fstab(root_only->read_file("/etc/fstab", fstab_cap).value_or(""));
    candidates.push_back({&volume, std::move(fstab)});
  }
  if (candidates.empty()) {
    for (const auto& volume : volumes)
      if (volume.open_error && !guestfs_could_help)
        throw *volume.open_error;  // e.g. a corrupt root superblock
    if (guestfs_could_help)
      return fall_back("no ext2/3/4 root filesystem found, the root may be on LVM, XFS, btrfs or LUKS");
    fail(ErrorKind::unsupported, subject, "no Linux root filesystem found ({})", describe_volumes(volumes));
  }
  // Prefer the root whose own fstab mounts "/" from itself, then one with an fstab.
  auto mounts_itself = [&](const Candidate& c) {
    if (!c.fstab) return false;
    return std::any_of(c.fstab->begin(), c.fstab->end(), [&](const FstabEntry& e) {
      return normalise_mountpoint(e.mountpoint) == "/" && find_volume(volumes, e.spec) == c.volume;
    });
  };
  auto chosen = std::find_if(candidates.begin(), candidates.end(), mounts_itself);
  if (chosen == candidates.end())
    chosen = std::find_if(candidates.begin(), candidates.end(),
                          [](const Candidate& c) { return c.fstab.has_value(); });
  if (chosen == candidates.end()) chosen = candidates.begin();

  Volume& root = *chosen->volume;
  std::vector<FastMount> mounts{root.mount_at("/")};
  for (const auto& entry : chosen->fstab.value_or(std::vector<FstabEntry>{})) {
    const std::string mountpoint = normalise_mountpoint(entry.mountpoint);
    if (mountpoint.empty() || mountpoint == "/" || is_virtual_fstype(entry.fstype)) continue;
    if (entry.options.find("noauto") != std::string::npos && !is_essential(mountpoint)) continue;
    if (std::any_of(mounts.begin(), mounts.end(),
                    [&](const FastMount& m) { return m.info.mountpoint == mountpoint; }))
      continue;  // a later line over the same mountpoint: keep the first
    Volume* volume = find_volume(volumes, entry.spec);
    if (volume && volume->fs) {
      mounts.push_back(volume->mount_at(mountpoint));
      continue;
    }
    if (!is_essential(mountpoint)) continue;  // /home, /boot/efi, /srv: not needed to inspect
    if (volume && volume->open_error) throw *volume->open_error;
    const std::string seen = volume ? volume->signature.type : std::string();
    if (needs_guestfs(seen) || needs_guestfs(entry.fstype) || entry.spec.starts_with("/dev/mapper/") ||
        (!volume && guestfs_could_help))
      return fall_back(fmt::format("fstab entry '{}' for {} is on {}, which the fast path cannot read",
                                   entry.spec, mountpoint, seen.empty() ? entry.fstype : seen));
    fail(ErrorKind::unsupported, subject,
         "fstab entry '{}' for {} names {} ({}); the fast path reads only ext2/3/4 on this disk", entry.spec,
         mountpoint, volume ? volume->where() : "no filesystem on this disk",
         seen.empty() ? entry.fstype : seen);
  }
  for (const auto& mount : mounts) guest.mounted.push_back(mount.fs);
  guest.view = make_fast_guest_view(std::move(mounts), subject);
  return guest;
}

}  // namespace dormant::image
