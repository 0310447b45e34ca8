// Assessment benchmark (bench/assess.sh runs it): the one-time index load of
// bookworm + bookworm-security and the cost per distinct image, on the pruned
// path (the default) and on the full universe, next to `apt-get -s
// dist-upgrade` per image measured in the same run on the same lists, and a
// check that dormant installs/removes exactly what apt-get would (a benchmark
// of wrong answers would be useless).
//
// Plain std::chrono, not Google Benchmark: what matters is the distribution
// over many *different* inputs (every variant is resolved exactly once), not
// the repeated run of one input that Google Benchmark is built for.
//
//   dormant_assess_bench --cache-dir DIR --main-uri URI --security-uri URI
//       --keyring FILE --status FILE --work-dir DIR
//       [--images 200] [--full 20] [--apt 20]
//
// The indexes must already be fetched into DIR (by `dormant assess`, see
// bench/assess.sh). JSON on stdout; progress and mismatches on stderr.
#include <fmt/format.h>
#include <sys/resource.h>
#include <time.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "dormant/assess/resolver.hpp"
#include "dormant/core/error.hpp"
#include "dormant/core/subprocess.hpp"
#include "dormant/repo/update.hpp"
#include "dormant/repo/version.hpp"

namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;
using dormant::assess::PackageChange;
using dormant::assess::Resolution;

double ms_since(Clock::time_point start) {
  return std::chrono::duration<double, std::milli>(Clock::now() - start).count();
}

// CPU time next to wall time: the machine is shared, and under contention
// wall time measures the neighbours as much as the code. This process (the
// resolver runs in it, single-threaded) and its waited-for children (apt-get).
double cpu_ms_self() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) * 1e3 + static_cast<double>(ts.tv_nsec) / 1e6;
}

double cpu_ms_children() {
  rusage ru{};
  getrusage(RUSAGE_CHILDREN, &ru);
  auto ms = [](const timeval& tv) {
    return static_cast<double>(tv.tv_sec) * 1e3 + static_cast<double>(tv.tv_usec) / 1e3;
  };
  return ms(ru.ru_utime) + ms(ru.ru_stime);
}

std::string read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read " + path.string());
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

void write_file(const fs::path& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
  if (!out.flush()) throw std::runtime_error("cannot write " + path.string());
}

// ---------------------------------------------------------------------------
// The fixture status, split into stanzas, with just enough parsing to make
// variants that dpkg could have produced: apt-get refuses a status whose
// installed dependencies are unmet, and a benchmark full of refusals would
// measure the cheap early exit instead of the resolver.

struct Relation {
  std::string name;
  std::string op;  // "" when unversioned
  std::string version;
};

struct Stanza {
  std::string text;
  std::map<std::string, std::string> fields;  // first line of each field, continuation lines appended
  std::string field(const std::string& name) const {
    auto it = fields.find(name);
    return it == fields.end() ? "" : it->second;
  }
};

std::string trim(std::string s) {
  const auto b = s.find_first_not_of(" \t\n");
  if (b == std::string::npos) return "";
  const auto e = s.find_last_not_of(" \t\n");
  return s.substr(b, e - b + 1);
}

std::vector<Stanza> parse_status(const std::string& text) {
  std::vector<Stanza> out;
  std::size_t pos = 0;
  while (pos < text.size()) {
    std::size_t end = text.find("\n\n", pos);
    if (end == std::string::npos) end = text.size();
    Stanza stanza;
    stanza.text = text.substr(pos, end - pos);
    pos = end + 2;
    if (trim(stanza.text).empty()) continue;
    std::istringstream lines(stanza.text);
    std::string line, last;
    while (std::getline(lines, line)) {
      if (!line.empty() && (line[0] == ' ' || line[0] == '\t')) {
        if (!last.empty()) stanza.fields[last] += "\n" + line;
        continue;
      }
      const auto colon = line.find(':');
      if (colon == std::string::npos) continue;
      last = line.substr(0, colon);
      stanza.fields[last] = trim(line.substr(colon + 1));
    }
    out.push_back(std::move(stanza));
  }
  return out;
}

