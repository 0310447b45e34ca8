#include "dormant/catalog/catalog.hpp"

#include <SQLiteCpp/Database.h>
#include <SQLiteCpp/Statement.h>
#include <SQLiteCpp/Transaction.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <ctime>
#include <nlohmann/json.hpp>

#include "catalog_impl.hpp"
#include "dormant/core/error.hpp"
#include "schema.hpp"

namespace dormant::catalog {
namespace fs = std::filesystem;

std::string_view to_string(LibraryKind kind) {
  return kind == LibraryKind::directory ? "directory" : "libvirt-pool";
}

std::string utc_now() {
  std::time_t now = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
  std::tm tm{};
  gmtime_r(&now, &tm);
  char buffer[32];
  std::strftime(buffer, sizeof buffer, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buffer;
}

std::string utc_now_ms() {
  const auto now = std::chrono::system_clock::now();
  const auto ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() % 1000;
  std::time_t seconds = std::chrono::system_clock::to_time_t(now);
  std::tm tm{};
  gmtime_r(&seconds, &tm);
  char buffer[40];
  std::size_t n = std::strftime(buffer, sizeof buffer, "%Y-%m-%dT%H:%M:%S", &tm);
  std::snprintf(buffer + n, sizeof buffer - n, ".%03dZ", static_cast<int>(ms));
  return buffer;
}

bool glob_matches(std::string_view glob, const ImageRecord& image) {
  std::string pattern(glob);
  auto match = [&](const std::string& text) {
    return !text.empty() && fnmatch(pattern.c_str(), text.c_str(), 0) == 0;
  };
  return match(image.path) || match(fs::path(image.path).filename().string()) || match(image.domain);
}

namespace {

// Creates missing parent directories with 0700: the catalog reveals what the
// library holds, so it is private to its owner.
void create_private_parents(const fs::path& path, const std::string& subject) {
  fs::path parent = path.parent_path();
  if (parent.empty()) return;
  std::error_code ec;
  if (fs::is_directory(parent, ec)) return;
  fs::path partial;
  for (const auto& component : parent) {
    partial /= component;
    if (fs::is_directory(partial, ec)) continue;
    if (::mkdir(partial.c_str(), 0700) != 0 && errno != EEXIST)
      fail(ErrorKind::io, subject,
           "cannot create directory {}: {}; pass --catalog PATH to put the catalog elsewhere",
           partial.string(), std::strerror(errno));
  }
}

// Creates the file with 0600 before SQLite does (SQLite would use 0644).
// An existing catalog is never opened here: close() on any descriptor of the
// file drops every POSIX lock this process holds on it, including those of
// SQLite connections open in other threads (the server has one per thread).
// A writer elsewhere would then see no readers, checkpoint and reset the WAL
// under them: stale reads, then "database disk image is malformed".
void create_private_file(const fs::path& path, const std::string& subject) {
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd >= 0) {
    ::close(fd);
    return;
  }
  if (errno == EEXIST && ::access(path.c_str(), R_OK | W_OK) == 0) return;
  fail(ErrorKind::io, subject,
       "cannot open the catalog file: {}; check that its directory is writable or pass --catalog PATH",
       std::strerror(errno));
}

std::optional<std::string> text_or_null(const SQLite::Column& column) {
  if (column.isNull()) return std::nullopt;
  return column.getString();
}

Library read_library(SQLite::Statement& q) {
  Library lib;
  lib.id = q.getColumn(0).getInt64();
  lib.name = q.getColumn(1).getString();
  lib.kind = q.getColumn(2).getString() == "directory" ? LibraryKind::directory : LibraryKind::libvirt_pool;
  lib.path = text(q.getColumn(3));
  lib.pool = text(q.getColumn(4));
  lib.uri = text(q.getColumn(5));
  lib.added_at = q.getColumn(6).getString();
  return lib;
}

constexpr const char* kLibraryColumns = "id, name, kind, path, pool, uri, added_at";
constexpr const char* kImageColumns =
    "id, library_id, path, domain, format, virtual_size, file_size, identity, state, reason, access, os_id, "
    "os_version_id, os_pretty_name, arch, hostname, package_count, inspection_json, inspected_at, "
    "package_set";

ImageRecord read_image(SQLite::Statement& q) {
  ImageRecord r;
  r.id = q.getColumn(0).getInt64();
  if (!q.getColumn(1).isNull()) r.library_id = q.getColumn(1).getInt64();
  r.path = q.getColumn(2).getString();
  r.domain = text(q.getColumn(3));
  r.format = q.getColumn(4).getString();
  r.virtual_size = static_cast<std::uint64_t>(q.getColumn(5).getInt64());
  r.file_size = static_cast<std::uint64_t>(q.getColumn(6).getInt64());
  r.identity = q.getColumn(7).getString();
  r.state = q.getColumn(8).getString();
  r.reason = text(q.getColumn(9));
  r.access = text(q.getColumn(10));
  r.os_id = text(q.getColumn(11));
  r.os_version_id = text(q.getColumn(12));
  r.os_pretty_name = text(q.getColumn(13));
  r.arch = text(q.getColumn(14));
  r.hostname = text(q.getColumn(15));
  if (!q.getColumn(16).isNull()) r.package_count = q.getColumn(16).getInt64();
  r.inspection_json = text(q.getColumn(17));
  r.inspected_at = q.getColumn(18).getString();
  r.package_set = text(q.getColumn(19));
  return r;
}

Group read_group(SQLite::Statement& q) {
  return Group{q.getColumn(0).getInt64(), q.getColumn(1).getString(), text_or_null(q.getColumn(2))};
}

}  // namespace

Catalog::Catalog(const fs::path& path) {
  fs::path absolute = fs::absolute(path);
  std::string subject = absolute.string();
  create_private_parents(absolute, subject);
  create_private_file(absolute, subject);
  try {
    impl_ = std::make_unique<Impl>(absolute, subject);
    auto& db = impl_->db;
    // A file that is not SQLite fails on its first read, here.
    std::string mode = db.execAndGet("PRAGMA journal_mode=WAL").getString();
    if (mode != "wal")
      fail(ErrorKind::io, subject,
           "cannot switch the catalog to WAL journaling (got '{}'); is it on a network filesystem?", mode);
    db.exec("PRAGMA synchronous=FULL");
    db.exec("PRAGMA foreign_keys=ON");
    detail::migrate(db, subject);
  } catch (const Error&) {
    throw;
  } catch (const SQLite::Exception& e) {
    // The advice depends on the cause: moving a catalog aside is right for a
    // damaged file and wrong for a full disk.
    const int code = e.getErrorCode() & 0xff;
    struct statvfs st {};
    const bool full = code == SQLITE_FULL ||
                      (::statvfs(absolute.parent_path().c_str(), &st) == 0 &&
                       static_cast<std::uint64_t>(st.f_bavail) * st.f_frsize < (std::uint64_t{1} << 20));
    if (full)
      fail(ErrorKind::io, subject,
           "{}: the filesystem holding the catalog is full; free space there and retry (the catalog file is "
           "left as it was)",
           e.what());
    if (code == SQLITE_NOTADB || code == SQLITE_CORRUPT)
      fail(ErrorKind::io, subject, "{}; move it aside to start a new catalog, or pass --catalog PATH",
           e.what());
    fail(ErrorKind::io, subject, "{}; check the file and its filesystem", e.what());
  }
}

Catalog::~Catalog() = default;
Catalog::Catalog(Catalog&&) noexcept = default;
Catalog& Catalog::operator=(Catalog&&) noexcept = default;

const fs::path& Catalog::path() const { return impl_->path; }

int Catalog::schema_version() {
  return impl_->guard("reading the schema version",
                      [&] { return impl_->db.execAndGet("PRAGMA user_version").getInt(); });
}

std::string Catalog::journal_mode() {
  return impl_->guard("reading the journal mode",
                      [&] { return impl_->db.execAndGet("PRAGMA journal_mode").getString(); });
}

Library Catalog::add_library(Library library) {
  return impl_->guard("adding a library", [&] {
    auto& db = impl_->db;
    SQLite::Transaction transaction(db, SQLite::TransactionBehavior::IMMEDIATE);
    SQLite::Statement exists(
        db,
        "SELECT name FROM libraries WHERE name = ?1 OR (kind = ?2 AND "
        "((kind = 'directory' AND path = ?3) OR (kind = 'libvirt-pool' AND pool = ?4 AND uri = ?5)))");
    exists.bind(1, library.name);
    exists.bind(2, std::string(to_string(library.kind)));
    exists.bind(3, library.path);
    exists.bind(4, library.pool);
    exists.bind(5, library.uri);
    if (exists.executeStep()) {
      std::string other = exists.getColumn(0).getString();
      if (other == library.name)
        fail(ErrorKind::conflict, library.name,
             "a library with this name exists already; choose another with --name");
      fail(ErrorKind::conflict, library.name, "library '{}' holds the same {} already", other,
           library.kind == LibraryKind::directory ? "directory" : "pool");
    }
    library.added_at = utc_now();
    SQLite::Statement insert(
        db, "INSERT INTO libraries (name, kind, path, pool, uri, added_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)");
    insert.bind(1, library.name);
    insert.bind(2, std::string(to_string(library.kind)));
    bind_text_or_null(insert, 3, library.path);
    bind_text_or_null(insert, 4, library.pool);
    bind_text_or_null(insert, 5, library.uri);
    insert.bind(6, library.added_at);
    insert.exec();
    library.id = db.getLastInsertRowid();
    transaction.commit();
    return library;
  });
}

std::vector<Library> Catalog::libraries() {
  return impl_->guard("listing libraries", [&] {
    SQLite::Statement q(impl_->db,
                        std::string("SELECT ") + kLibraryColumns + " FROM libraries ORDER BY name");
    std::vector<Library> out;
    while (q.executeStep()) out.push_back(read_library(q));
    return out;
  });
}

std::optional<Library> Catalog::find_library(std::string_view name) {
  return impl_->guard("reading a library", [&]() -> std::optional<Library> {
    SQLite::Statement q(impl_->db,
                        std::string("SELECT ") + kLibraryColumns + " FROM libraries WHERE name = ?1");
    q.bind(1, std::string(name));
    if (!q.executeStep()) return std::nullopt;
    return read_library(q);
  });
}

void Catalog::remove_library(std::string_view name) {
  impl_->guard("removing a library", [&] {
    SQLite::Statement q(impl_->db, "DELETE FROM libraries WHERE name = ?1");
    q.bind(1, std::string(name));
    if (q.exec() == 0)
      fail(ErrorKind::not_found, std::string(name), "no such library; see `dormant library list`");
  });
}

void Catalog::add_connection(std::string_view uri) {
  impl_->guard("adding a libvirt connection", [&] {
    SQLite::Statement q(impl_->db, "INSERT OR IGNORE INTO libvirt_connections (uri) VALUES (?1)");
    q.bind(1, std::string(uri));
    q.exec();
  });
}

std::vector<std::string> Catalog::connections() {
  return impl_->guard("listing libvirt connections", [&] {
    SQLite::Statement q(impl_->db, "SELECT uri FROM libvirt_connections ORDER BY uri");
    std::vector<std::string> out;
    while (q.executeStep()) out.push_back(q.getColumn(0).getString());
    return out;
  });
}

std::vector<ImageRecord> Catalog::images() {
  return impl_->guard("listing images", [&] {
    SQLite::Statement q(impl_->db, std::string("SELECT ") + kImageColumns + " FROM images ORDER BY path");
    std::vector<ImageRecord> out;
    while (q.executeStep()) out.push_back(read_image(q));
    return out;
  });
}

std::optional<ImageRecord> Catalog::find_image(std::string_view path) {
  return impl_->guard("reading an image", [&]() -> std::optional<ImageRecord> {
    SQLite::Statement q(impl_->db, std::string("SELECT ") + kImageColumns + " FROM images WHERE path = ?1");
    q.bind(1, std::string(path));
    if (!q.executeStep()) return std::nullopt;
    return read_image(q);
  });
}

std::optional<ImageRecord> Catalog::find_image(std::int64_t id) {
  return impl_->guard("reading an image", [&]() -> std::optional<ImageRecord> {
    SQLite::Statement q(impl_->db, std::string("SELECT ") + kImageColumns + " FROM images WHERE id = ?1");
    q.bind(1, static_cast<std::int64_t>(id));
    if (!q.executeStep()) return std::nullopt;
    return read_image(q);
  });
}

void Catalog::put_images(const std::vector<ImageRecord>& records) {
  impl_->guard("recording images", [&] {
    auto& db = impl_->db;
    SQLite::Transaction transaction(db, SQLite::TransactionBehavior::IMMEDIATE);
    // An upsert keeps the row id, so group memberships survive re-inspection.
    SQLite::Statement q(db, R"sql(
INSERT INTO images (library_id, path, domain, format, virtual_size, file_size, identity, state, reason, access,
                    os_id, os_version_id, os_pretty_name, arch, hostname, package_count, inspection_json, inspected_at,
                    package_set)
VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19)
ON CONFLICT(path) DO UPDATE SET
  library_id = excluded.library_id, domain = excluded.domain, format = excluded.format,
  virtual_size = excluded.virtual_size, file_size = excluded.file_size, identity = excluded.identity,
  state = excluded.state, reason = excluded.reason, access = excluded.access, os_id = excluded.os_id,
  os_version_id = excluded.os_version_id, os_pretty_name = excluded.os_pretty_name, arch = excluded.arch,
  hostname = excluded.hostname, package_count = excluded.package_count,
  inspection_json = excluded.inspection_json, inspected_at = excluded.inspected_at,
  package_set = excluded.package_set
)sql");
    for (const auto& r : records) {
      q.reset();
      q.clearBindings();
      if (r.library_id)
        q.bind(1, static_cast<std::int64_t>(*r.library_id));
      else
        q.bind(1);
      q.bind(2, r.path);
      bind_text_or_null(q, 3, r.domain);
      q.bind(4, r.format);
      q.bind(5, static_cast<std::int64_t>(r.virtual_size));
      q.bind(6, static_cast<std::int64_t>(r.file_size));
      q.bind(7, r.identity);
      q.bind(8, r.state);
      bind_text_or_null(q, 9, r.reason);
      bind_text_or_null(q, 10, r.access);
      bind_text_or_null(q, 11, r.os_id);
      bind_text_or_null(q, 12, r.os_version_id);
      bind_text_or_null(q, 13, r.os_pretty_name);
      bind_text_or_null(q, 14, r.arch);
      bind_text_or_null(q, 15, r.hostname);
      if (r.package_count)
        q.bind(16, static_cast<std::int64_t>(*r.package_count));
      else
        q.bind(16);
      bind_text_or_null(q, 17, r.inspection_json);
      q.bind(18, r.inspected_at.empty() ? utc_now() : r.inspected_at);
      bind_text_or_null(q, 19, r.package_set);
      q.exec();
    }
    transaction.commit();
  });
}

