// A real `dormant serve` for the API tests: started on 127.0.0.1 with port 0,
// its port read from the "listening on" line, its token from the token file.
// Stopped with SIGTERM (then SIGKILL) when destroyed.
#pragma once

#include <httplib.h>

#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace dormant::testing {

class ServeProcess {
 public:
  // Fatal gtest failure (and port() == 0) when it does not listen within 30 s.
  ServeProcess(const std::filesystem::path& dormant, const std::filesystem::path& catalog,
               std::vector<std::string> extra_args = {});
  ~ServeProcess();
  ServeProcess(const ServeProcess&) = delete;
  ServeProcess& operator=(const ServeProcess&) = delete;

  int port() const { return port_; }
  int pid() const { return pid_; }
  const std::string& token() const { return token_; }
  std::filesystem::path token_file() const { return catalog_.string() + ".api-token"; }
  std::string stderr_text() const;
  // SIGTERM, then waits; returns the exit status (or -1 when killed).
  int stop();

  // A client with the bearer token set (or without, when `with_token` is false).
  std::unique_ptr<httplib::Client> client(bool with_token = true) const;

 private:
  std::filesystem::path catalog_, err_file_;
  int pid_ = -1;
  int port_ = 0;
  std::string token_;
};

// The body of a response as JSON (null when it is not JSON).
nlohmann::json json_of(const httplib::Result& result);

}  // namespace dormant::testing
