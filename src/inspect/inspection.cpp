// Inspection of an assembled guest: every read goes through the GuestView,
// which keeps paths inside the guest root; this file caps sizes, turns odd
// guest content into warnings and refuses content that breaks a safety rule.
#include "dormant/inspect/inspection.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <exception>
#include <set>
#include <stdexcept>

#include "dormant/core/error.hpp"
#include "dormant/image/format.hpp"
#include "dormant/inspect/os_release.hpp"

namespace dormant::inspect {

namespace {

constexpr std::string_view kDpkgStatus = "/var/lib/dpkg/status";
// Directories listed for kernels hold a handful of entries; more is hostile.
constexpr std::size_t kMaxKernelDirEntries = 4096;

std::string_view trim(std::string_view s) {
  auto blank = [](char c) {
    return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\f' || c == '\v';
  };
  while (!s.empty() && blank(s.front())) s.remove_prefix(1);
  while (!s.empty() && blank(s.back())) s.remove_suffix(1);
  return s;
}

// The first line that is neither empty nor a '#' comment, trimmed.
std::string first_line(std::string_view text) {
  while (!text.empty()) {
    std::size_t nl = text.find('\n');
    std::string_view line = trim(text.substr(0, nl));
    text = nl == std::string_view::npos ? std::string_view{} : text.substr(nl + 1);
    if (!line.empty() && line.front() != '#') return std::string(line);
  }
  return {};
}

// Reads a small optional file. A file that is too big or not a regular file
// is odd but not fatal for inspection: it becomes a warning.
std::optional<std::string> read_small(image::GuestView& view, std::string_view path,
                                      std::vector<std::string>& warnings) {
  try {
    return view.read_file(path, kMaxSmallFileBytes);
  } catch (const Error& e) {
    if (e.kind() != ErrorKind::limit && e.kind() != ErrorKind::unsupported) throw;
    warnings.push_back(fmt::format("{} not read: {}", path, e.message()));
    return std::nullopt;
  }
}

std::optional<std::vector<std::string>> list_small(image::GuestView& view, std::string_view path,
                                                   std::vector<std::string>& warnings) {
  try {
    return view.list_dir(path, kMaxKernelDirEntries);
  } catch (const Error& e) {
    if (e.kind() != ErrorKind::limit && e.kind() != ErrorKind::unsupported) throw;
    warnings.push_back(fmt::format("{} not listed: {}", path, e.message()));
    return std::nullopt;
  }
}

// RFC 1123 host names as Linux accepts them (HOST_NAME_MAX is 64): dot
// separated labels of letters, digits and '-', not starting or ending in '-'.
bool valid_hostname(std::string_view name) {
  if (name.empty() || name.size() > 64) return false;
  std::size_t label = 0;
  char prev = '.';
  for (char c : name) {
    if (c == '.') {
      if (label == 0 || prev == '-') return false;
      label = 0;
    } else if (std::isalnum(static_cast<unsigned char>(c)) || c == '-') {
      if (c == '-' && label == 0) return false;
      if (++label > 63) return false;
    } else {
      return false;
    }
    prev = c;
  }
  return label > 0 && prev != '-';
}

// Kernel versions come from file names: keep them printable and short so
// they are safe to show and to compare.
bool plausible_kernel_version(std::string_view v) {
  if (v.empty() || v.size() > 128) return false;
  return std::all_of(v.begin(), v.end(), [](char c) { return c > ' ' && c < 0x7f && c != '/'; });
}

// Newest first. Versions are compared as runs of digits (numerically) and
// runs of other characters (bytewise), so "6.1.0-28-amd64" sorts before
// "6.1.0-9-amd64". This is not dpkg's order (no '~' rule) but kernel package
// versions do not use '~' in their ABI names.
bool newer_kernel(const std::string& a, const std::string& b) {
  std::size_t i = 0, j = 0;
  auto digit = [](char c) { return c >= '0' && c <= '9'; };
  while (i < a.size() && j < b.size()) {
    if (digit(a[i]) && digit(b[j])) {
      std::size_t i0 = i, j0 = j;
      while (i < a.size() && digit(a[i])) ++i;
      while (j < b.size() && digit(b[j])) ++j;
      std::string_view x(a.data() + i0, i - i0), y(b.data() + j0, j - j0);
      while (x.size() > 1 && x.front() == '0') x.remove_prefix(1);
      while (y.size() > 1 && y.front() == '0') y.remove_prefix(1);
      if (x.size() != y.size()) return x.size() > y.size();
      if (x != y) return x > y;
    } else {
      if (a[i] != b[j]) return static_cast<unsigned char>(a[i]) > static_cast<unsigned char>(b[j]);
      ++i;
      ++j;
    }
  }
  if (a.size() - i != b.size() - j) return a.size() - i > b.size() - j;
  return a > b;
}

OsInfo read_os(image::GuestView& view, std::vector<std::string>& warnings) {
  // /etc/os-release first (on Debian a relative symlink the view resolves),
  // then /usr/lib/os-release, as os-release(5) tells readers to.
  std::optional<std::string> text = read_small(view, "/etc/os-release", warnings);
  if (!text) text = read_small(view, "/usr/lib/os-release", warnings);
  if (!text) fail(ErrorKind::unsupported, "", "no os-release found: not a recognisable Linux guest");
  auto fields = parse_os_release(*text);
  auto get = [&](const char* key, const char* fallback) {
    auto it = fields.find(key);
    return it == fields.end() ? std::string(fallback) : it->second;
  };
  OsInfo os;
  // Defaults are the ones os-release(5) gives for absent keys.
  os.id = get("ID", "linux");
  os.version_id = get("VERSION_ID", "");
  os.pretty_name = get("PRETTY_NAME", "Linux");
  os.version_codename = get("VERSION_CODENAME", "");
  if (auto dv = read_small(view, "/etc/debian_version", warnings)) os.debian_version = first_line(*dv);
  return os;
}

std::string read_hostname(image::GuestView& view, std::vector<std::string>& warnings) {
  auto text = read_small(view, "/etc/hostname", warnings);
  if (!text) return {};
  std::string name = first_line(*text);
  if (valid_hostname(name)) return name;
  warnings.push_back(
      fmt::format("/etc/hostname holds no valid host name ('{}'); hostname left empty", name.substr(0, 64)));
  return {};
}

std::vector<std::string> read_kernels(image::GuestView& view, std::vector<std::string>& warnings) {
  std::set<std::string> versions;
  std::size_t ignored = 0;
  auto add = [&](std::string_view version) {
    if (plausible_kernel_version(version))
      versions.emplace(version);
    else
      ++ignored;
  };
  if (auto boot = list_small(view, "/boot", warnings)) {
    constexpr std::string_view prefix = "vmlinuz-";
    for (const auto& name : *boot)
      if (name.size() > prefix.size() && name.starts_with(prefix))
        add(std::string_view(name).substr(prefix.size()));
  }
  // /lib/modules and /usr/lib/modules are the same directory on merged-/usr
  // systems; the set unions them either way.
  for (std::string_view dir : {std::string_view("/lib/modules"), std::string_view("/usr/lib/modules")}) {
    auto names = list_small(view, dir, warnings);
    if (!names) continue;
    for (const auto& name : *names)
      if (view.type_of(fmt::format("{}/{}", dir, name)) == image::FileType::directory) add(name);
  }
  if (ignored > 0)
    warnings.push_back(fmt::format("{} kernel entries with implausible version names were ignored", ignored));
  std::vector<std::string> out(versions.begin(), versions.end());
  std::sort(out.begin(), out.end(), newer_kernel);
  return out;
}

DpkgStatus read_packages(image::GuestView& view, std::string& raw, std::vector<std::string>& warnings) {
  std::optional<std::string> text;
  try {
    // Not following a final symlink: a status file that points elsewhere
    // (even inside the guest) is not what dpkg itself would have written.
    text = view.read_file(kDpkgStatus, kMaxDpkgStatusBytes, /*follow_final=*/false);
  } catch (const Error& e) {
    if (e.kind() == ErrorKind::limit)
      fail(ErrorKind::limit, "", "{} is larger than the {} MiB cap; not read", kDpkgStatus,
           kMaxDpkgStatusBytes >> 20);
    if (e.kind() == ErrorKind::unsupported) {
      if (view.type_of(kDpkgStatus, /*follow_final=*/false) == image::FileType::symlink)
        fail(ErrorKind::hostile, "", "{} is a symlink; refusing to follow it", kDpkgStatus);
      fail(ErrorKind::corrupt, "", "{} is not a regular file", kDpkgStatus);
    }
    throw;
  }
  if (!text) {
    warnings.push_back(
        fmt::format("no {}: the guest has no dpkg database, so no package inventory", kDpkgStatus));
    return {};
  }
  DpkgStatus status;
  try {
    status = parse_dpkg_status(*text);
    raw = std::move(*text);
  } catch (const Error& e) {
    throw Error(e.kind(), e.subject(), fmt::format("{}: {}", kDpkgStatus, e.message()));
  }
  for (auto& w : status.warnings) warnings.push_back(fmt::format("{}: {}", kDpkgStatus, w));
  return status;
}

// apt's auto-installed marks. Optional: without it every package counts as
// manually installed, as on the guest. Not following a final symlink, as for
// the status.
std::string read_extended_states(image::GuestView& view, std::vector<std::string>& warnings) {
  constexpr std::string_view path = "/var/lib/apt/extended_states";
  try {
    return view.read_file(path, kMaxDpkgStatusBytes, /*follow_final=*/false).value_or(std::string());
  } catch (const Error& e) {
    if (e.kind() != ErrorKind::limit && e.kind() != ErrorKind::unsupported) throw;
    warnings.push_back(fmt::format("{} not read: {}", path, e.message()));
    return {};
  }
}

// dpkg --add-architecture's list: /var/lib/dpkg/arch, one per line. The
// native one is dropped; apt is always told the native one first.
std::vector<std::string> read_foreign_architectures(image::GuestView& view, const std::string& native,
                                                    std::vector<std::string>& warnings) {
  std::vector<std::string> out;
  auto text = read_small(view, "/var/lib/dpkg/arch", warnings);
  if (!text) return out;
  std::string_view rest = *text;
  while (!rest.empty()) {
    auto nl = rest.find('\n');
    std::string_view line = rest.substr(0, nl);
    rest = nl == std::string_view::npos ? std::string_view{} : rest.substr(nl + 1);
    while (!line.empty() && (line.back() == ' ' || line.back() == '\t' || line.back() == '\r'))
      line.remove_suffix(1);
    while (!line.empty() && (line.front() == ' ' || line.front() == '\t')) line.remove_prefix(1);
    bool plausible = !line.empty() && line.size() <= 32 && std::all_of(line.begin(), line.end(), [](char c) {
      return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
    });
    if (!plausible) {
      if (!line.empty())
        warnings.push_back("/var/lib/dpkg/arch: an implausible architecture name was ignored");
      continue;
    }
    if (line != native && std::find(out.begin(), out.end(), line) == out.end()) out.emplace_back(line);
  }
  return out;
}

// dpkg's native architecture: the Architecture of the installed "dpkg"
// package (dpkg is built for the native architecture and is never
// Multi-Arch: same), else the first line of /var/lib/dpkg/arch, which dpkg
// writes native first.
std::string read_arch(image::GuestView& view, const std::vector<Package>& packages,
                      std::vector<std::string>& warnings) {
  for (const auto& p : packages)
    if (p.name == "dpkg" && p.status == "installed" && !p.arch.empty() && p.arch != "all") return p.arch;
  if (auto text = read_small(view, "/var/lib/dpkg/arch", warnings)) {
    std::string arch = first_line(*text);
    if (!arch.empty() && arch.size() <= 64) return arch;
  }
  if (!packages.empty())
    warnings.push_back("dpkg's architecture is unknown: no installed dpkg package and no /var/lib/dpkg/arch");
  return {};
}

// JSON text must be UTF-8 and guest strings need not be: invalid sequences
// become U+FFFD so that the inspection can always be serialised. Returns
// whether anything changed.
bool make_utf8(std::string& s) {
  auto cont = [&](std::size_t k) {
    return k < s.size() && (static_cast<unsigned char>(s[k]) & 0xC0) == 0x80;
  };
  std::string out;
  bool changed = false;
  std::size_t i = 0;
  while (i < s.size()) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    std::size_t len = 0;
    if (c < 0x80)
      len = 1;
    else if (c >= 0xC2 && c <= 0xDF)
      len = 2;
    else if (c >= 0xE0 && c <= 0xEF)
      len = 3;
    else if (c >= 0xF0 && c <= 0xF4)
      len = 4;
    bool ok = len > 0;
    for (std::size_t k = 1; ok && k < len; ++k) ok = cont(i + k);
    if (ok && len >= 3) {
      unsigned char d = static_cast<unsigned char>(s[i + 1]);
      // Overlong forms, UTF-16 surrogates and code points above U+10FFFF.
      if ((c == 0xE0 && d < 0xA0) || (c == 0xED && d > 0x9F) || (c == 0xF0 && d < 0x90) ||
          (c == 0xF4 && d > 0x8F))
        ok = false;
    }
    if (ok) {
      out.append(s, i, len);
      i += len;
    } else {
      out += "\xEF\xBF\xBD";
      changed = true;
      ++i;
    }
  }
  if (changed) s = std::move(out);
  return changed;
}

void make_all_utf8(Inspection& r) {
  bool changed = false;
  auto fix = [&](std::string& s) { changed = make_utf8(s) || changed; };
  for (auto* s : {&r.os.id, &r.os.version_id, &r.os.pretty_name, &r.os.version_codename, &r.os.debian_version,
                  &r.arch, &r.hostname})
    fix(*s);
  for (auto& k : r.kernels) fix(k);
  for (auto& p : r.packages)
    for (auto* s : {&p.name, &p.version, &p.arch, &p.source, &p.source_version, &p.status, &p.want}) fix(*s);
  for (auto& m : r.filesystems)
    for (auto* s : {&m.mountpoint, &m.device, &m.fstype, &m.uuid}) fix(*s);
  for (auto& w : r.warnings) fix(w);
  if (changed)
    r.warnings.push_back("guest data held invalid UTF-8; the invalid bytes were replaced by U+FFFD");
}

}  // namespace