Group Catalog::create_group(std::string_view name, std::optional<std::string> match_glob) {
  return impl_->guard("creating a group", [&] {
    if (name.empty()) fail(ErrorKind::usage, "group", "the group name is empty");
    if (find_group(name))
      fail(ErrorKind::conflict, std::string(name), "a group with this name exists already");
    SQLite::Statement q(impl_->db, "INSERT INTO groups (name, match_glob) VALUES (?1, ?2)");
    q.bind(1, std::string(name));
    if (match_glob)
      q.bind(2, *match_glob);
    else
      q.bind(2);
    q.exec();
    return Group{impl_->db.getLastInsertRowid(), std::string(name), std::move(match_glob)};
  });
}

void Catalog::remove_group(std::string_view name) {
  impl_->guard("removing a group", [&] {
    std::string bound;
    for (const auto& source : list_sources())
      if (source.group && *source.group == name) bound += (bound.empty() ? "" : ", ") + source.name;
    if (!bound.empty())
      fail(ErrorKind::conflict, std::string(name),
           "sources are bound to this group ({}); remove them first with `dormant source remove NAME`",
           bound);
    SQLite::Statement q(impl_->db, "DELETE FROM groups WHERE name = ?1");
    q.bind(1, std::string(name));
    if (q.exec() == 0)
      fail(ErrorKind::not_found, std::string(name), "no such group; see `dormant group list`");
  });
}