// "a (>= 1), b | c:any" -> every alternative of every group, flattened: the
// variant rules below are conservative and treat any mention as a need.
std::vector<Relation> parse_relations(const std::string& field) {
  std::vector<Relation> out;
  std::string flat = field;
  std::replace(flat.begin(), flat.end(), '\n', ' ');
  std::replace(flat.begin(), flat.end(), '|', ',');
  std::istringstream parts(flat);
  std::string part;
  while (std::getline(parts, part, ',')) {
    part = trim(part);
    if (part.empty()) continue;
    Relation r;
    const auto paren = part.find('(');
    r.name = trim(part.substr(0, paren));
    if (const auto colon = r.name.find(':'); colon != std::string::npos) r.name.resize(colon);
    if (paren != std::string::npos) {
      std::string inner = part.substr(paren + 1, part.find(')') - paren - 1);
      inner = trim(inner);
      const auto op_end = inner.find_first_not_of("<>=");
      r.op = inner.substr(0, op_end);
      r.version = trim(inner.substr(op_end));
    }
    out.push_back(std::move(r));
  }
  return out;
}

bool satisfies(const std::string& version, const Relation& r) {
  if (r.op.empty()) return true;
  const int c = dormant::repo::compare_versions(version, r.version);
  if (r.op == ">=") return c >= 0;
  if (r.op == "<=") return c <= 0;
  if (r.op == ">>" || r.op == ">") return c > 0;
  if (r.op == "<<" || r.op == "<") return c < 0;
  return c == 0;  // "="
}

struct Mutation {
  enum class Kind { hold, older, drop } kind;
  std::size_t stanza;
  std::string label;
};

// One status variant: the fixture with one or more mutations applied.
struct Variant {
  std::string label;
  std::string status;
};

class VariantMaker {
 public:
  explicit VariantMaker(const std::string& base) : stanzas_(parse_status(base)) {
    std::map<std::string, std::vector<std::size_t>> by_name;
    for (std::size_t i = 0; i < stanzas_.size(); ++i) by_name[stanzas_[i].field("Package")].push_back(i);

    // Every name (real or provided) some installed package depends on, with
    // the versioned relations on it, and the Breaks/Conflicts against it.
    std::map<std::string, std::vector<Relation>> needed, negative;
    for (const auto& s : stanzas_) {
      if (!installed(s)) continue;
      for (const char* field : {"Depends", "Pre-Depends"})
        for (auto& r : parse_relations(s.field(field))) needed[r.name].push_back(r);
      for (const char* field : {"Breaks", "Conflicts"})
        for (auto& r : parse_relations(s.field(field))) negative[r.name].push_back(r);
    }

    for (std::size_t i = 0; i < stanzas_.size(); ++i) {
      const Stanza& s = stanzas_[i];
      if (!installed(s)) continue;
      const std::string name = s.field("Package");
      // Hold: always consistent; a held package with an update is kept back.
      holds_.push_back({Mutation::Kind::hold, i, "hold " + name});

      // An older build of a library: the same version with "~bench" appended
      // sorts just below it, so the index's version becomes an upgrade.
      // Skipped when some installed package needs exactly (or at least) the
      // installed version (libc6 = libc-bin, ...), which would be unmet.
      if (name.rfind("lib", 0) == 0) {
        const std::string older = s.field("Version") + "~bench";
        bool ok = true;
        for (const auto& r : needed[name]) ok = ok && satisfies(older, r);
        for (const auto& r : negative[name]) ok = ok && (r.op.empty() ? false : !satisfies(older, r));
        if (ok) olders_.push_back({Mutation::Kind::older, i, "older " + name});
      }

      // Drop a package nothing installed depends on (by name or through a
      // virtual name it provides) and that is not Essential: what removing a
      // leaf package leaves behind.
      bool leaf = s.field("Essential") != "yes" && s.field("Priority") != "required" && !needed.count(name);
      for (const auto& p : parse_relations(s.field("Provides"))) leaf = leaf && !needed.count(p.name);
      if (leaf) drops_.push_back({Mutation::Kind::drop, i, "drop " + name});
    }
  }

