#include "service_repo.hpp"

#include <fmt/format.h>
#include <sys/stat.h>

#include <charconv>
#include <fstream>

#include "dormant/core/error.hpp"
#include "dormant/core/subprocess.hpp"
#include "stage.hpp"

namespace dormant::patch::detail {
namespace {

namespace fs = std::filesystem;
constexpr std::uint64_t kMiB = 1024 * 1024;

void write_text(const fs::path& path, const std::string& content) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << content;
  out.close();
  if (!out) fail(ErrorKind::io, path.string(), "cannot write");
  ::chmod(path.c_str(), 0644);
}

void run_tool(const std::vector<std::string>& argv, const fs::path& subject, std::string* out = nullptr) {
  ProcessOptions options;
  options.timeout = std::chrono::minutes(10);
  options.max_output = std::size_t{256} << 20;
  auto r = run_process(argv, options);
  if (r.exit_code != 0)
    fail(ErrorKind::io, subject.string(), "{} failed (exit status {}): {}", argv.front(), r.exit_code, r.err);
  if (out) *out = std::move(r.out);
}

int to_int(std::string_view text, int fallback) {
  int value = fallback;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  return ec == std::errc() && ptr == text.data() + text.size() ? value : fallback;
}

}  // namespace

RepoDisk build_repo_disk(const fs::path& work_dir, const std::string& run_id, const ImagePatch& plan,
                         const std::vector<assess::DownloadedPackage>& debs) {
  const fs::path repo = work_dir / "repo";
  fs::create_directories(repo / "debs");
  fs::create_directories(repo / "sources.list.d");
  ::chmod(repo.c_str(), 0755);
  ::chmod((repo / "debs").c_str(), 0755);
  ::chmod((repo / "sources.list.d").c_str(), 0755);
  std::uint64_t bytes = 0;
  for (const auto& deb : debs) {
    const fs::path target = repo / "debs" / deb.file.filename();
    // A hard link when the cache is on the same filesystem, else a copy.
    std::error_code ec;
    fs::create_hard_link(deb.file, target, ec);
    if (ec) fs::copy_file(deb.file, target, fs::copy_options::overwrite_existing);
    bytes += deb.size;
  }
  for (const auto& [name, content] : plan_texts(run_id, plan, debs)) write_text(repo / name, content);
  std::string install;
  for (const auto& c : plan.installs)
    install += fmt::format("{}={}\n", apt_name(c, plan.image.arch), c.candidate);
  write_text(repo / "install", install);
  // trusted=yes: this flat repository holds only files dormant verified
  // against the signed upstream indexes (and the guest re-checks SHA256SUMS);
  // it is on a read-only disk and is the guest's only source.
  write_text(repo / "sources.list", fmt::format("deb [trusted=yes] file:{} ./\n", kMount));
  // Run in the repository so that Filename: is "debs/<file>" (env -C: no
  // shell, no change of dormant's own working directory).
  std::string packages;
  run_tool({"env", "-C", repo.string(), "apt-ftparchive", "-q=2", "packages", "debs"}, repo, &packages);
  write_text(repo / "Packages", packages);
  // apt asks a flat repository without a Release file for Packages.xz
  // first; without it every other compression is tried and fails noisily.
  run_tool({"xz", "-k", "-9", (repo / "Packages").string()}, repo);

  RepoDisk disk;
  disk.image = work_dir / "repo.img";
  // ext2 metadata, the index and slack: 16 MiB + 10 %, whole MiB.
  disk.size = ((bytes + bytes / 10 + packages.size() + 16 * kMiB) / kMiB + 1) * kMiB;
  run_tool({"truncate", "-s", std::to_string(disk.size), disk.image.string()}, disk.image);
  // -E root_owner: files owned by root in the guest whoever built the disk.
  run_tool({"mke2fs", "-q", "-F", "-t", "ext2", "-L", std::string(kRepoLabel), "-m", "0", "-E",
            "root_owner=0:0", "-d", repo.string(), disk.image.string()},
           disk.image);
  return disk;
}

