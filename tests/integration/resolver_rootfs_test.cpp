// The resolver on variants of the real debootstrap fixture's dpkg status (the
// variants docs/design/assess.md lists), against the test repository's newer
// versions of some of its packages: pruned, full universe and
// `apt-get -s dist-upgrade` must agree on every one.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <functional>
#include <map>
#include <regex>

#include "dormant/assess/resolver.hpp"
#include "resolver_support.hpp"
#include "support/test_support.hpp"

namespace dormant::testing {
namespace {

namespace fs = std::filesystem;
using assess::Resolution;
using assess::Universe;
using Stanzas = std::vector<std::string>;

Stanzas split_stanzas(const std::string& text) {
  Stanzas out;
  std::size_t pos = 0;
  while (pos < text.size()) {
    std::size_t end = text.find("\n\n", pos);
    if (end == std::string::npos) end = text.size();
    std::string s = text.substr(pos, end - pos);
    if (s.find_first_not_of('\n') != std::string::npos)
      out.push_back(s.substr(s.find_first_not_of('\n')) + "\n");
    pos = end + 2;
  }
  return out;
}

std::string join(const Stanzas& stanzas) {
  std::string out;
  for (const auto& s : stanzas) out += s + "\n";
  return out;
}

std::string name_of(const std::string& s) {
  std::smatch m;
  return std::regex_search(s, m, std::regex(R"(^Package: (\S+))", std::regex::multiline)) ? m[1].str() : "";
}

std::string set_field(const std::string& s, const std::string& field, const std::string& value) {
  return std::regex_replace(s, std::regex("^" + field + ": .*$", std::regex::multiline),
                            field + ": " + value);
}

Stanzas modify(Stanzas in, const std::string& pkg, const std::function<std::string(const std::string&)>& fn) {
  for (auto& s : in)
    if (name_of(s) == pkg) s = fn(s);
  return in;
}
Stanzas hold(const Stanzas& in, const std::string& pkg) {
  return modify(in, pkg, [](const std::string& s) { return set_field(s, "Status", "hold ok installed"); });
}
Stanzas version(const Stanzas& in, const std::string& pkg, const std::string& v) {
  return modify(in, pkg, [&](const std::string& s) { return set_field(s, "Version", v); });
}
Stanzas state(const Stanzas& in, const std::string& pkg, const std::string& status) {
  return modify(in, pkg, [&](const std::string& s) { return set_field(s, "Status", status); });
}
Stanzas drop(Stanzas in, const std::string& pkg) {
  in.erase(std::remove_if(in.begin(), in.end(), [&](const std::string& s) { return name_of(s) == pkg; }),
           in.end());
  return in;
}
Stanzas plus(Stanzas in, const std::string& stanza_text) {
  in.push_back(stanza_text.substr(0, stanza_text.size() - 1));  // stanza() ends in a blank line
  return in;
}

struct Variant {
  std::string name;
  std::string status;
  std::string extended_states;
};

std::vector<Variant> variants(const std::string& status) {
  const Stanzas base = split_stanzas(status);
  const std::string old_libc = "2.36-9+deb12u4";
  Stanzas all_held;
  for (const auto& s : base) all_held.push_back(set_field(s, "Status", "hold ok installed"));
  return {
      {"unchanged", join(base), ""},
      {"hold-libssl3", join(hold(base, "libssl3")), ""},
      {"hold-apt", join(hold(base, "apt")), ""},
      {"old-tzdata", join(version(base, "tzdata", "2024a-0+deb12u1")), ""},
      {"old-libc6", join(version(version(base, "libc6", old_libc), "libc-bin", old_libc)), ""},
      {"hold-old-libc6", join(hold(version(version(base, "libc6", old_libc), "libc-bin", old_libc), "libc6")),
       ""},
      {"local-pins-libssl3",
       join(plus(base, stanza("rt-localpin", "1.0", "Depends: libssl3 (= 3.0.20-1~deb12u2)\n"))), ""},
      {"local-conflicted-by-libexpat1", join(plus(base, stanza("rt-localtool", "1.0"))), ""},
      {"deinstall-selection", join(state(base, "tzdata", "deinstall ok installed")), ""},
      {"half-configured", join(state(base, "libexpat1", "install ok half-configured")), ""},
      {"config-files",
       join(plus(base,
                 stanza("nano", "7.2-1", "Conffiles:\n /etc/nanorc abc\n", "deinstall ok config-files"))),
       ""},
      {"obsolete-local", join(plus(base, stanza("rt-oldlocal", "0.1"))), ""},
      {"hold-all", join(all_held), ""},
      {"no-tzdata", join(drop(base, "tzdata")), ""},
      {"broken-missing-dep", join(plus(base, stanza("rt-needsghost", "1.0", "Depends: rt-ghost\n"))), ""},
      {"auto-libssl3", join(base), "Package: libssl3\nArchitecture: amd64\nAuto-Installed: 1\n\n"},
  };
}

double median_ms(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[v.size() / 2];
}

TEST(ResolverRootfs, StatusVariantsMatchAptGet) {
  ASSERT_TRUE(resolver_repo().error.empty()) << resolver_repo().error;
  const fs::path status_file = fixture_rootfs() / "var/lib/dpkg/status";
  if (!fs::exists(status_file))
    FAIL() << "no fixture rootfs (tests/fixtures/make-rootfs.sh): " << status_file;
  TempDir tmp("dormant-resolver-rootfs");
  const auto cases = variants(read_file_text(status_file));

  std::map<std::string, Resolution> pruned;
  std::vector<double> pruned_ms, full_ms;
  {
    Universe universe(resolver_options(tmp.path() / "pruned", false));
    for (const auto& v : cases) {
      const auto start = std::chrono::steady_clock::now();
      pruned[v.name] = universe.resolve(v.status, v.extended_states);
      pruned_ms.push_back(
          std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count());
    }
  }
  Universe universe(resolver_options(tmp.path() / "full", true));
  for (const auto& v : cases) {
    SCOPED_TRACE(v.name);
    const auto start = std::chrono::steady_clock::now();
    const Resolution full = universe.resolve(v.status, v.extended_states);
    full_ms.push_back(
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count());
    EXPECT_EQ(comparable(pruned[v.name]), comparable(full));
    const Outcome apt = apt_get_dist_upgrade(tmp.path() / "apt-get" / v.name, v.status, v.extended_states);
    EXPECT_EQ(outcome_of(full), apt) << apt.raw;
  }
  // The cases must mean something: the unchanged fixture has updates.
  EXPECT_FALSE(pruned["unchanged"].updates.empty());
  EXPECT_FALSE(pruned["broken-missing-dep"].broken.empty());
  EXPECT_FALSE(pruned["local-pins-libssl3"].removed_packages.empty());
  std::printf("[ timing   ] per image: pruned median %.1f ms, full median %.1f ms (%zu variants)\n",
              median_ms(pruned_ms), median_ms(full_ms), cases.size());
}

}  // namespace
}  // namespace dormant::testing