  std::size_t holds() const { return holds_.size(); }
  std::size_t olders() const { return olders_.size(); }
  std::size_t drops() const { return drops_.size(); }

  // `count` pairwise different variants, deterministically. Variant i takes
  // kind i % 3 (hold, older, drop) and the (i / 3)-th mutation of that kind;
  // once a kind's list is used up it wraps around and adds a hold of another
  // package, and further holds until the text is new.
  std::vector<Variant> make(std::size_t count) const {
    std::vector<Variant> out;
    std::set<std::string> seen;
    const std::vector<const std::vector<Mutation>*> kinds{&holds_, &olders_, &drops_};
    for (std::size_t i = 0; i < count; ++i) {
      const auto& list = *kinds[i % kinds.size()];
      const auto& fallback = holds_;
      std::vector<Mutation> applied;
      const std::size_t n = i / kinds.size();
      if (!list.empty()) applied.push_back(list[n % list.size()]);
      std::size_t extra = (i * 7 + 3) % fallback.size();
      if (list.empty() || n >= list.size()) applied.push_back(fallback[extra++ % fallback.size()]);
      Variant v = apply(applied);
      while (!seen.insert(v.status).second) {
        applied.push_back(fallback[extra++ % fallback.size()]);
        v = apply(applied);
      }
      out.push_back(std::move(v));
    }
    return out;
  }

 private:
  static bool installed(const Stanza& s) {
    const std::string status = s.field("Status");
    return status.size() >= 10 && status.compare(status.size() - 10, 10, " installed") == 0;
  }

  Variant apply(const std::vector<Mutation>& mutations) const {
    std::vector<std::string> texts;
    for (const auto& s : stanzas_) texts.push_back(s.text);
    std::vector<bool> keep(stanzas_.size(), true);
    Variant v;
    for (const auto& m : mutations) {
      v.label += (v.label.empty() ? "" : " + ") + m.label;
      std::string& t = texts[m.stanza];
      const Stanza& s = stanzas_[m.stanza];
      switch (m.kind) {
        case Mutation::Kind::hold:
          if (auto at = t.find("Status: install "); at != std::string::npos)
            t.replace(at, 16, "Status: hold ");
          break;
        case Mutation::Kind::older: {
          const std::string from = "\nVersion: " + s.field("Version") + "\n";
          if (auto at = t.find(from); at != std::string::npos)
            t.replace(at, from.size(), "\nVersion: " + s.field("Version") + "~bench\n");
          break;
        }
        case Mutation::Kind::drop:
          keep[m.stanza] = false;
          break;
      }
    }
    for (std::size_t i = 0; i < texts.size(); ++i)
      if (keep[i]) v.status += texts[i] + "\n\n";
    return v;
  }

  std::vector<Stanza> stanzas_;
  std::vector<Mutation> holds_, olders_, drops_;
};

// ---------------------------------------------------------------------------
// What apt-get -s dist-upgrade prints, reduced to what both sides can state.

struct Outcome {
  bool refused = false;             // unmet dependencies / broken packages
  std::set<std::string> inst;       // "name version"
  std::set<std::string> remv;       // "name"
  std::set<std::string> kept_back;  // "name"
  bool operator==(const Outcome&) const = default;
};

std::string bare(std::string name) {
  // apt-get prints foreign-arch packages as name:arch and native ones bare;
  // this universe is amd64 only.
  if (auto colon = name.find(':'); colon != std::string::npos) name.resize(colon);
  return name;
}

