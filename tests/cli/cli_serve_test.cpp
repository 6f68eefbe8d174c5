// `lopper serve` from the command line: its errors are one line (busy port, bad model folder) and
// it announces its URL and serves until it is ended.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <thread>

#include "cli/cli_run.h"
#include "lopper/util/fs.h"
#include "serve/serve_test_util.h"
#include "test_paths.h"

namespace lopper {
namespace {

using test::expect_one_line_error;

TEST(ServeCli, BusyPortIsOneErrorLine) {
  test::ListeningSocket busy;
  const std::string port = std::to_string(busy.port());
  expect_one_line_error(test::run("serve --model " + test::bundled_model().string() + " --port " + port),
                        "lopper: error: port " + port + " is in use (--port)");
}

TEST(ServeCli, BadModelFolderIsTheLoadersError) {
  auto dir = test::temp_dir("serve-cli");
  expect_one_line_error(test::run("serve --model " + test::bundled_model().string() + " --model " + dir.string() +
                                  " --port 0"),
                        dir.string());
  remove_tree(dir);
}

TEST(ServeCli, BadPortIsOneErrorLine) {
  expect_one_line_error(test::run("serve --model " + test::bundled_model().string() + " --port 70000"),
                        "port 70000 is not a TCP port (0 to 65535; --port)");
}

TEST(ServeCli, PrintsItsUrlAndServes) {
  const int port = test::free_port();
  // Arguments made before fork(): the child only calls exec.
  const std::string model = test::bundled_model().string(), port_arg = std::to_string(port);
  int out[2];
  ASSERT_EQ(pipe(out), 0);
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    dup2(out[1], 2);
    close(out[0]);
    execl(LOPPER_CLI_PATH, "lopper", "serve", "--model", model.c_str(), "--port", port_arg.c_str(),
          static_cast<char*>(nullptr));
    _exit(127);
  }
  close(out[1]);
  std::string err;
  char buf[512];
  ssize_t n;
  while (err.find('\n') == std::string::npos && (n = read(out[0], buf, sizeof(buf))) > 0) err.append(buf, n);
  close(out[0]);
  const std::string url = "http://127.0.0.1:" + std::to_string(port) + "/";
  EXPECT_NE(err.find("open " + url), std::string::npos) << err;
  // Serving: the page answers.
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  EXPECT_EQ(connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)), 0);
  const std::string req = "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
  EXPECT_GT(send(fd, req.data(), req.size(), MSG_NOSIGNAL), 0);
  std::string reply;
  while ((n = recv(fd, buf, sizeof(buf), 0)) > 0) reply.append(buf, n);
  close(fd);
  EXPECT_EQ(reply.rfind("HTTP/1.1 200 OK", 0), 0u) << reply.substr(0, 200);
  EXPECT_NE(reply.find("<title>lopper demo</title>"), std::string::npos);
  kill(pid, SIGTERM);
  int status = 0;
  waitpid(pid, &status, 0);
  EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGTERM);
}

}  // namespace
}  // namespace lopper
