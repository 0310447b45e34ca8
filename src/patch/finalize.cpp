// --finalize: one transient boot of the staged overlay under libvirt.
//
// Safety of the running domain: it is created with
// VIR_DOMAIN_START_AUTODESTROY, so libvirtd destroys it as soon as this
// process's connection closes, including when dormant is killed; every
// exception path destroys it explicitly as well (DomainGuard), and the
// time-out destroys it. Its name starts with "dormant-finalize-" so that a
// leftover (libvirtd restarted while it ran) can be found with virsh list.
#include "dormant/patch/finalize.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <fstream>
#include <memory>
#include <thread>

#include "dormant/core/error.hpp"
#include "dormant/image/probe.hpp"
#include "finalize_domain.hpp"
#include "finalize_guest.hpp"
#include "libvirt_api.hpp"

namespace dormant::patch {
namespace {

using library::Connection;
using library::last_libvirt_error;
using library::libvirt_api;
using library::silence_libvirt;
using Clock = std::chrono::steady_clock;

constexpr std::uint64_t boot_file_cap = std::uint64_t{256} << 20;
constexpr std::size_t console_tail_bytes = 8192;
constexpr std::size_t console_tail_lines = 40;
constexpr std::chrono::milliseconds poll_interval{250};

int last_libvirt_code() {
  const virError* error = libvirt_api().virGetLastError();
  return error ? error->code : VIR_ERR_OK;
}

using Domain = library::DomainHandle;

// Destroys the domain unless it was seen gone: an exception between create
// and the end of the wait must not leave the guest running.
class DomainGuard {
 public:
  explicit DomainGuard(virDomainPtr domain) : domain_(domain) {}
  ~DomainGuard() {
    if (domain_) libvirt_api().virDomainDestroy(domain_);
  }
  DomainGuard(const DomainGuard&) = delete;
  DomainGuard& operator=(const DomainGuard&) = delete;
  void release() { domain_ = nullptr; }