Outcome from_apt_get(const std::string& out, int exit_code) {
  Outcome o;
  o.refused = exit_code != 0;
  std::istringstream lines(out);
  std::string line;
  bool in_kept = false;
  while (std::getline(lines, line)) {
    if (in_kept) {
      if (line.rfind("  ", 0) == 0) {
        std::istringstream names(line);
        std::string n;
        while (names >> n) o.kept_back.insert(bare(n));
        continue;
      }
      in_kept = false;
    }
    if (line.rfind("The following packages have been kept back:", 0) == 0) {
      in_kept = true;
    } else if (line.rfind("Inst ", 0) == 0) {
      // Inst NAME [OLD] (NEW Origin:Version/Suite [arch])
      std::istringstream words(line.substr(5));
      std::string name, word;
      words >> name >> word;
      if (!word.empty() && word[0] == '[') words >> word;
      if (!word.empty() && word[0] == '(') o.inst.insert(bare(name) + " " + word.substr(1));
    } else if (line.rfind("Remv ", 0) == 0) {
      std::istringstream words(line.substr(5));
      std::string name;
      words >> name;
      o.remv.insert(bare(name));
    }
  }
  return o;
}

Outcome from_dormant(const Resolution& r) {
  Outcome o;
  o.refused = !r.broken.empty() || !r.resolver_error.empty();
  if (o.refused) return o;  // apt-get does nothing then; neither list is printed
  for (const auto& u : r.updates) {
    if (u.action == PackageChange::Action::upgrade) o.inst.insert(u.name + " " + u.candidate);
    if (u.action == PackageChange::Action::held || u.action == PackageChange::Action::kept_back)
      o.kept_back.insert(u.name);
  }
  for (const auto& n : r.new_packages) o.inst.insert(n.name + " " + n.candidate);
  for (const auto& d : r.removed_packages) o.remv.insert(d.name);
  return o;
}

std::string describe_diff(const std::set<std::string>& a, const std::set<std::string>& b) {
  std::vector<std::string> only_a, only_b;
  std::set_difference(a.begin(), a.end(), b.begin(), b.end(), std::back_inserter(only_a));
  std::set_difference(b.begin(), b.end(), a.begin(), a.end(), std::back_inserter(only_b));
  return fmt::format("only dormant [{}], only apt-get [{}]", fmt::join(only_a, "; "),
                     fmt::join(only_b, "; "));
}

// ---------------------------------------------------------------------------

struct Stats {
  double median = 0, p90 = 0, max = 0, min = 0, mean = 0;
  std::size_t n = 0;
};

Stats stats(std::vector<double> v) {
  Stats s;
  s.n = v.size();
  if (v.empty()) return s;
  std::sort(v.begin(), v.end());
  // Nearest-rank percentiles: a value that was actually measured.
  auto rank = [&](double q) {
    return v[std::min(v.size() - 1, static_cast<std::size_t>(q * (v.size() - 1) + 0.5))];
  };
  s.median = v.size() % 2 ? v[v.size() / 2] : (v[v.size() / 2 - 1] + v[v.size() / 2]) / 2;
  s.p90 = rank(0.9);
  s.min = v.front();
  s.max = v.back();
  for (double x : v) s.mean += x;
  s.mean /= static_cast<double>(v.size());
  return s;
}

nlohmann::json to_json(const Stats& s) {
  auto r = [](double x) { return std::round(x * 100) / 100; };
  return {{"n", s.n},           {"median_ms", r(s.median)}, {"p90_ms", r(s.p90)},
          {"max_ms", r(s.max)}, {"min_ms", r(s.min)},       {"mean_ms", r(s.mean)}};
}

struct Args {
  fs::path cache_dir, work_dir, keyring, status;
  std::string main_uri, security_uri;
  std::size_t images = 200, full = 20, apt = 20;
};

