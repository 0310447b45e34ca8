// Path resolution inside the guest, one component at a time, as the kernel's
// namei does but confined: an absolute symlink target restarts at the guest
// root, ".." stops at it, a mountpoint switches to the mounted filesystem, and
// symlink chains are bounded like Linux's (40 hops, ELOOP).
#include "fast_guest_view.hpp"

#include <deque>
#include <map>

#include "dormant/core/error.hpp"
#include "path_components.hpp"

namespace dormant::image {

namespace {

constexpr int max_symlink_hops = 40;           // Linux MAXSYMLINKS
constexpr std::size_t max_path_length = 4096;  // PATH_MAX

struct Resolved {
  Filesystem* fs;
  Inode inode;
};

void push_components(std::deque<std::string>& pending, std::string_view path) {
  const auto parts = path_components(path);
  pending.insert(pending.begin(), parts.begin(), parts.end());
}

class FastGuestView final : public GuestView {
 public:
  FastGuestView(std::vector<FastMount> mounts, std::string subject) : subject_(std::move(subject)) {
    for (auto& mount : mounts) {
      mount_index_.emplace(mount.info.mountpoint, mounts_.size());
      mounts_.push_back(std::move(mount));
    }
    if (!mount_index_.contains("/"))
      fail(ErrorKind::internal, subject_, "guest view without a root filesystem");
  }

  std::string_view access() const override { return "fast"; }

  std::optional<std::string> read_file(std::string_view path, std::uint64_t cap, bool follow_final) override {
    auto found = resolve(path, follow_final);
    if (!found) return std::nullopt;
    if (found->inode.type != FileType::regular)
      fail(ErrorKind::unsupported, subject_, "guest path {}: {}, not a regular file", path,
           describe(found->inode.type));
    return found->fs->read(found->inode, cap);
  }

  std::optional<std::vector<std::string>> list_dir(std::string_view path, std::size_t max_entries) override {
    auto found = resolve(path, true);
    if (!found) return std::nullopt;
    if (found->inode.type != FileType::directory)
      fail(ErrorKind::unsupported, subject_, "guest path {}: {}, not a directory", path,
           describe(found->inode.type));
    std::vector<std::string> names;
    for (auto& [name, inode] : found->fs->list(found->inode, max_entries)) names.push_back(std::move(name));
    return names;
  }

  std::optional<FileType> type_of(std::string_view path, bool follow_final) override {
    auto found = resolve(path, follow_final);
    if (!found) return std::nullopt;
    return found->inode.type;
  }

  std::vector<MountInfo> mounts() const override {
    std::vector<MountInfo> infos;
    for (const auto& mount : mounts_) infos.push_back(mount.info);
    return infos;
  }

 private:
  static std::string_view describe(FileType type) {
    switch (type) {
      case FileType::regular:
        return "a regular file";
      case FileType::directory:
        return "a directory";
      case FileType::symlink:
        return "a symlink";
      case FileType::other:
        return "a special file";
    }
    return "a special file";
  }

  Resolved mount_root(std::size_t index) {
    Filesystem* fs = mounts_[index].fs;
    return {fs, fs->root()};
  }

  // The canonical guest path of the directories walked so far.
  static std::string join(const std::vector<std::pair<std::string, Resolved>>& stack) {
    std::string out;
    for (const auto& [name, resolved] : stack) out += "/" + name;
    return out.empty() ? "/" : out;
  }

  std::optional<Resolved> resolve(std::string_view path, bool follow_final) {
    if (path.empty() || path.front() != '/')
      fail(ErrorKind::usage, subject_, "guest path '{}' is not absolute", path);
    if (path.size() > max_path_length)
      fail(ErrorKind::limit, subject_, "guest path of {} bytes is longer than {}", path.size(),
           max_path_length);
    if (path.find('\0') != std::string_view::npos)
      fail(ErrorKind::usage, subject_, "guest path contains a NUL byte");

    const Resolved root = mount_root(mount_index_.at("/"));
    // Each entry is a directory below the root: its name and where it lives.
    std::vector<std::pair<std::string, Resolved>> stack;
    auto current = [&]() -> const Resolved& { return stack.empty() ? root : stack.back().second; };
    std::deque<std::string> pending;
    push_components(pending, path);
    int hops = 0;

    while (!pending.empty()) {
      std::string name = std::move(pending.front());
      pending.pop_front();
      if (name == ".") continue;
      if (name == "..") {
        if (!stack.empty()) stack.pop_back();
        continue;
      }
      const Resolved& dir = current();
      if (dir.inode.type != FileType::directory) return std::nullopt;  // ENOTDIR
      std::string candidate = join(stack);
      candidate += candidate == "/" ? name : "/" + name;
      Resolved next{};
      if (auto mount = mount_index_.find(candidate); mount != mount_index_.end()) {
        next = mount_root(mount->second);
      } else {
        auto inode = dir.fs->lookup(dir.inode, name);
        if (!inode) return std::nullopt;
        next = {dir.fs, *inode};
      }
      const bool last = pending.empty();
      if (next.inode.type == FileType::symlink && (!last || follow_final)) {
        if (++hops > max_symlink_hops)
          fail(ErrorKind::corrupt, subject_, "guest path {}: too many levels of symbolic links", path);
        const std::string target = next.fs->read_link(next.inode);
        if (target.empty()) return std::nullopt;   // ENOENT, as Linux does
        if (target.front() == '/') stack.clear();  // absolute: back to the guest root, never the host's
        push_components(pending, target);
        continue;
      }
      if (last) return next;
      stack.emplace_back(std::move(name), next);
    }
    return current();
  }

  std::string subject_;
  std::vector<FastMount> mounts_;
  std::map<std::string, std::size_t, std::less<>> mount_index_;
};

}  // namespace

std::unique_ptr<GuestView> make_fast_guest_view(std::vector<FastMount> mounts, std::string subject) {
  return std::make_unique<FastGuestView>(std::move(mounts), std::move(subject));
}

}  // namespace dormant::image
