// Maintenance hosts (schema version 5): the libvirt daemons that servicing
// VMs run on.
#include <SQLiteCpp/Statement.h>

#include <algorithm>
#include <cctype>

#include "catalog_impl.hpp"
#include "dormant/catalog/catalog.hpp"

namespace dormant::catalog {
namespace {

constexpr const char* kHostColumns = "name, uri, host_group, max_vms, memory_mib, pool, added_at";

Host read_host(SQLite::Statement& q) {
  Host host;
  host.name = q.getColumn(0).getString();
  host.uri = q.getColumn(1).getString();
  host.host_group = q.getColumn(2).getString();
  host.max_vms = q.getColumn(3).getInt64();
  host.memory_mib = q.getColumn(4).getInt64();
  host.pool = q.getColumn(5).getString();
  host.added_at = q.getColumn(6).getString();
  return host;
}

// Names of hosts and host groups: as source names.
bool valid_name(std::string_view name) {
  auto name_char = [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-';
  };
  return !name.empty() && std::isalnum(static_cast<unsigned char>(name[0])) &&
         std::all_of(name.begin(), name.end(), name_char);
}

bool has_space_or_control(std::string_view text) {
  return std::any_of(text.begin(), text.end(),
                     [](char c) { return static_cast<unsigned char>(c) <= ' ' || c == 0x7f; });
}

}  // namespace

void validate_host(const Host& host) {
  if (!valid_name(host.name))
    fail(ErrorKind::usage, host.name.empty() ? std::string("host") : host.name,
         "invalid host name: use letters, digits, '.', '_' and '-', starting with a letter or digit");
  std::size_t scheme_end = host.uri.find("://");
  if (scheme_end == std::string::npos || scheme_end == 0 || has_space_or_control(host.uri))
    fail(ErrorKind::usage, host.uri.empty() ? host.name : host.uri,
         "invalid libvirt URI: use a connection URI such as qemu:///system, qemu+ssh://root@HOST/system or "
         "qemu+tls://HOST/system");
  if (!valid_name(host.host_group))
    fail(ErrorKind::usage, host.name,
         "invalid host group '{}': use letters, digits, '.', '_' and '-', starting with a letter or digit",
         host.host_group);
  if (host.max_vms < 1)
    fail(ErrorKind::usage, host.name, "max VMs at once must be at least 1 (got {})", host.max_vms);
  if (host.memory_mib < 128)
    fail(ErrorKind::usage, host.name, "servicing VM memory must be at least 128 MiB (got {})",
         host.memory_mib);
  if (host.pool.empty() || has_space_or_control(host.pool))
    fail(ErrorKind::usage, host.name, "invalid storage pool name '{}'", host.pool);
}

void Catalog::add_host(const Host& host) {
  validate_host(host);
  impl_->guard("adding a host", [&] {
    if (find_host(host.name))
      fail(ErrorKind::conflict, host.name, "a host with this name exists already; see `dormant host list`");
    SQLite::Statement q(impl_->db,
                        "INSERT INTO hosts (name, uri, host_group, max_vms, memory_mib, pool, added_at) "
                        "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)");
    q.bind(1, host.name);
    q.bind(2, host.uri);
    q.bind(3, host.host_group);
    q.bind(4, host.max_vms);
    q.bind(5, host.memory_mib);
    q.bind(6, host.pool);
    q.bind(7, host.added_at.empty() ? utc_now() : host.added_at);
    q.exec();
  });
}

void Catalog::remove_host(std::string_view name) {
  impl_->guard("removing a host", [&] {
    SQLite::Statement q(impl_->db, "DELETE FROM hosts WHERE name = ?1");
    q.bind(1, std::string(name));
    if (q.exec() == 0) fail(ErrorKind::not_found, std::string(name), "no such host; see `dormant host list`");
  });
}

std::vector<Host> Catalog::hosts() {
  return impl_->guard("reading hosts", [&] {
    SQLite::Statement q(impl_->db, std::string("SELECT ") + kHostColumns + " FROM hosts ORDER BY name");
    std::vector<Host> out;
    while (q.executeStep()) out.push_back(read_host(q));
    return out;
  });
}

std::optional<Host> Catalog::find_host(std::string_view name) {
  return impl_->guard("reading a host", [&]() -> std::optional<Host> {
    SQLite::Statement q(impl_->db, std::string("SELECT ") + kHostColumns + " FROM hosts WHERE name = ?1");
    q.bind(1, std::string(name));
    if (!q.executeStep()) return std::nullopt;
    return read_host(q);
  });
}

std::vector<Host> Catalog::hosts_in_group(std::string_view host_group) {
  return impl_->guard("reading hosts", [&] {
    SQLite::Statement q(
        impl_->db, std::string("SELECT ") + kHostColumns + " FROM hosts WHERE host_group = ?1 ORDER BY name");
    q.bind(1, std::string(host_group));
    std::vector<Host> out;
    while (q.executeStep()) out.push_back(read_host(q));
    return out;
  });
}

}  // namespace dormant::catalog