Args parse_args(int argc, char** argv) {
  Args a;
  for (int i = 1; i < argc; ++i) {
    const std::string k = argv[i];
    if (i + 1 >= argc) throw std::runtime_error("missing value for " + k);
    const std::string v = argv[++i];
    if (k == "--cache-dir")
      a.cache_dir = fs::absolute(v);
    else if (k == "--work-dir")
      a.work_dir = fs::absolute(v);
    else if (k == "--keyring")
      a.keyring = fs::absolute(v);
    else if (k == "--status")
      a.status = v;
    else if (k == "--main-uri")
      a.main_uri = v;
    else if (k == "--security-uri")
      a.security_uri = v;
    else if (k == "--images")
      a.images = std::stoul(v);
    else if (k == "--full")
      a.full = std::stoul(v);
    else if (k == "--apt")
      a.apt = std::stoul(v);
    else
      throw std::runtime_error("unknown option " + k);
  }
  if (a.cache_dir.empty() || a.work_dir.empty() || a.keyring.empty() || a.status.empty() ||
      a.main_uri.empty() || a.security_uri.empty())
    throw std::runtime_error(
        "usage: dormant_assess_bench --cache-dir DIR --main-uri URI --security-uri URI --keyring FILE "
        "--status FILE --work-dir DIR [--images N] [--full N] [--apt N]");
  a.full = std::min(a.full, a.images);
  a.apt = std::min(a.apt, a.images);
  return a;
}

// The variants checked against apt-get and resolved on the full universe:
// spread over the whole run (every kind of mutation, see VariantMaker::make).
std::vector<std::size_t> spread(std::size_t count, std::size_t total) {
  std::vector<std::size_t> out;
  for (std::size_t k = 0; k < count; ++k) out.push_back(k * total / count);
  return out;
}

// An apt root reading nothing of the host (as tests/support/apt_root.cpp),
// whose lists directory links to the files dormant fetched: both sides read
// the very same bytes, and apt-get's own update is not part of the figure.
fs::path make_apt_root(const fs::path& dir, const std::vector<dormant::assess::UniverseSource>& sources) {
  fs::remove_all(dir);
  for (const char* sub : {"etc/apt.conf.d", "etc/preferences.d", "etc/trusted.gpg.d", "state/lists/partial",
                          "cache/archives/partial", "log", "images"})
    fs::create_directories(dir / sub);
  std::vector<dormant::repo::SourceSpec> specs;
  for (const auto& s : sources) {
    specs.push_back(s.spec);
    for (const auto& e : fs::directory_iterator(s.lists_dir)) {
      const auto name = e.path().filename();
      if (!e.is_regular_file() || name == "lock" || fs::exists(dir / "state/lists" / name)) continue;
      fs::create_symlink(e.path(), dir / "state/lists" / name);
    }
  }
  write_file(dir / "etc/dormant.sources", dormant::repo::render_sources(specs, {"amd64"}));
  const std::string d = dir.string();
  const std::vector<std::pair<std::string, std::string>> conf{
      {"Dir::Etc", d + "/etc"},
      {"Dir::Etc::main", "/dev/null"},
      {"Dir::Etc::parts", d + "/etc/apt.conf.d"},
      {"Dir::Etc::sourcelist", "/dev/null"},
      {"Dir::Etc::sourceparts", d + "/etc"},
      {"Dir::Etc::preferences", d + "/etc/preferences"},
      {"Dir::Etc::preferencesparts", d + "/etc/preferences.d"},
      {"Dir::Etc::trusted", d + "/etc/trusted.gpg"},
      {"Dir::Etc::trustedparts", d + "/etc/trusted.gpg.d"},
      {"Dir::State", d + "/state"},
      {"Dir::State::Lists", d + "/state/lists"},
      {"Dir::State::status", d + "/status"},
      {"Dir::State::extended_states", d + "/state/extended_states"},
      {"Dir::Cache", d + "/cache"},
      {"Dir::Log", d + "/log"},
      {"APT::Architecture", "amd64"},
      {"Acquire::Languages", "none"},
      {"Debug::NoLocking", "true"},
  };
  std::string text = "APT::Architectures { \"amd64\"; };\n";
  for (const auto& [k, v] : conf) text += k + " \"" + v + "\";\n";
  write_file(dir / "apt.conf", text);
  return dir / "apt.conf";
}