 private:
  virDomainPtr domain_;
};

void check_options(const std::filesystem::path& overlay, const FinalizeOptions& options) {
  const std::string& name = options.domain_name;
  const bool name_ok =
      !name.empty() && name.size() <= 200 && std::all_of(name.begin(), name.end(), [](char c) {
        return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.';
      });
  if (!name_ok)
    fail(ErrorKind::usage, "finalize", "domain name '{}' must be 1-200 characters of [A-Za-z0-9._-]", name);
  if (options.work_dir.empty() || !std::filesystem::is_directory(options.work_dir))
    fail(ErrorKind::usage, options.work_dir.string(), "the finalize work directory does not exist");
  if (options.timeout.count() <= 0) fail(ErrorKind::usage, "finalize", "the time-out must be positive");
  if (options.memory_mib < 256)
    fail(ErrorKind::usage, "finalize", "{} MiB is too little memory to boot", options.memory_mib);
  if (!overlay.is_absolute()) fail(ErrorKind::usage, overlay.string(), "the overlay path must be absolute");
}

// The overlay and every image below it, with the formats probe_image found
// (qemu-img info never opens a backing file to detect its format: the format
// recorded in the qcow2 header is pinned all the way down).
std::vector<detail::ChainImage> disk_chain(const std::filesystem::path& overlay) {
  image::ProbeOptions options;
  options.allowed_roots = {"/"};  // dormant's own overlay; see extract_boot_files
  options.format = image::ImageFormat::qcow2;
  std::vector<detail::ChainImage> chain;
  image::ImageProbe probe = image::probe_image(overlay, options);
  chain.push_back({probe.path, std::string(image::to_string(probe.format))});
  while (probe.backing_file) {
    image::require_pinned_backing_format(probe);
    if (chain.size() > 16) fail(ErrorKind::limit, overlay.string(), "backing chain deeper than 16 images");
    options.format = probe.backing_format;
    probe = image::probe_image(*probe.backing_file, options);
    chain.push_back({probe.path, std::string(image::to_string(probe.format))});
  }
  return chain;
}

Connection connect(const std::string& uri) {
  silence_libvirt();
  Connection conn(libvirt_api().virConnectOpen(uri.c_str()));
  if (!conn)
    fail(ErrorKind::unsupported, uri,
         "cannot connect to libvirt: {}. --finalize needs the libvirt daemon with the qemu driver "
         "(packages libvirt-daemon-system, libvirt-daemon-driver-qemu, qemu-system-x86); start it with "
         "scripts/start-libvirt.sh (or `virtlogd -d; libvirtd -d`, or systemctl start libvirtd)",
         last_libvirt_error());
  return conn;
}

// The last lines of the serial console log, with control characters other
// than newline and tab replaced (the text comes from the guest and ends up
// in messages and JSON).
std::string console_tail(const std::filesystem::path& log) {
  std::ifstream in(log, std::ios::binary);
  if (!in) return {};
  in.seekg(0, std::ios::end);
  const std::streamoff size = in.tellg();
  const std::streamoff start = size > static_cast<std::streamoff>(console_tail_bytes)
                                   ? size - static_cast<std::streamoff>(console_tail_bytes)
                                   : 0;
  in.seekg(start);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  for (char& c : text) {
    const auto u = static_cast<unsigned char>(c);
    if (c == '\r')
      c = ' ';
    else if ((u < 0x20 && c != '\n' && c != '\t') || u == 0x7f)
      c = '?';
  }
  std::size_t lines = 0;
  std::size_t pos = text.size();
  while (pos > 0) {
    std::size_t nl = text.rfind('\n', pos - 1);
    if (nl == std::string::npos) break;
    if (nl + 1 < text.size() && ++lines > console_tail_lines) return text.substr(nl + 1);
    pos = nl;
  }
  return text;
}

}  // namespace

FinalizeResult finalize_boot(const std::filesystem::path& overlay, const FinalizeOptions& options) {
  check_options(overlay, options);
  const std::filesystem::path work_dir = std::filesystem::absolute(options.work_dir);

  // Everything host-side first, so that a guest without a kernel or a
  // missing daemon fails before anything starts.
  detail::DomainSpec spec;
  spec.name = options.domain_name;
  spec.memory_mib = options.memory_mib;
  spec.disk_chain = disk_chain(overlay);
  detail::BootFiles boot = detail::extract_boot_files(overlay, work_dir, boot_file_cap);
  spec.kernel = boot.kernel;
  spec.initrd = boot.initrd;
  spec.cmdline = detail::kernel_cmdline(boot.root_uuid);
  spec.console_log = work_dir / "console.log";
  std::filesystem::remove(spec.console_log);
  const std::string xml = detail::domain_xml(spec);
  {
    // Kept beside the console log for whoever reads a failed run.
    std::ofstream out(work_dir / "domain.xml", std::ios::trunc);
    out << xml;
  }

  Connection conn = connect(options.libvirt_uri);
  if (Domain existing{libvirt_api().virDomainLookupByName(conn.get(), spec.name.c_str())})
    fail(ErrorKind::conflict, spec.name,
         "a libvirt domain with this name exists already (a finalize still running?); remove it with "
         "`virsh -c {} destroy {}`",
         options.libvirt_uri, spec.name);
  libvirt_api().virResetLastError();

  FinalizeResult result;
  result.console_log = spec.console_log;
  const Clock::time_point started = Clock::now();
  const Clock::time_point deadline = started + options.timeout;
  Domain domain(libvirt_api().virDomainCreateXML(conn.get(), xml.c_str(), VIR_DOMAIN_START_AUTODESTROY));
  if (!domain)
    fail(ErrorKind::io, spec.name, "libvirt refused to start the finalize domain: {}", last_libvirt_error());
  DomainGuard guard(domain.get());

  for (;;) {
    const int active = libvirt_api().virDomainIsActive(domain.get());
    if (active == 0 || (active < 0 && last_libvirt_code() == VIR_ERR_NO_DOMAIN)) {
      // A transient domain disappears once shut off; 0 is the short moment before.
      result.state = FinalizeResult::State::stopped;
      guard.release();
      break;
    }
    if (active < 0)
      fail(ErrorKind::io, spec.name, "lost the finalize domain's state: {}", last_libvirt_error());
    if (Clock::now() >= deadline) {
      if (libvirt_api().virDomainDestroy(domain.get()) != 0 && last_libvirt_code() != VIR_ERR_NO_DOMAIN &&
          last_libvirt_code() != VIR_ERR_OPERATION_INVALID)
        fail(ErrorKind::io, spec.name, "cannot destroy the finalize domain after the time-out: {}",
             last_libvirt_error());
      result.state = FinalizeResult::State::timeout;
      guard.release();
      break;
    }
    std::this_thread::sleep_for(poll_interval);
  }
  result.elapsed = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - started);
  result.console_tail = console_tail(spec.console_log);
  return result;
}

}  // namespace dormant::patch
