// A minimal W3C WebDriver client (over cpp-httplib) and chromedriver as a child process, for the
// demo page's browser test. Both clean up in their destructors, so a failing test leaves no browser
// running; every call is bounded by a deadline, so a stuck browser fails the test instead of
// hanging it.
#pragma once
#include <fcntl.h>
#include <httplib.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

namespace lopper::test {

using Deadline = std::chrono::steady_clock::time_point;

// chromedriver --port=N in its own process group (chromium's processes join it), ended as a group.
class ChromeDriverProcess {
 public:
  ChromeDriverProcess(const std::string& binary, int port, const std::filesystem::path& log) {
    const std::string port_arg = "--port=" + std::to_string(port), log_path = log.string();
    pid_ = fork();
    if (pid_ < 0) throw std::runtime_error("fork failed");
    if (pid_ == 0) {
      setpgid(0, 0);
      int fd = open(log_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      if (fd >= 0) {
        dup2(fd, 1);
        dup2(fd, 2);
      }
      execl(binary.c_str(), "chromedriver", port_arg.c_str(), static_cast<char*>(nullptr));
      _exit(127);
    }
    setpgid(pid_, pid_);  // also from here: no race with the child's own call
  }
  ~ChromeDriverProcess() {
    kill(-pid_, SIGTERM);
    for (int i = 0; i < 50; ++i) {
      if (waitpid(pid_, nullptr, WNOHANG) == pid_) {
        kill(-pid_, SIGKILL);  // browser processes left in the group
        return;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    kill(-pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
  }
  ChromeDriverProcess(const ChromeDriverProcess&) = delete;
  ChromeDriverProcess& operator=(const ChromeDriverProcess&) = delete;

 private:
  pid_t pid_ = -1;
};

class WebDriverSession {
 public:
  static constexpr const char* kElement = "element-6066-11e4-a52e-4f735466cecf";

  // Waits for the driver to be ready, then opens a session with these capabilities.
  WebDriverSession(int port, const nlohmann::json& capabilities, Deadline deadline)
      : http_("127.0.0.1", port), deadline_(deadline) {
    http_.set_connection_timeout(2, 0);
    http_.set_read_timeout(30, 0);
    for (;;) {
      auto r = http_.Get("/status");
      if (r && r->status == 200 && nlohmann::json::parse(r->body, nullptr, false)["value"]["ready"] == true) break;
      if (std::chrono::steady_clock::now() > deadline_) throw std::runtime_error("chromedriver did not start");
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    auto v = call("POST", "/session", {{"capabilities", capabilities}});
    id_ = v["sessionId"].get<std::string>();
  }
  ~WebDriverSession() {
    if (!id_.empty()) http_.Delete("/session/" + id_);  // closes the browser
  }
  WebDriverSession(const WebDriverSession&) = delete;
  WebDriverSession& operator=(const WebDriverSession&) = delete;

  // One command; returns its "value". Throws with the driver's message on an error.
  nlohmann::json call(const std::string& method, const std::string& path, const nlohmann::json& body = {}) {
    if (std::chrono::steady_clock::now() > deadline_) throw std::runtime_error("browser test deadline passed");
    const std::string b = body.is_null() ? "{}" : body.dump();
    httplib::Result r = method == "GET"    ? http_.Get(path)
                        : method == "POST" ? http_.Post(path, b, "application/json")
                                           : http_.Delete(path);
    if (!r) throw std::runtime_error("webdriver " + method + " " + path + ": " + httplib::to_string(r.error()));
    auto j = nlohmann::json::parse(r->body, nullptr, false);
    if (r->status != 200 || j.is_discarded())
      throw std::runtime_error("webdriver " + method + " " + path + ": HTTP " + std::to_string(r->status) + " " +
                               r->body.substr(0, 500));
    return j["value"];
  }
  std::string s(const std::string& rest) const { return "/session/" + id_ + rest; }

  void go(const std::string& url) { call("POST", s("/url"), {{"url", url}}); }
  std::string find(const std::string& css) {
    return call("POST", s("/element"), {{"using", "css selector"}, {"value", css}})[kElement];
  }
  size_t count(const std::string& css) {
    return call("POST", s("/elements"), {{"using", "css selector"}, {"value", css}}).size();
  }
  void click(const std::string& el) { call("POST", s("/element/" + el + "/click"), nlohmann::json::object()); }
  void set_text(const std::string& el, const std::string& text) {
    call("POST", s("/element/" + el + "/clear"), nlohmann::json::object());
    call("POST", s("/element/" + el + "/value"), {{"text", text}});
  }
  std::string text(const std::string& el) { return call("GET", s("/element/" + el + "/text")); }
  nlohmann::json attribute(const std::string& el, const std::string& name) {
    return call("GET", s("/element/" + el + "/attribute/" + name));
  }
  bool selected(const std::string& el) { return call("GET", s("/element/" + el + "/selected")); }
  nlohmann::json script(const std::string& js) {
    return call("POST", s("/execute/sync"), {{"script", js}, {"args", nlohmann::json::array()}});
  }
  std::string screenshot_png() { return base64_decode(call("GET", s("/screenshot")).get<std::string>()); }

  static std::string base64_decode(const std::string& in) {
    std::string out;
    int bits = 0, acc = 0;
    for (char c : in) {
      int v = c >= 'A' && c <= 'Z' ? c - 'A' : c >= 'a' && c <= 'z' ? c - 'a' + 26 : c >= '0' && c <= '9' ? c - '0' + 52
              : c == '+' ? 62 : c == '/' ? 63 : -1;
      if (v < 0) continue;  // padding, line breaks
      acc = ((acc << 6) | v) & 0xffffff;  // the last 24 bits are all a byte can still need
      bits += 6;
      if (bits >= 8) {
        bits -= 8;
        out.push_back(static_cast<char>((acc >> bits) & 0xff));
      }
    }
    return out;
  }

 private:
  httplib::Client http_;
  Deadline deadline_;
  std::string id_;
};

}  // namespace lopper::test
