// Runs the lopper executable for CLI tests: exit code and stdout + stderr together.
#pragma once
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <string>

namespace lopper::test {

struct Run {
  int code;
  std::string out;  // stdout + stderr
};

inline Run run(const std::string& args) {
  std::string cmd = std::string(LOPPER_CLI_PATH) + " " + args + " 2>&1";
  FILE* p = popen(cmd.c_str(), "r");
  std::string out;
  std::array<char, 4096> buf;
  size_t n;
  while ((n = fread(buf.data(), 1, buf.size(), p)) > 0) out.append(buf.data(), n);
  int status = pclose(p);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, out};
}

// Exit code 1 and exactly one line, "lopper: error: ...", containing `needle`.
inline void expect_one_line_error(const Run& r, const std::string& needle) {
  EXPECT_EQ(r.code, 1) << r.out;
  EXPECT_EQ(r.out.rfind("lopper: error: ", 0), 0u) << r.out;
  EXPECT_EQ(std::count(r.out.begin(), r.out.end(), '\n'), 1) << r.out;
  EXPECT_NE(r.out.find(needle), std::string::npos) << r.out;
}

}  // namespace lopper::test