std::vector<Group> Catalog::groups() {
  return impl_->guard("listing groups", [&] {
    SQLite::Statement q(impl_->db, "SELECT id, name, match_glob FROM groups ORDER BY name");
    std::vector<Group> out;
    while (q.executeStep()) out.push_back(read_group(q));
    return out;
  });
}

std::optional<Group> Catalog::find_group(std::string_view name) {
  return impl_->guard("reading a group", [&]() -> std::optional<Group> {
    SQLite::Statement q(impl_->db, "SELECT id, name, match_glob FROM groups WHERE name = ?1");
    q.bind(1, std::string(name));
    if (!q.executeStep()) return std::nullopt;
    return read_group(q);
  });
}

void Catalog::add_group_members(std::string_view group, const std::vector<std::int64_t>& image_ids) {
  impl_->guard("adding group members", [&] {
    auto g = find_group(group);
    if (!g)
      fail(ErrorKind::not_found, std::string(group), "no such group; create it with `dormant group create`");
    auto& db = impl_->db;
    SQLite::Transaction transaction(db, SQLite::TransactionBehavior::IMMEDIATE);
    SQLite::Statement q(
        db, "INSERT OR IGNORE INTO group_members (group_id, image_id, explicit) VALUES (?1, ?2, 1)");
    for (auto id : image_ids) {
      if (!find_image(id))
        fail(ErrorKind::not_found, std::to_string(id),
             "no image with this id in the catalog; run `dormant identify` first");
      q.reset();
      q.bind(1, static_cast<std::int64_t>(g->id));
      q.bind(2, static_cast<std::int64_t>(id));
      q.exec();
    }
    transaction.commit();
  });
}