std::string service_script(std::string_view run_id) {
  return fmt::format(R"SH(set -u
# dormant --mode service, run {run}: one update round, run by qemu-guest-agent.
repo={mount}
export DEBIAN_FRONTEND=noninteractive LC_ALL=C
echo "run={run}"
# What isolation looks like from inside: network interfaces other than lo.
n=0
for i in /sys/class/net/*; do [ "${{i##*/}}" = lo ] || n=$((n + 1)); done
echo "interfaces=$n"
if ! mountpoint -q "$repo"; then
  mkdir -p "$repo"
  if ! mount -o ro LABEL={label} "$repo"; then echo "status=failed-missing"; exit 3; fi
fi
if ! (cd "$repo/debs" && sha256sum --quiet --strict -c ../SHA256SUMS); then
  echo "status=failed-hash"; exit 4
fi
lists=$(mktemp -d /run/dormant-lists.XXXXXX)
mkdir -p "$lists/partial"
chmod 755 "$lists"  # apt fetches as _apt
# Only the repository disk: the guest's own sources are not read.
set -- -o Dir::Etc::sourcelist="$repo/sources.list" -o Dir::Etc::sourceparts="$repo/sources.list.d" \
  -o Dir::State::Lists="$lists" -o Acquire::Languages=none -o APT::Install-Recommends=false \
  -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold -o Dpkg::Use-Pty=0
apt-get "$@" -q update || {{ echo "apt_exit=$?"; echo "status=failed-apt"; exit 5; }}
# shellcheck disable=SC2046  # one package per word, on purpose
apt-get "$@" -q -y install $(cat "$repo/install") $(cat "$repo/remove")
code=$?
echo "apt_exit=$code"
if [ "$code" -ne 0 ]; then
  dpkg --configure -a
  echo "status=failed-apt"
  exit 6
fi
if [ -s "$repo/auto" ]; then
  # shellcheck disable=SC2046
  apt-mark auto $(cat "$repo/auto") >/dev/null
fi
echo "pending=$(apt-get "$@" -s dist-upgrade | grep -c '^Inst ')"
if [ -e /run/reboot-required ]; then echo "reboot_required=yes"; fi
if [ -s "$repo/packages" ]; then
  # shellcheck disable=SC2046
  dpkg-query -W -f='installed ${{Package}}:${{Architecture}} ${{Version}} ${{db:Status-Abbrev}}\n' \
    $(cat "$repo/packages") 2>/dev/null
fi
rm -rf "$lists"
sync
echo "status=success"
)SH",
                     fmt::arg("run", run_id), fmt::arg("mount", kMount), fmt::arg("label", kRepoLabel));
}

ServiceRound parse_service_output(std::string_view out) {
  ServiceRound round;
  constexpr std::size_t kMaxLines = 200000;
  std::size_t count = 0;
  while (!out.empty() && count++ < kMaxLines) {
    const auto nl = out.find('\n');
    std::string_view line = out.substr(0, nl);
    out = nl == std::string_view::npos ? std::string_view() : out.substr(nl + 1);
    if (line.starts_with("installed ")) {
      round.installed.emplace_back(line.substr(10));
      continue;
    }
    const auto eq = line.find('=');
    if (eq == std::string_view::npos) continue;
    const auto key = line.substr(0, eq);
    const auto value = line.substr(eq + 1);
    if (key == "status") round.status = std::string(value);
    if (key == "apt_exit") round.apt_exit = to_int(value, -1);
    if (key == "pending") round.pending = to_int(value, -1);
    if (key == "reboot_required") round.reboot_required = value == "yes";
    if (key == "interfaces") round.interfaces = to_int(value, -1);
  }
  return round;
}

}  // namespace dormant::patch::detail