struct AptRun {
  double ms = 0, cpu_ms = 0;
  Outcome outcome;
  std::string output;
};

AptRun run_apt_get(const fs::path& apt_conf, const fs::path& status, const fs::path& states) {
  AptRun run;
  dormant::ProcessOptions options;
  options.timeout = std::chrono::minutes(5);
  const double cpu = cpu_ms_children();
  const auto start = Clock::now();
  const auto result = dormant::run_process({"env", "LC_ALL=C", "APT_CONFIG=" + apt_conf.string(), "apt-get",
                                            "-s", "-o", "Dir::State::status=" + status.string(), "-o",
                                            "Dir::State::extended_states=" + states.string(), "dist-upgrade"},
                                           options);
  run.ms = ms_since(start);
  run.cpu_ms = cpu_ms_children() - cpu;
  run.output = result.out + result.err;
  run.outcome = from_apt_get(result.out, result.exit_code);
  if (result.exit_code != 0 && result.exit_code != 100)
    throw std::runtime_error(fmt::format("apt-get failed (exit {}): {}", result.exit_code, run.output));
  return run;
}

// The 1-minute load average at the end of the run: read the wall-time figures
// against it (2 cores).
double load_average() {
  std::ifstream in("/proc/loadavg");
  double one = 0;
  in >> one;
  return one;
}

