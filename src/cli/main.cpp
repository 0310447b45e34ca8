// dormant: the command-line frontend. Parses arguments, runs one command and
// maps every error to an exit code, here and nowhere else.
#include <CLI/CLI.hpp>
#include <csignal>
#include <iostream>
#include <string_view>

#include "command.hpp"
#include "dormant/assess/worker.hpp"
#include "dormant/core/error.hpp"
#include "dormant/core/paths.hpp"
#include "version.hpp"

namespace {

int exit_code(dormant::ErrorKind kind) {
  using dormant::ErrorKind;
  switch (kind) {
    case ErrorKind::usage:
      return 2;
    case ErrorKind::not_found:
      return 3;
    case ErrorKind::unsupported:
      return 4;
    case ErrorKind::hostile:
    case ErrorKind::corrupt:
    case ErrorKind::limit:
      return 5;
    case ErrorKind::io:
      return 6;
    case ErrorKind::conflict:
      return 7;
    case ErrorKind::internal:
      return 70;
  }
  return 70;
}

constexpr int kUsage = 2;
constexpr int kInternal = 70;

void print_error(const std::string& what, const std::string& cause) {
  std::cerr << "dormant: error: " << what << '\n';
  // The cause chain is already rendered; one "because" line per level.
  std::size_t start = 0;
  while (start < cause.size()) {
    std::size_t end = cause.find('\n', start);
    if (end == std::string::npos) end = cause.size();
    if (end > start) std::cerr << "  because: " << cause.substr(start, end - start) << '\n';
    start = end + 1;
  }
}

}  // namespace

int main(int argc, char** argv) {
  // A libvirt daemon or HTTP peer that goes away mid-write must be an error
  // (EPIPE) that dormant reports and cleans up after, not a silent death.
  std::signal(SIGPIPE, SIG_IGN);
  // The resolver worker (assess/worker.hpp): a private protocol, not a command.
  if (argc == 3 && std::string_view(argv[1]) == "__resolve-worker")
    return dormant::assess::run_resolve_worker(argv[2], std::cout);
  CLI::App app{"dormant: inspect, assess and patch powered-off VM disk images without booting them",
               "dormant"};
  app.set_version_flag("--version", "dormant " DORMANT_VERSION);
  app.require_subcommand(1);
  app.fallthrough();  // global options (--catalog, --verbose) are accepted after the command too
  app.footer(
      "Exit codes: 0 ok, 2 usage, 3 not found, 4 unsupported, 5 hostile/corrupt/over a limit, 6 host I/O,\n"
      "7 conflict, 70 internal error.\n\n"
      "Example:\n  dormant library add /srv/images && dormant identify && dormant group create web --match "
      "'*web*'");

  dormant::cli::Context context;
  context.out = &std::cout;
  context.err = &std::cerr;
  std::string catalog_path = dormant::default_catalog_path().string();
  app.add_option("--catalog", catalog_path, "Catalog file")->capture_default_str();
  app.add_flag("--verbose,-v", context.verbose, "Print a line per item when stderr is not a terminal");

  dormant::cli::Commands commands;
  dormant::cli::add_inspect_command(app, commands);
  dormant::cli::add_library_commands(app, commands);
  dormant::cli::add_identify_command(app, commands);
  dormant::cli::add_group_commands(app, commands);
  dormant::cli::add_source_commands(app, commands);
  dormant::cli::add_assess_command(app, commands);
  dormant::cli::add_compliance_command(app, commands);
  dormant::cli::add_report_command(app, commands);
  dormant::cli::add_patch_command(app, commands);
  dormant::cli::add_rollback_command(app, commands);
  dormant::cli::add_host_commands(app, commands);
  dormant::cli::add_job_commands(app, commands);
  dormant::cli::add_serve_command(app, commands);

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::cerr << "dormant: error: " << e.what() << "\nRun with --help for more information.\n";
    return kUsage;
  }

  context.catalog_path = catalog_path;
  try {
    for (auto& command : commands) {
      if (command->app && command->app->parsed()) {
        command->run(context);
        return context.exit_status;
      }
    }
    std::cerr << "dormant: error: no command given; see dormant --help\n";
    return kUsage;
  } catch (const dormant::Error& e) {
    print_error(e.what(), e.cause());
    return exit_code(e.kind());
  } catch (const std::exception& e) {
    print_error(std::string("internal error: ") + e.what(), "");
    return kInternal;
  }
}