std::vector<GroupMember> Catalog::group_members(std::string_view group) {
  return impl_->guard("listing group members", [&] {
    auto g = find_group(group);
    if (!g) fail(ErrorKind::not_found, std::string(group), "no such group; see `dormant group list`");
    SQLite::Statement explicit_ids(impl_->db, "SELECT image_id FROM group_members WHERE group_id = ?1");
    explicit_ids.bind(1, static_cast<std::int64_t>(g->id));
    std::vector<std::int64_t> ids;
    while (explicit_ids.executeStep()) ids.push_back(explicit_ids.getColumn(0).getInt64());
    std::vector<GroupMember> out;
    for (auto& image : images()) {
      bool is_explicit = std::find(ids.begin(), ids.end(), image.id) != ids.end();
      if (is_explicit || (g->match_glob && glob_matches(*g->match_glob, image)))
        out.push_back(GroupMember{std::move(image), is_explicit});
    }
    return out;
  });
}

namespace {

constexpr const char* kSourceSelect =
    "SELECT s.id, s.name, s.uri, s.suite, s.components, s.keyring, s.security, s.allow_unsigned, g.name, "
    "s.added_at FROM sources s LEFT JOIN groups g ON g.id = s.group_id";

Source read_source(SQLite::Statement& q) {
  Source s;
  s.id = q.getColumn(0).getInt64();
  s.name = q.getColumn(1).getString();
  s.uri = q.getColumn(2).getString();
  s.suite = q.getColumn(3).getString();
  s.components = nlohmann::json::parse(q.getColumn(4).getString()).get<std::vector<std::string>>();
  s.keyring = text_or_null(q.getColumn(5));
  s.security = q.getColumn(6).getInt() != 0;
  s.allow_unsigned = q.getColumn(7).getInt() != 0;
  s.group = text_or_null(q.getColumn(8));
  s.added_at = q.getColumn(9).getString();
  return s;
}

bool has_space_or_control(std::string_view text) {
  return std::any_of(text.begin(), text.end(),
                     [](char c) { return static_cast<unsigned char>(c) <= ' ' || c == 0x7f; });
}

// Checks everything about a source that does not need the database; makes
// the keyring path absolute.
void validate_source(Source& source) {
  const std::string& name = source.name;
  if (name.empty()) fail(ErrorKind::usage, "source", "the source name is empty");
  auto name_char = [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-';
  };
  if (!std::isalnum(static_cast<unsigned char>(name[0])) || !std::all_of(name.begin(), name.end(), name_char))
    fail(ErrorKind::usage, name,
         "invalid source name: use letters, digits, '.', '_' and '-', starting with a letter or digit");

  const std::string& uri = source.uri;
  std::size_t scheme_end = uri.find("://");
  std::string scheme = scheme_end == std::string::npos ? std::string() : uri.substr(0, scheme_end);
  if (scheme != "http" && scheme != "https" && scheme != "file")
    fail(ErrorKind::usage, uri,
         "unsupported repository URI: it must start with http://, https:// or file://");
  if (uri.size() == scheme_end + 3 || has_space_or_control(uri))
    fail(ErrorKind::usage, uri, "invalid repository URI: nothing after the scheme, or white space in it");
  if (scheme == "file" && uri[scheme_end + 3] != '/')
    fail(ErrorKind::usage, uri, "a file:// URI needs an absolute path (file:///srv/repo)");

  const std::string& suite = source.suite;
  if (suite.empty())
    fail(ErrorKind::usage, name, "the suite is empty; pass --suite SUITE (for example bookworm)");
  if (suite.back() == '/')
    fail(ErrorKind::usage, suite,
         "flat repositories (a suite ending in '/') are not supported; use a repository with a dists/ "
         "directory");
  if (suite.find('/') != std::string::npos || has_space_or_control(suite))
    fail(ErrorKind::usage, suite,
         "invalid suite: no '/' or white space (the name under dists/, such as bookworm)");

  if (source.components.empty()) source.components = {"main"};
  for (const auto& component : source.components)
    if (component.empty() || has_space_or_control(component) || component.front() == '/' ||
        component.back() == '/' || component.find("..") != std::string::npos)
      fail(ErrorKind::usage, component.empty() ? name : component,
           "invalid component: a name under dists/SUITE/ such as main or contrib");

  if (source.keyring && source.allow_unsigned)
    fail(ErrorKind::usage, name, "--keyring and --allow-unsigned exclude each other");
  if (!source.keyring && !source.allow_unsigned)
    fail(ErrorKind::usage, name,
         "a source needs --keyring FILE (the repository's signing key); --allow-unsigned is only for local "
         "test "
         "repositories");
  if (source.keyring) {
    if (source.keyring->empty()) fail(ErrorKind::usage, name, "the keyring path is empty");
    fs::path keyring = fs::absolute(*source.keyring).lexically_normal();
    std::error_code ec;
    auto status = fs::status(keyring, ec);
    if (!fs::exists(status)) fail(ErrorKind::not_found, keyring.string(), "keyring file does not exist");
    if (!fs::is_regular_file(status))
      fail(ErrorKind::usage, keyring.string(), "keyring is not a regular file");
    if (::access(keyring.c_str(), R_OK) != 0)
      fail(ErrorKind::io, keyring.string(), "cannot read the keyring: {}", std::strerror(errno));
    source.keyring = keyring.string();
  }
}

}  // namespace

