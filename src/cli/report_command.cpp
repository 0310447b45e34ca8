// dormant report: a compliance report over the catalog (docs/report.md) in
// one of four formats, to stdout or atomically to a file. Reads the catalog
// only; the report itself is built by dormant_report.
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <ostream>

#include "command.hpp"
#include "dormant/core/error.hpp"
#include "dormant/core/fsync.hpp"
#include "dormant/report/report.hpp"

namespace dormant::cli {
namespace {

namespace fs = std::filesystem;

// FILE.tmp in the same directory, fsync, rename, fsync the directory: a
// reader (a web server publishing the file) sees the old report or the new
// one, never half of one, even after a crash. Mode 0600 like the catalog:
// the report tells what every image lacks.
void write_atomically(const fs::path& file, const std::string& content) {
  const fs::path tmp = fs::path(file.string() + ".tmp");
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) fail(ErrorKind::io, tmp.string(), "cannot create: {}", std::strerror(errno));
  std::size_t written = 0;
  while (written < content.size()) {
    const ssize_t n = ::write(fd, content.data() + written, content.size() - written);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const int err = errno;
      ::close(fd);
      ::unlink(tmp.c_str());
      fail(ErrorKind::io, tmp.string(), "cannot write: {}", std::strerror(err));
    }
    written += static_cast<std::size_t>(n);
  }
  if (::fsync(fd) != 0 || ::close(fd) != 0) {
    const int err = errno;
    ::unlink(tmp.c_str());
    fail(ErrorKind::io, tmp.string(), "cannot write: {}", std::strerror(err));
  }
  if (::rename(tmp.c_str(), file.c_str()) != 0) {
    const int err = errno;
    ::unlink(tmp.c_str());
    fail(ErrorKind::io, file.string(), "cannot rename {} into place: {}", tmp.string(), std::strerror(err));
  }
  const fs::path dir = file.parent_path().empty() ? fs::path(".") : file.parent_path();
  fsync_path(dir, O_RDONLY | O_DIRECTORY);
}

class ReportCommand final : public Command {
 public:
  CLI::App* configure(CLI::App& parent) override {
    auto* cmd = parent.add_subcommand(
        "report", "A compliance report: images by state, pending security updates and CVEs, history");
    cmd->add_option("--group,-g", group_, "Only the members of this group (default: every image)");
    cmd->add_option("--format,-f", format_, "table, json, csv or html")->capture_default_str();
    cmd->add_option("-o,--output", output_, "Write the report to FILE (atomically) instead of stdout");
    cmd->footer(
        "Nothing is fetched or re-assessed: the report is what `dormant assess` and `dormant patch` "
        "recorded.\n"
        "html is one self-contained file (no script, no external reference) with a chart of compliance\n"
        "over time; json is described in docs/report.md. Exit 0 even when images are not compliant.\n\n"
        "Examples:\n  dormant report\n  dormant report --group web --format json\n"
        "  dormant report --format html -o /srv/www/compliance.html\n"
        "  dormant report --format csv -o images.csv");
    return cmd;
  }

  void run(Context& context) override {
    report::Options options;
    options.group = group_;
    options.format = report::parse_format(format_);  // Error(usage) before the catalog is opened
    // Rendered in full before anything is written: an unknown group leaves no file behind.
    const std::string text = report::render_report(context.catalog(), options);
    if (output_.empty()) {
      *context.out << text << std::flush;
      return;
    }
    write_atomically(output_, text);
  }

 private:
  std::string group_;
  std::string format_ = "table";
  std::string output_;
};

}  // namespace

void add_report_command(CLI::App& app, Commands& commands) {
  add_command(app, commands, std::make_unique<ReportCommand>());
}

}  // namespace dormant::cli
