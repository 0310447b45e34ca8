#include "support/serve_process.hpp"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <regex>
#include <sstream>
#include <thread>

namespace dormant::testing {
namespace {

std::string read_all(const std::filesystem::path& path) {
  std::ifstream in(path);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

}  // namespace

ServeProcess::ServeProcess(const std::filesystem::path& dormant, const std::filesystem::path& catalog,
                           std::vector<std::string> extra_args)
    : catalog_(catalog), err_file_(catalog.string() + ".serve-stderr") {
  std::vector<std::string> args{dormant.string(), "--catalog", catalog.string(),
                                "serve",          "--listen",  "127.0.0.1:0"};
  args.insert(args.end(), extra_args.begin(), extra_args.end());
  std::vector<char*> cargs;
  for (auto& a : args) cargs.push_back(a.data());
  cargs.push_back(nullptr);
  const std::string err_path = err_file_.string();
  pid_ = ::fork();
  if (pid_ == 0) {
    int null = ::open("/dev/null", O_RDWR);
    int err = ::open(err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    ::dup2(null, 0);
    ::dup2(null, 1);
    ::dup2(err, 2);
    ::execv(cargs[0], cargs.data());
    ::_exit(127);
  }
  static const std::regex listening(R"(listening on http://127\.0\.0\.1:([0-9]+))");
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (std::chrono::steady_clock::now() < deadline) {
    std::smatch m;
    const std::string text = read_all(err_file_);
    if (std::regex_search(text, m, listening)) {
      port_ = std::stoi(m[1].str());
      break;
    }
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  if (port_ == 0) {
    ADD_FAILURE() << "dormant serve did not listen; its stderr:\n" << read_all(err_file_);
    return;
  }
  std::ifstream in(token_file());
  std::getline(in, token_);
}

ServeProcess::~ServeProcess() { stop(); }

std::string ServeProcess::stderr_text() const { return read_all(err_file_); }

int ServeProcess::stop() {
  if (pid_ <= 0) return -1;
  ::kill(pid_, SIGTERM);
  int status = 0;
  for (int i = 0; i < 200; ++i) {
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  ::kill(pid_, SIGKILL);
  ::waitpid(pid_, &status, 0);
  pid_ = -1;
  return -1;
}

std::unique_ptr<httplib::Client> ServeProcess::client(bool with_token) const {
  auto c = std::make_unique<httplib::Client>("127.0.0.1", port_);
  c->set_read_timeout(120, 0);
  if (with_token) c->set_bearer_token_auth(token_.c_str());
  return c;
}

nlohmann::json json_of(const httplib::Result& result) {
  if (!result) return nullptr;
  return nlohmann::json::parse(result->body, nullptr, false);
}

}  // namespace dormant::testing
