// dormant serve: the REST API and the web console (docs/api.md).
#include <cstdlib>
#include <iostream>

#include "command.hpp"
#include "dormant/server/server.hpp"
#include "version.hpp"

namespace dormant::cli {
namespace {

class ServeCommand final : public Command {
 public:
  CLI::App* configure(CLI::App& parent) override {
    auto* cmd = parent.add_subcommand("serve", "Serve the REST API and the web console for this catalog");
    cmd->add_option("--listen", options_.listen, "HOST:PORT to listen on (port 0: any free port)")
        ->capture_default_str();
    cmd->add_option("--token-file", token_file_, "Bearer token file (default: CATALOG.api-token)");
    cmd->add_option(
        "--cache-dir", cache_dir_,
        "Indexes and .deb cache for the assessments and job runs the API starts (default: theirs)");
    cmd->footer(
        "The API (docs/api.md; OpenAPI at /api/v1/openapi.json) needs 'Authorization: Bearer TOKEN'. The "
        "token\n"
        "is made at the first start and kept in the token file, mode 0600. The console is at "
        "http://HOST:PORT/\n"
        "and asks for that token. Mutations and actions run this dormant binary's own commands. Stop with\n"
        "Ctrl-C or SIGTERM; job runs started through the API go on (they are durable).\n\n"
        "Examples:\n  dormant serve\n  dormant serve --listen 127.0.0.1:0 --catalog /srv/dormant/catalog.db");
    return cmd;
  }

  void run(Context& context) override {
    options_.catalog_path = context.catalog_path;
    options_.token_file = token_file_;
    options_.cache_dir = cache_dir_;
    options_.dormant_exe = own_executable();
    options_.version = DORMANT_VERSION;
    // For developing the console: serve web/ from disk instead of the copy in the binary.
    if (const char* dir = std::getenv("DORMANT_WEB_DIR"); dir && *dir) options_.web_dir = dir;
    std::ostream* err = context.err;
    options_.log = [err](const std::string& line) { *err << line << '\n' << std::flush; };
    server::serve(options_);
  }

 private:
  server::ServeOptions options_;
  std::string token_file_;
  std::string cache_dir_;
};

}  // namespace

void add_serve_command(CLI::App& app, Commands& commands) {
  add_command(app, commands, std::make_unique<ServeCommand>());
}

}  // namespace dormant::cli