Source Catalog::add_source(Source source) {
  validate_source(source);
  return impl_->guard("adding a source", [&] {
    auto& db = impl_->db;
    SQLite::Transaction transaction(db, SQLite::TransactionBehavior::IMMEDIATE);
    if (find_source(source.name))
      fail(ErrorKind::conflict, source.name,
           "a source with this name exists already; see `dormant source list`");
    std::optional<std::int64_t> group_id;
    if (source.group) {
      auto group = find_group(*source.group);
      if (!group)
        fail(ErrorKind::not_found, *source.group, "no such group; create it with `dormant group create`");
      group_id = group->id;
    }
    if (source.added_at.empty()) source.added_at = utc_now();
    SQLite::Statement q(
        db,
        "INSERT INTO sources (name, uri, suite, components, keyring, security, allow_unsigned, "
        "group_id, added_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)");
    q.bind(1, source.name);
    q.bind(2, source.uri);
    q.bind(3, source.suite);
    q.bind(4, nlohmann::json(source.components).dump());
    if (source.keyring)
      q.bind(5, *source.keyring);
    else
      q.bind(5);
    q.bind(6, source.security ? 1 : 0);
    q.bind(7, source.allow_unsigned ? 1 : 0);
    if (group_id)
      q.bind(8, static_cast<std::int64_t>(*group_id));
    else
      q.bind(8);
    q.bind(9, source.added_at);
    q.exec();
    source.id = db.getLastInsertRowid();
    transaction.commit();
    return source;
  });
}