Inspection inspect_guest(image::GuestView& view) {
  Inspection r;
  r.access = std::string(view.access());
  r.os = read_os(view, r.warnings);
  r.hostname = read_hostname(view, r.warnings);
  r.kernels = read_kernels(view, r.warnings);
  r.packages = read_packages(view, r.package_database.dpkg_status, r.warnings).packages;
  r.arch = read_arch(view, r.packages, r.warnings);
  if (!r.package_database.dpkg_status.empty()) {
    r.package_database.extended_states = read_extended_states(view, r.warnings);
    r.package_database.foreign_architectures = read_foreign_architectures(view, r.arch, r.warnings);
  }
  r.filesystems = view.mounts();
  make_all_utf8(r);
  return r;
}

Inspection inspect_image(const std::filesystem::path& image, const image::OpenOptions& options) {
  try {
    image::OpenedGuest guest = image::open_guest(image, options);
    Inspection r = inspect_guest(*guest.view);
    r.format = std::string(image::to_string(guest.probe.format));
    r.virtual_size = guest.probe.virtual_size;
    return r;
  } catch (const Error& e) {
    if (!e.subject().empty()) throw;
    if (e.cause().empty()) throw Error(e.kind(), image.string(), e.message());
    throw Error(e.kind(), image.string(), e.message(), std::runtime_error(e.cause()));
  }
}

}  // namespace dormant::inspect