int run(const Args& args) {
  const double load_start = load_average();
  using dormant::repo::SourceSpec;
  SourceSpec main_spec{
      .name = "bookworm", .uri = args.main_uri, .suite = "bookworm", .keyring = args.keyring};
  SourceSpec security_spec{.name = "bookworm-security",
                           .uri = args.security_uri,
                           .suite = "bookworm-security",
                           .keyring = args.keyring,
                           .security = true};
  std::vector<dormant::assess::UniverseSource> sources;
  for (const auto& spec : {main_spec, security_spec}) {
    const fs::path lists = dormant::repo::source_dir(args.cache_dir, spec) / "lists";
    if (!fs::is_directory(lists))
      throw std::runtime_error(
          fmt::format("{}: no fetched indexes in {} (run bench/assess.sh)", spec.name, lists.string()));
    sources.push_back({spec, lists});
  }
  fs::create_directories(args.work_dir);

  const std::string base = read_file(args.status);
  VariantMaker maker(base);
  const auto variants = maker.make(args.images);
  std::cerr << fmt::format(
      "variants: {} (mutations available: {} holds, {} older libraries, {} leaf drops)\n", variants.size(),
      maker.holds(), maker.olders(), maker.drops());

  nlohmann::json report;
  report["images"] = variants.size();
  report["mutations"] = {{"hold", maker.holds()}, {"older", maker.olders()}, {"drop", maker.drops()}};

  // --- pruned (the default path): one-time load, then every variant once.
  std::vector<std::optional<Resolution>> pruned(variants.size());
  std::vector<std::string> pruned_errors(variants.size());
  double load_ms = 0;
  std::vector<double> pruned_ms, pruned_cpu_ms;
  {
    dormant::assess::UniverseOptions options{
        .work_dir = args.work_dir / "pruned", .architectures = {"amd64"}, .sources = sources};
    const auto start = Clock::now();
    dormant::assess::Universe universe(options);
    load_ms = ms_since(start);
    std::cerr << fmt::format("index load (pruned path): {:.0f} ms\n", load_ms);
    for (std::size_t i = 0; i < variants.size(); ++i) {
      const double cpu = cpu_ms_self();
      const auto t = Clock::now();
      try {
        pruned[i] = universe.resolve(variants[i].status, "");
      } catch (const dormant::Error& e) {
        pruned_errors[i] = e.what();
      }
      pruned_ms.push_back(ms_since(t));
      pruned_cpu_ms.push_back(cpu_ms_self() - cpu);
    }
  }
  const Stats pruned_stats = stats(pruned_ms);
  std::size_t refused = 0, changes = 0;
  // The pruned cache's package count says how much the pruning keeps (the
  // per-image cost grows with it).
  std::vector<double> universe_sizes;
  for (const auto& r : pruned)
    if (r) {
      universe_sizes.push_back(static_cast<double>(r->universe_packages));
      refused += !r->broken.empty() || !r->resolver_error.empty();
      changes += r->updates.size() + r->new_packages.size() + r->removed_packages.size();
    }
  std::cerr << fmt::format("pruned per image: median {:.1f} ms, p90 {:.1f}, max {:.1f} (n={}, {} refused)\n",
                           pruned_stats.median, pruned_stats.p90, pruned_stats.max, pruned_stats.n, refused);

  const auto checked = spread(args.apt, variants.size());
  const auto full_set = spread(args.full, variants.size());

  // --- full universe on a subset of the same variants.
  double full_load_ms = 0;
  std::vector<double> full_ms, full_cpu_ms;
  std::size_t full_agree = 0;
  std::vector<std::string> full_mismatches;
  if (!full_set.empty()) {
    dormant::assess::UniverseOptions options{.work_dir = args.work_dir / "full",
                                             .architectures = {"amd64"},
                                             .sources = sources,
                                             .full_universe = true};
    const auto start = Clock::now();
    dormant::assess::Universe universe(options);
    full_load_ms = ms_since(start);
    for (std::size_t i : full_set) {
      const double cpu = cpu_ms_self();
      const auto t = Clock::now();
      std::optional<Resolution> r;
      try {
        r = universe.resolve(variants[i].status, "");
      } catch (const dormant::Error& e) {
        (void)e;
      }
      full_ms.push_back(ms_since(t));
      full_cpu_ms.push_back(cpu_ms_self() - cpu);
      if (r && pruned[i] && from_dormant(*r) == from_dormant(*pruned[i]))
        ++full_agree;
      else
        full_mismatches.push_back(variants[i].label);
    }
  }
  const Stats full_stats = stats(full_ms);
  std::cerr << fmt::format("full universe: load {:.0f} ms, per image median {:.1f} ms (n={})\n", full_load_ms,
                           full_stats.median, full_stats.n);

  // --- apt-get -s dist-upgrade per image, same lists, same variants.
  const fs::path apt_dir = args.work_dir / "apt-get";
  AptRun warm;
  if (!checked.empty()) {
    const fs::path apt_conf = make_apt_root(apt_dir, sources);
    write_file(apt_dir / "images/empty-states", "");
    write_file(apt_dir / "images/base-status", base);
    // The first apt-get run builds srcpkgcache.bin from the lists; a host
    // running apt-get per image would reuse it too, so it is timed apart.
    warm = run_apt_get(apt_conf, apt_dir / "images/base-status", apt_dir / "images/empty-states");
  }
  const fs::path apt_conf = apt_dir / "apt.conf";
  std::vector<double> apt_ms, apt_cpu_ms, pruned_checked_ms;
  std::size_t agree = 0;
  nlohmann::json mismatches = nlohmann::json::array();
  for (std::size_t i : checked) {
    const fs::path status = apt_dir / "images" / fmt::format("status-{:03}", i);
    write_file(status, variants[i].status);
    const AptRun a = run_apt_get(apt_conf, status, apt_dir / "images/empty-states");
    apt_ms.push_back(a.ms);
    apt_cpu_ms.push_back(a.cpu_ms);
    pruned_checked_ms.push_back(pruned_ms[i]);
    if (!pruned[i]) {
      mismatches.push_back(
          {{"variant", i}, {"label", variants[i].label}, {"dormant_error", pruned_errors[i]}});
      continue;
    }
    const Outcome d = from_dormant(*pruned[i]);
    if (d == a.outcome) {
      ++agree;
      continue;
    }
    nlohmann::json m{{"variant", i}, {"label", variants[i].label}};
    if (d.refused != a.outcome.refused)
      m["refused"] = {{"dormant", d.refused}, {"apt_get", a.outcome.refused}};
    if (d.inst != a.outcome.inst) m["inst"] = describe_diff(d.inst, a.outcome.inst);
    if (d.remv != a.outcome.remv) m["remv"] = describe_diff(d.remv, a.outcome.remv);
    if (d.kept_back != a.outcome.kept_back) m["kept_back"] = describe_diff(d.kept_back, a.outcome.kept_back);
    std::cerr << "MISMATCH " << m.dump() << '\n';
    mismatches.push_back(std::move(m));
  }
  const Stats apt_stats = stats(apt_ms);
  std::cerr << fmt::format(
      "apt-get -s dist-upgrade per image: median {:.0f} ms (first run {:.0f} ms); agree {}/{}\n",
      apt_stats.median, warm.ms, agree, checked.size());

  auto r2 = [](double x) { return std::round(x * 100) / 100; };
  // null when a side was not measured (--full 0, --apt 0).
  auto ratio = [&](double a, double b) {
    return a > 0 && b > 0 ? nlohmann::json(r2(a / b)) : nlohmann::json();
  };
  report["index_load_s"] = r2(load_ms / 1000);
  report["full_universe_load_s"] = r2(full_load_ms / 1000);
  report["pruned"] = to_json(pruned_stats);
  report["pruned"]["refused"] = refused;
  report["pruned"]["changes"] = changes;
  report["pruned"]["universe_packages_median"] = stats(universe_sizes).median;
  report["pruned"]["errors"] = std::count_if(pruned.begin(), pruned.end(), [](auto& r) { return !r; });
  const Stats pruned_cpu = stats(pruned_cpu_ms), full_cpu = stats(full_cpu_ms), apt_cpu = stats(apt_cpu_ms);
  report["pruned"]["cpu_median_ms"] = r2(pruned_cpu.median);
  report["pruned"]["cpu_p90_ms"] = r2(pruned_cpu.p90);
  report["pruned_on_apt_subset"] = to_json(stats(pruned_checked_ms));
  report["full"] = to_json(full_stats);
  report["full"]["agree_with_pruned"] = full_agree;
  report["full"]["cpu_median_ms"] = r2(full_cpu.median);
  report["full"]["mismatches"] = full_mismatches;
  report["apt_get"] = to_json(apt_stats);
  report["apt_get"]["first_run_ms"] = r2(warm.ms);
  report["apt_get"]["cpu_median_ms"] = r2(apt_cpu.median);
  report["apt_get"]["lists"] = "symlinks to the lists dormant fetched (no apt-get update)";
  report["agreement"] = {{"checked", checked.size()}, {"agree", agree}, {"mismatches", mismatches}};
  // Ratios of medians, all measured in this run: apt-get : full : pruned = x : y : 1.
  report["ratio"] = {{"apt_get_to_pruned", ratio(apt_stats.median, pruned_stats.median)},
                     {"full_to_pruned", ratio(full_stats.median, pruned_stats.median)},
                     {"apt_get_to_full", ratio(apt_stats.median, full_stats.median)}};
  report["ratio_cpu"] = {{"apt_get_to_pruned", ratio(apt_cpu.median, pruned_cpu.median)},
                         {"full_to_pruned", ratio(full_cpu.median, pruned_cpu.median)},
                         {"apt_get_to_full", ratio(apt_cpu.median, full_cpu.median)}};
  report["load_average"] = {{"start", load_start}, {"end", load_average()}};
  report["targets"] = {{"index_load_under_2s", load_ms < 2000},
                       {"per_image_under_20ms", pruned_stats.median < 20}};
  report["variant_labels_checked"] = nlohmann::json::array();
  for (std::size_t i : checked) report["variant_labels_checked"].push_back(variants[i].label);
  std::cout << report.dump(2) << '\n';
  return agree == checked.size() ? 0 : 3;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run(parse_args(argc, argv));
  } catch (const std::exception& e) {
    std::cerr << "dormant_assess_bench: " << e.what() << '\n';
    return 1;
  }
}
