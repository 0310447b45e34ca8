#include "resolver_support.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <memory>
#include <nlohmann/json.hpp>
#include <regex>
#include <sstream>
#include <tuple>

#include "dormant/assess/worker.hpp"
#include "support/apt_root.hpp"
#include "support/loopback_http.hpp"
#include "support/test_support.hpp"

namespace dormant::testing {
namespace {

namespace fs = std::filesystem;

ResolverRepo build_repo() {
  static TempDir dir("dormant-resolver-repo");  // lives as long as the test binary
  ResolverRepo repo;
  const fs::path out = dir.path() / "repo";
  const auto made =
      run_process({(source_dir() / "tests/fixtures/make-apt-repo.sh").string(),
                   (source_dir() / "tests/fixtures/apt-repo-specs/resolver.spec").string(), out.string()});
  if (made.exit_code != 0) {
    repo.error = "make-apt-repo.sh failed: " + made.err;
    return repo;
  }
  LoopbackHttpServer server(out);
  repo.url = server.url();
  repo.keyring = out / "keyring.gpg";
  repo.root = dir.path() / "apt";
  std::string sources;
  for (const char* suite : {"bookworm", "bookworm-security", "bookworm-updates"})
    sources += "deb [signed-by=" + repo.keyring.string() + "] " + repo.url + " " + suite + " main\n";
  repo.apt = std::make_shared<AptRoot>(repo.root, sources);
  int rc = -1;
  const std::string update = repo.apt->run({"apt-get", "update"}, &rc);
  if (rc != 0) repo.error = "apt-get update failed: " + update;
  return repo;
}

std::string display_name(const assess::PackageChange& c) {
  return c.arch == "amd64" ? c.name : c.name + ":" + c.arch;
}

}  // namespace

const ResolverRepo& resolver_repo() {
  static const ResolverRepo repo = build_repo();
  return repo;
}

assess::UniverseOptions resolver_options(const fs::path& work_dir, bool full_universe, bool flag_updates) {
  const ResolverRepo& repo = resolver_repo();
  assess::UniverseOptions options;
  options.work_dir = work_dir;
  options.architectures = {"amd64", "i386"};
  options.full_universe = full_universe;
  for (const auto& [name, suite, flagged] : std::vector<std::tuple<std::string, std::string, bool>>{
           {"debian", "bookworm", false},
           {"debian-security", "bookworm-security", false},
           {"updates", "bookworm-updates", flag_updates}}) {
    assess::UniverseSource source;
    source.spec.name = name;
    source.spec.uri = repo.url;
    source.spec.suite = suite;
    source.spec.keyring = repo.keyring;
    source.spec.security = flagged;
    source.lists_dir = repo.root / "state/lists";  // one apt-get root fetched all three
    options.sources.push_back(std::move(source));
  }
  return options;
}

std::string stanza(const std::string& name, const std::string& version, const std::string& extra,
                   const std::string& status, const std::string& arch) {
  return "Package: " + name + "\nStatus: " + status +
         "\nPriority: optional\nSection: misc\nInstalled-Size: 1\n" +
         "Maintainer: dormant tests <test@dormant.invalid>\nArchitecture: " + arch + "\nVersion: " + version +
         "\n" + extra + "Description: resolver test package\n\n";
}

Outcome outcome_of(const assess::Resolution& r) {
  Outcome out;
  out.broken = r.broken;
  if (!r.broken.empty()) return out;
  out.failed = !r.resolver_error.empty();
  if (out.failed) return out;
  using Action = assess::PackageChange::Action;
  for (const auto& c : r.updates) {
    if (c.action == Action::upgrade)
      out.actions.insert("Inst " + display_name(c) + " " + c.installed + " " + c.candidate);
    if (c.action == Action::held || c.action == Action::kept_back) out.kept_back.insert(display_name(c));
  }
  for (const auto& c : r.new_packages) out.actions.insert("Inst " + display_name(c) + " - " + c.candidate);
  for (const auto& c : r.removed_packages) out.actions.insert("Remv " + display_name(c) + " " + c.installed);
  return out;
}

Outcome apt_get_dist_upgrade(const fs::path& scratch, const std::string& status, const std::string& states) {
  fs::create_directories(scratch);
  write_file(scratch / "status", status);
  write_file(scratch / "extended_states", states);
  int rc = -1;
  Outcome out;
  out.raw = resolver_repo().apt->run(
      {"apt-get", "-s", "dist-upgrade", "-o", "Dir::State::status=" + (scratch / "status").string(), "-o",
       "Dir::State::extended_states=" + (scratch / "extended_states").string()},
      &rc);
  if (rc != 0) {
    if (out.raw.find("Unmet dependencies") != std::string::npos) {
      static const std::regex broken_line(R"(^ (\S+) :)", std::regex::multiline);
      for (std::sregex_iterator it(out.raw.begin(), out.raw.end(), broken_line), end; it != end; ++it)
        out.broken.push_back((*it)[1]);
      std::sort(out.broken.begin(), out.broken.end());
    } else {
      out.failed = true;
    }
    return out;
  }
  static const std::regex inst(R"(^Inst (\S+) (?:\[(\S+)\] )?\((\S+) )", std::regex::multiline);
  static const std::regex remv(R"(^Remv (\S+) \[(\S+)\])", std::regex::multiline);
  for (std::sregex_iterator it(out.raw.begin(), out.raw.end(), inst), end; it != end; ++it)
    out.actions.insert("Inst " + (*it)[1].str() + " " + ((*it)[2].matched ? (*it)[2].str() : "-") + " " +
                       (*it)[3].str());
  for (std::sregex_iterator it(out.raw.begin(), out.raw.end(), remv), end; it != end; ++it)
    out.actions.insert("Remv " + (*it)[1].str() + " " + (*it)[2].str());
  static const std::regex kept(R"(The following packages have been kept back:\n((?:  .*\n)+))");
  if (std::smatch m; std::regex_search(out.raw, m, kept)) {
    std::istringstream names(m[1].str());
    for (std::string name; names >> name;) out.kept_back.insert(name);
  }
  return out;
}

std::string comparable(const assess::Resolution& resolution) {
  nlohmann::json j = resolution;
  j.erase("pruned");
  j.erase("universe_packages");
  return j.dump(1);
}

void PrintTo(const Outcome& o, std::ostream* os) {
  *os << "actions:";
  for (const auto& a : o.actions) *os << "\n  " << a;
  *os << "\nkept back:";
  for (const auto& k : o.kept_back) *os << " " << k;
  *os << "\nbroken:";
  for (const auto& b : o.broken) *os << " " << b;
  *os << (o.failed ? "\nresolver failed" : "") << "\n";
}

}  // namespace dormant::testing
