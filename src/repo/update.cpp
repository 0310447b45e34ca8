// `apt-get update` for one source, in-process, with libapt-pkg's acquire code
// (see docs/design/assess.md, "Fetch + verify"). What apt-get does not do and
// this does: any item that was not fetched and verified fails the source,
// including unreachable mirrors (apt-get only warns and keeps old lists).
#include "dormant/repo/update.hpp"

#include <apt-pkg/acquire-item.h>
#include <apt-pkg/acquire.h>
#include <apt-pkg/configuration.h>
#include <apt-pkg/error.h>
#include <apt-pkg/sourcelist.h>
#include <apt-pkg/strutl.h>
#include <apt-pkg/update.h>
#include <fmt/ranges.h>

#include <array>
#include <chrono>
#include <cstdint>
#include <ctime>
#include <fstream>
#include <string_view>
#include <system_error>
#include <utility>

#include "dormant/core/error.hpp"
#include "dormant/core/sha256.hpp"

namespace dormant::repo {
namespace {

namespace fs = std::filesystem;

// Field values become deb822 lines: white space or a line break would start
// another value or field (a second URI, an injected Trusted: yes).
void check_field(const SourceSpec& source, std::string_view field, std::string_view value) {
  if (value.empty()) fail(ErrorKind::usage, source.name, "the {} is empty", field);
  for (const char c : value) {
    const auto u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u == 0x7f)
      fail(ErrorKind::usage, source.name, "the {} \"{}\" contains white space or a control character", field,
           value);
  }
}

bool starts_with(std::string_view text, std::string_view prefix) {
  return text.substr(0, prefix.size()) == prefix;
}

void check_spec(const SourceSpec& source) {
  check_field(source, "URI", source.uri);
  if (!starts_with(source.uri, "http://") && !starts_with(source.uri, "https://") &&
      !starts_with(source.uri, "file://"))
    fail(ErrorKind::usage, source.name, "the URI \"{}\" is not http://, https:// or file://", source.uri);
  check_field(source, "suite", source.suite);
  // A flat repository's suite ends in '/' and has no dists/ (refused by the catalog too).
  if (source.suite.back() == '/')
    fail(ErrorKind::usage, source.name, "the suite \"{}\" is a flat repository, which is not supported",
         source.suite);
  if (source.components.empty()) fail(ErrorKind::usage, source.name, "no component given");
  for (const auto& component : source.components) check_field(source, "component", component);
  if (source.keyring.has_value() == source.allow_unsigned)
    fail(ErrorKind::usage, source.name, "give exactly one of a keyring and allow_unsigned");
  if (source.keyring) {
    check_field(source, "keyring path", source.keyring->string());
    if (!source.keyring->is_absolute())
      fail(ErrorKind::usage, source.name, "the keyring \"{}\" is not an absolute path",
           source.keyring->string());
  }
}

// apt appends the slash to a URI without one; the names below must match.
std::string with_slash(const std::string& uri) { return uri.back() == '/' ? uri : uri + '/'; }

std::string join(const std::vector<std::string>& parts, std::string_view separator) {
  std::string out;
  for (const auto& part : parts) {
    if (!out.empty()) out += separator;
    out += part;
  }
  return out;
}

// Letters, digits, '.', '-', '_' only: safe as one path component.
std::string sanitize(std::string_view text, std::size_t max_length) {
  std::string out;
  for (const char c : text.substr(0, max_length)) {
    const bool safe = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                      c == '.' || c == '-' || c == '_';
    out += safe ? c : '_';
  }
  return out;
}

std::string utc_now() {
  const std::time_t now = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
  std::tm tm{};
  gmtime_r(&now, &tm);
  std::array<char, 32> buffer{};
  std::strftime(buffer.data(), buffer.size(), "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buffer.data();
}

void write_text(const SourceSpec& source, const fs::path& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
  out.close();
  if (!out) fail(ErrorKind::io, source.name, "cannot write {}", path.string());
}

void check_keyring(const SourceSpec& source) {
  if (!source.keyring) return;
  std::error_code ec;
  if (!fs::is_regular_file(*source.keyring, ec))
    fail(ErrorKind::not_found, source.name, "the keyring {} is not a regular file", source.keyring->string());
}

// As root, gpgv runs as _apt: a keyring it cannot read (one in root's home,
// a 0700 directory) makes every signature "NO_PUBKEY", which reads as an
// attack. Public keys are public: verify against a world-readable copy in
// the source's directory, refreshed on every update.
SourceSpec with_public_keyring(const SourceSpec& source, const fs::path& dir) {
  if (!source.keyring) return source;
  SourceSpec copy = source;
  copy.keyring = dir / "keyring.gpg";
  std::error_code ec;
  fs::copy_file(*source.keyring, *copy.keyring, fs::copy_options::overwrite_existing, ec);
  if (!ec)
    fs::permissions(
        *copy.keyring,
        fs::perms::owner_read | fs::perms::owner_write | fs::perms::group_read | fs::perms::others_read, ec);
  if (ec)
    fail(ErrorKind::io, source.name, "cannot copy the keyring {} to {}: {}", source.keyring->string(),
         copy.keyring->string(), ec.message());
  return copy;
}

// apt's own stages after a download (gpgv: verifying, store: decompressing,
// copy:, rred: patching) are its work on the file, not fetches.
bool internal_stage(std::string_view uri) {
  for (const std::string_view scheme : {"gpgv:", "store:", "copy:", "rred:"})
    if (starts_with(uri, scheme)) return true;
  return false;
}

// What apt reported for each item (one file it fetches, through its stages).
// Callbacks get the item's description *after* the item moved on to its next
// stage (Done on an InRelease names its gpgv: stage), so outcomes are kept
// per item, and the URI is the one of its download: what "URI Start"
// (Fetch) named, else the item's DescURI().
class OutcomeRecorder : public pkgAcquireStatus {
 public:
  bool MediaChange(std::string /*media*/, std::string /*drive*/) override { return false; }
  // Fetch is "URI Start": data is transferred. A 304 (or a local file with
  // the same mtime and size) is reported as IMSHit without a Fetch.
  void Fetch(pkgAcquire::ItemDesc& item) override {
    if (internal_stage(item.URI)) return;
    Tracked& t = track(*item.Owner);
    t.uri = item.URI;
    t.downloaded = true;
  }
  void IMSHit(pkgAcquire::ItemDesc& item) override { track(*item.Owner).hit = true; }
  void Done(pkgAcquire::ItemDesc& item) override { track(*item.Owner); }
  void Fail(pkgAcquire::ItemDesc& item) override {
    // Done or Idle: apt ignores the failure and goes on with another file
    // (InRelease missing -> Release + Release.gpg); apt-get prints "Ign:".
    const auto status = item.Owner->Status;
    if (status == pkgAcquire::Item::StatDone || status == pkgAcquire::Item::StatIdle) {
      track(*item.Owner).ignored = true;
      return;
    }
    failed(*item.Owner, item.Owner->ErrorText);
  }

  // apt moved on after a failure of this item and it ended done: a 404 on
  // Packages.xz followed by Packages.gz, which the Release also lists.
  void recovered(const pkgAcquire::Item& owner) {
    for (auto& t : tracked_)
      if (t.owner == &owner) {
        t.failed = false;
        t.error.clear();
      }
  }

  void failed(const pkgAcquire::Item& owner, const std::string& error) {
    Tracked& t = track(owner);
    t.failed = true;
    if (!error.empty() || t.error.empty())
      t.error = error.empty() ? "not fetched (apt gave no reason)" : error;
  }

  std::vector<FetchedFile> files() const {
    std::vector<FetchedFile> out;
    for (const auto& t : tracked_) {
      if (t.failed)
        out.push_back({t.uri, FetchOutcome::failed, t.error});
      else if (!t.ignored)
        out.push_back({t.uri, t.hit && !t.downloaded ? FetchOutcome::unchanged : FetchOutcome::fetched, ""});
    }
    return out;
  }

 private:
  struct Tracked {
    const pkgAcquire::Item* owner = nullptr;
    std::string uri;
    std::string error;
    bool downloaded = false;
    bool hit = false;
    bool ignored = false;
    bool failed = false;
  };

  Tracked& track(const pkgAcquire::Item& owner) {
    for (auto& t : tracked_)
      if (t.owner == &owner) return t;
    tracked_.push_back({&owner, owner.DescURI(), "", false, false, false, false});
    return tracked_.back();
  }

  std::vector<Tracked> tracked_;
};

struct AcquireRun {
  bool ok = false;          // AcquireUpdate's answer
  bool auth_error = false;  // some item ended in StatAuthError
  std::vector<FetchedFile> files;
  std::vector<AptMessage> messages;
};

// The final state of every item overrides what the callbacks saw: an
// InRelease that was downloaded can still fail verification, and an item
// that never ran (transaction aborted) gets no callback at all.
void record_final_states(pkgAcquire& fetcher, OutcomeRecorder& recorder, AcquireRun& run) {
  for (auto it = fetcher.ItemsBegin(); it != fetcher.ItemsEnd(); ++it) {
    const pkgAcquire::Item& item = **it;
    if (item.Status == pkgAcquire::Item::StatDone) {
      recorder.recovered(item);
      continue;
    }
    if (item.Status == pkgAcquire::Item::StatAuthError) run.auth_error = true;
    recorder.failed(item, item.ErrorText);
  }
}

// ListUpdate(), spelt out so that the items can be read after the run.
AcquireRun run_acquire(const SourceSpec& source) {
  pkgSourceList list;
  if (!list.ReadMainList())
    fail(ErrorKind::io, source.name, "apt cannot read the sources file: {}",
         format_apt_messages(take_apt_messages()));
  AcquireRun run;
  OutcomeRecorder recorder;
  {
    pkgAcquire fetcher(&recorder);
    run.ok = fetcher.GetLock(_config->FindDir("Dir::State::Lists")) && list.GetIndexes(&fetcher) &&
             AcquireUpdate(fetcher, 0, /*RunUpdateScripts=*/false, /*ListCleanup=*/true);
    record_final_states(fetcher, recorder, run);
  }
  run.files = recorder.files();
  run.messages = take_apt_messages();
  return run;
}

// Texts of apt's that mean the repository's content or signature is not what
// its keyring vouches for, rather than that it could not be reached. apt's
// status alone does not tell: a bad signature over existing lists becomes a
// "transient network error" with the warning "An error occurred during the
// signature verification".
bool hostile_text(std::string_view text) {
  static constexpr std::array<std::string_view, 13> kMarkers{"Hash Sum mismatch",
                                                             "unexpected size",
                                                             "Size mismatch",
                                                             "is not signed",
                                                             "NO_PUBKEY",
                                                             "BADSIG",
                                                             "EXPKEYSIG",
                                                             "REVKEYSIG",
                                                             "GPG error",
                                                             "signature",
                                                             "is expired",
                                                             "is not valid yet",
                                                             "Clearsigned file isn't valid"};
  for (const auto marker : kMarkers)
    if (text.find(marker) != std::string_view::npos) return true;
  return false;
}

bool is_hostile(const AcquireRun& run) {
  if (run.auth_error) return true;
  for (const auto& file : run.files)
    if (file.outcome == FetchOutcome::failed && hostile_text(file.error)) return true;
  for (const auto& message : run.messages)
    if (hostile_text(message.text)) return true;
  return false;
}

bool any_error(const AcquireRun& run) {
  for (const auto& file : run.files)
    if (file.outcome == FetchOutcome::failed) return true;
  for (const auto& message : run.messages)
    if (message.error) return true;
  return false;
}

[[noreturn]] void fail_update(const SourceSpec& source, const AcquireRun& run) {
  std::string detail;
  for (const auto& file : run.files)
    if (file.outcome == FetchOutcome::failed) detail += "\n" + file.uri + ": " + file.error;
  fail(is_hostile(run) ? ErrorKind::hostile : ErrorKind::io, source.name,
       "update of {} {} failed (the lists of its last good update, if any, are kept):{}\n{}", source.uri,
       source.suite, detail, format_apt_messages(run.messages));
}

}  // namespace

std::string render_sources(const std::vector<SourceSpec>& sources,
                           const std::vector<std::string>& architectures) {
  std::string out;
  for (const auto& source : sources) {
    check_spec(source);
    for (const auto& arch : architectures) check_field(source, "architecture", arch);
    if (!out.empty()) out += '\n';
    out += "Types: deb\n";
    out += "URIs: " + with_slash(source.uri) + "\n";
    out += "Suites: " + source.suite + "\n";
    out += "Components: " + join(source.components, " ") + "\n";
    out += "Architectures: " + join(architectures, " ") + "\n";
    out += source.allow_unsigned ? std::string("Trusted: yes\n")
                                 : "Signed-By: " + source.keyring->string() + "\n";
  }
  return out;
}

std::string lists_prefix(const SourceSpec& source) {
  check_spec(source);
  return URItoFileName(with_slash(source.uri) + "dists/" + source.suite + "/");
}

fs::path source_dir(const fs::path& cache_dir, const SourceSpec& source) {
  check_spec(source);
  const std::string uri = with_slash(source.uri);
  const std::string components = join(source.components, " ");
  const std::string keyring = source.keyring ? source.keyring->string() : "";
  const std::string hash =
      sha256_hex(std::vector<std::string_view>{"dormant-source-v1", uri, source.suite, components, keyring,
                                               source.allow_unsigned ? "unsigned" : "signed"});
  return cache_dir / (sanitize(URItoFileName(uri) + "_" + source.suite, 80) + "-" + hash.substr(0, 16));
}

// apt skips, with at most a notice, a component the Release does not have
// and an index the Release does not list: a source with a mistyped component
// would then "have no updates" for every image. Every component must have a
// Packages index for at least one of the architectures (a security suite may
// lack the foreign ones).
void require_indexes(const SourceSpec& source, const fs::path& lists_dir,
                     const std::vector<std::string>& architectures) {
  const std::string prefix = lists_prefix(source);
  for (const auto& component : source.components) {
    bool found = false;
    for (const auto& arch : architectures) {
      std::error_code ec;
      if (fs::is_regular_file(lists_dir / (prefix + component + "_binary-" + arch + "_Packages"), ec))
        found = true;
    }
    if (!found)
      fail(ErrorKind::not_found, source.name,
           "{}dists/{}/InRelease lists no Packages index for component '{}' and architectures {}: check "
           "--suite and "
           "--component (an index the Release does not list is skipped by apt without an error)",
           source.uri.ends_with('/') ? source.uri : source.uri + "/", source.suite, component,
           fmt::join(architectures, ", "));
  }
}

UpdateResult update_source(const SourceSpec& source, const fs::path& cache_dir,
                           const std::vector<std::string>& architectures) {
  if (architectures.empty()) fail(ErrorKind::usage, source.name, "no architecture given");
  (void)render_sources({source}, architectures);  // validates the spec before anything is written
  check_keyring(source);

  // Absolute: apt resolves relative paths against its own directories.
  const fs::path dir = source_dir(fs::absolute(cache_dir), source);
  UpdateResult result;
  result.source = source.name;
  result.lists_dir = dir / "lists";
  // Readable by _apt, or apt downloads unsandboxed (with a warning). The lists are public data.
  make_apt_reachable_dir(dir, source.name);
  make_apt_reachable_dir(result.lists_dir, source.name);
  const std::string sources_text = render_sources({with_public_keyring(source, dir)}, architectures);
  const fs::path sources_file = dir / "dormant.sources";  // deb822: apt picks the parser by ".sources"
  write_text(source, sources_file, sources_text);

  AptSettings settings;
  settings.work_dir = dir;
  settings.sources_file = sources_file;
  settings.lists_dir = result.lists_dir;
  settings.architectures = architectures;
  configure_apt(settings);
  // "persistent" (the default) only warns about unreachable mirrors and keeps
  // the old lists: a silently stale security index.
  _config->Set("APT::Update::Error-Mode", "any");

  result.fetched_at = utc_now();
  AcquireRun run = run_acquire(source);
  if (!run.ok || any_error(run)) fail_update(source, run);
  result.files = std::move(run.files);
  for (auto& message : run.messages) result.warnings.push_back(std::move(message));
  require_indexes(source, result.lists_dir, architectures);
  return result;
}

}  // namespace dormant::repo
