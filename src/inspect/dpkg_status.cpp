// The dpkg status file read as deb822 stanzas. Written here instead of using
// libapt-pkg's pkgTagFile because apt's parser is built to read the host's own
// database (it mmaps files by path and keeps global configuration), while this
// one parses a capped in-memory copy of hostile guest content and must be
// fuzzable on its own. It reads only the five fields dormant needs.
#include "dormant/inspect/dpkg_status.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cstddef>
#include <cstring>
#include <tuple>

#include "dormant/core/error.hpp"

namespace dormant::inspect {

namespace {

constexpr std::size_t kMaxStanzas = 200000;
// A hostile file could make every stanza malformed; the first ones say enough.
constexpr std::size_t kMaxWarnings = 100;

bool is_blank(char c) { return c == ' ' || c == '\t' || c == '\r'; }

std::string_view trim(std::string_view s) {
  while (!s.empty() && is_blank(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_blank(s.back())) s.remove_suffix(1);
  return s;
}

char lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

// `name` is lowercase already.
bool field_is(std::string_view field, std::string_view name) {
  if (field.size() != name.size()) return false;
  for (std::size_t i = 0; i < field.size(); ++i)
    if (lower(field[i]) != name[i]) return false;
  return true;
}

// The word values dpkg itself accepts in Status: (lib/dpkg/parsehelp.c).
bool valid_want(std::string_view w) {
  return w == "unknown" || w == "install" || w == "hold" || w == "deinstall" || w == "purge";
}
bool valid_flag(std::string_view f) { return f == "ok" || f == "reinstreq"; }
bool valid_state(std::string_view s) {
  return s == "not-installed" || s == "config-files" || s == "half-installed" || s == "unpacked" ||
         s == "half-configured" || s == "triggers-awaited" || s == "triggers-pending" || s == "installed";
}

// Splits "want flag state"; false unless there are exactly three words.
bool split_status(std::string_view v, std::string_view (&words)[3]) {
  std::size_t n = 0;
  while (true) {
    while (!v.empty() && is_blank(v.front())) v.remove_prefix(1);
    if (v.empty()) break;
    if (n == 3) return false;
    std::size_t end = 0;
    while (end < v.size() && !is_blank(v[end])) ++end;
    words[n++] = v.substr(0, end);
    v.remove_prefix(end);
  }
  return n == 3;
}

// A package as views into the input: sorting and deduplicating these is
// cheap, and each Package is built once at the end.
struct Entry {
  std::string_view name, version, arch, source, source_version, status, want;
};

struct Stanza {
  std::size_t first_line = 0;
  std::string_view package, status, arch, version, source;
  bool any_field = false;
};

class Parser {
 public:
  DpkgStatus run(std::string_view text) {
    std::size_t line_no = 0;
    const char* p = text.data();
    const char* end = text.data() + text.size();
    while (p < end) {
      ++line_no;
      const char* nl = static_cast<const char*>(std::memchr(p, '\n', static_cast<std::size_t>(end - p)));
      const char* line_end = nl ? nl : end;
      std::string_view line(p, static_cast<std::size_t>(line_end - p));
      p = nl ? nl + 1 : end;
      if (!line.empty() && line.back() == '\r') line.remove_suffix(1);

      if (line.empty()) {
        finish();
        continue;
      }
      // Continuation lines only extend multi-line fields (Description,
      // Conffiles); none of the fields read here has one.
      if (line.front() == ' ' || line.front() == '\t') continue;
      if (!stanza_.any_field) {
        stanza_.any_field = true;
        stanza_.first_line = line_no;
      }
      std::size_t colon = line.find(':');
      if (colon == std::string_view::npos || colon == 0) {
        warn(fmt::format("line {}: not a 'Field: value' line; ignored", line_no));
        continue;
      }
      std::string_view field = line.substr(0, colon);
      std::string_view value = trim(line.substr(colon + 1));
      if (field_is(field, "package"))
        stanza_.package = value;
      else if (field_is(field, "status"))
        stanza_.status = value;
      else if (field_is(field, "architecture"))
        stanza_.arch = value;
      else if (field_is(field, "version"))
        stanza_.version = value;
      else if (field_is(field, "source"))
        stanza_.source = value;
    }
    finish();
    return collect();
  }

 private:
  void warn(std::string message) {
    if (out_.warnings.size() < kMaxWarnings) {
      out_.warnings.push_back(std::move(message));
    } else if (out_.warnings.size() == kMaxWarnings) {
      out_.warnings.push_back("further warnings suppressed");
    }
  }

  void finish() {
    if (!stanza_.any_field) return;
    Stanza s = stanza_;
    stanza_ = {};
    if (++stanzas_ > kMaxStanzas)
      fail(ErrorKind::limit, "", "more than {} stanzas; a real dpkg database has a few thousand",
           kMaxStanzas);

    std::string_view words[3];
    if (s.status.empty()) {
      warn(fmt::format("line {}: stanza {}has no Status field; skipped", s.first_line, describe(s)));
      return;
    }
    if (!split_status(s.status, words) || !valid_want(words[0]) || !valid_flag(words[1]) ||
        !valid_state(words[2])) {
      warn(fmt::format("line {}: stanza {}has an invalid Status '{}'; skipped", s.first_line, describe(s),
                       s.status.substr(0, 80)));
      return;
    }
    if (words[2] == "not-installed") return;
    if (s.package.empty() || s.version.empty()) {
      warn(fmt::format("line {}: stanza {}has no {} field; skipped", s.first_line, describe(s),
                       s.package.empty() ? "Package" : "Version"));
      return;
    }

    Entry e{s.package, s.version, s.arch, s.package, s.version, words[2], words[0]};
    parse_source(s, e);
    entries_.push_back(e);
  }

  static std::string describe(const Stanza& s) {
    return s.package.empty() ? std::string() : fmt::format("'{}' ", s.package.substr(0, 80));
  }

  // "Source: name" or "Source: name (version)"; absent means the binary's own.
  void parse_source(const Stanza& s, Entry& e) {
    std::string_view v = s.source;
    if (v.empty()) return;
    std::size_t open = v.find('(');
    std::string_view name = trim(v.substr(0, open));
    if (!name.empty()) e.source = name;
    if (open == std::string_view::npos) return;
    std::size_t close = v.find(')', open);
    std::string_view version =
        close == std::string_view::npos ? std::string_view{} : trim(v.substr(open + 1, close - open - 1));
    if (version.empty()) {
      warn(fmt::format("line {}: package '{}' has a malformed Source '{}'", s.first_line,
                       e.name.substr(0, 80), v.substr(0, 80)));
      return;
    }
    e.source_version = version;
  }

  DpkgStatus collect() {
    auto key = [](const Entry& e) { return std::tie(e.name, e.arch); };
    // Stable, so that for a duplicated (name, arch) the later stanza is last;
    // dpkg lets a later stanza replace an earlier one, and so does this.
    std::stable_sort(entries_.begin(), entries_.end(),
                     [&](const Entry& a, const Entry& b) { return key(a) < key(b); });
    std::vector<Entry> unique;
    unique.reserve(entries_.size());
    for (const auto& e : entries_) {
      if (!unique.empty() && key(unique.back()) == key(e)) {
        warn(fmt::format("package '{}' ({}) appears more than once; the last stanza is kept",
                         e.name.substr(0, 80), e.arch.substr(0, 40)));
        unique.back() = e;
      } else {
        unique.push_back(e);
      }
    }
    out_.packages.reserve(unique.size());
    for (const auto& e : unique) {
      out_.packages.push_back(Package{std::string(e.name), std::string(e.version), std::string(e.arch),
                                      std::string(e.source), std::string(e.source_version),
                                      std::string(e.status), std::string(e.want)});
    }
    return std::move(out_);
  }

  Stanza stanza_;
  std::size_t stanzas_ = 0;
  std::vector<Entry> entries_;
  DpkgStatus out_;
};

}  // namespace

DpkgStatus parse_dpkg_status(std::string_view text) { return Parser{}.run(text); }

}  // namespace dormant::inspect
