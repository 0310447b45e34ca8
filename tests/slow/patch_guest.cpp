#include "patch_guest.hpp"

#include <cstdlib>

#include "support/apt_repo.hpp"

namespace dormant::testing {

namespace fs = std::filesystem;

fs::path fixtures_dir() {
  std::vector<std::string> argv{(source_dir() / "tests/fixtures/make-images.sh").string()};
  if (const char* dir = std::getenv("DORMANT_FIXTURES")) argv.emplace_back(dir);
  auto r = run_ok(argv, {std::chrono::minutes(20)});
  auto out = r.out;
  while (!out.empty() && out.back() == '\n') out.pop_back();
  return out.substr(out.rfind('\n') == std::string::npos ? 0 : out.rfind('\n') + 1);
}

ProcessResult dormant_cli(const fs::path& catalog, std::vector<std::string> args,
                          std::chrono::seconds timeout) {
  args.insert(args.begin(), {dormant::testing::cli_path(), "--catalog", catalog.string()});
  return run_process(args, {timeout});
}

std::string dpkg_version(const fs::path& raw_image, const std::string& name, const fs::path& scratch) {
  fs::create_directories(scratch / "admin");
  run_ok({"debugfs", "-R", "dump /var/lib/dpkg/status " + (scratch / "admin/status").string(),
          raw_image.string()});
  auto r =
      run_process({"dpkg-query", "--admindir=" + (scratch / "admin").string(), "-W", "-f=${Version}", name});
  return r.exit_code == 0 ? r.out : "";
}

namespace {

std::vector<std::string> lines_with(const std::string& text, const std::string& needle) {
  std::vector<std::string> found;
  std::size_t pos = 0;
  while (pos < text.size()) {
    std::size_t nl = text.find('\n', pos);
    if (nl == std::string::npos) nl = text.size();
    std::string line = text.substr(pos, nl - pos);
    if (line.find(needle) != std::string::npos) found.push_back(line);
    pos = nl + 1;
  }
  return found;
}

}  // namespace

std::vector<std::string> libvirt_domains_with(const std::string& needle) {
  return lines_with(run_process({"virsh", "-c", "qemu:///system", "list", "--all", "--name"}).out, needle);
}

std::vector<std::string> pool_volumes_with(const std::string& pool, const std::string& needle) {
  return lines_with(run_process({"virsh", "-c", "qemu:///system", "vol-list", pool}).out, needle);
}

void PatchGuestTest::SetUp() {
  auto started =
      run_process({(source_dir() / "scripts/start-libvirt.sh").string()}, {std::chrono::seconds(120)});
  ASSERT_EQ(started.exit_code, 0) << started.out << started.err;
  open_to_apt(dir_.path());
  library_ = dir_.path() / "library";
  fs::create_directories(library_);
  image_ = library_ / "bookworm.raw";
  run_ok({"cp", "--sparse=always", (fixtures_dir() / "ext4-whole-full.raw").string(), image_.string()},
         {std::chrono::minutes(5)});
  repo_ = dir_.path() / "repo";
  std::vector<std::string> make_repo{"env"};
  for (const auto& e : repo_env()) make_repo.push_back(e);
  make_repo.insert(make_repo.end(), {(source_dir() / "tests/fixtures/make-update-repo.sh").string(),
                                     fixture_rootfs().string(), repo_.string()});
  run_ok(make_repo, {std::chrono::minutes(5)});
  server_ = std::make_unique<LoopbackHttpServer>(repo_);
  const std::string keyring = (repo_ / "keyring.gpg").string();
  for (auto argv : std::vector<std::vector<std::string>>{
           {"library", "add", library_.string(), "--name", "lib"},
           {"source", "add", "debian", server_->url(), "--suite", "bookworm", "--keyring", keyring},
           {"source", "add", "debian-security", server_->url(), "--suite", "bookworm-security", "--security",
            "--keyring", keyring}}) {
    auto r = dormant_cli(catalog(), argv);
    ASSERT_EQ(r.exit_code, 0) << r.err;
  }
}

}  // namespace dormant::testing