std::vector<Source> Catalog::list_sources() {
  return impl_->guard("listing sources", [&] {
    SQLite::Statement q(impl_->db, std::string(kSourceSelect) + " ORDER BY s.name");
    std::vector<Source> out;
    while (q.executeStep()) out.push_back(read_source(q));
    return out;
  });
}

std::optional<Source> Catalog::find_source(std::string_view name) {
  return impl_->guard("reading a source", [&]() -> std::optional<Source> {
    SQLite::Statement q(impl_->db, std::string(kSourceSelect) + " WHERE s.name = ?1");
    q.bind(1, std::string(name));
    if (!q.executeStep()) return std::nullopt;
    return read_source(q);
  });
}

void Catalog::remove_source(std::string_view name) {
  impl_->guard("removing a source", [&] {
    SQLite::Statement q(impl_->db, "DELETE FROM sources WHERE name = ?1");
    q.bind(1, std::string(name));
    if (q.exec() == 0)
      fail(ErrorKind::not_found, std::string(name), "no such source; see `dormant source list`");
  });
}

std::vector<Source> Catalog::sources_for_image(std::int64_t image_id) {
  return impl_->guard("listing the sources of an image", [&] {
    if (!find_image(image_id))
      fail(ErrorKind::not_found, std::to_string(image_id), "no image with this id in the catalog");
    std::vector<Source> out;
    for (auto& source : list_sources()) {
      bool applies = !source.group;
      if (!applies) {
        auto members = group_members(*source.group);
        applies = std::any_of(members.begin(), members.end(),
                              [&](const GroupMember& m) { return m.image.id == image_id; });
      }
      if (applies) out.push_back(std::move(source));
    }
    return out;
  });
}

}  // namespace dormant::catalog
