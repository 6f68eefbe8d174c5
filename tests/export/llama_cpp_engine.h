// The real llama.cpp for engine tests: the prebuilt CPU build bundled in node-llama-cpp, installed by
// scripts/install-deps.sh into engines/llama-cpp (or LOPPER_LLAMA_CPP_DIR), driven by
// tests/engine/llama_cpp_run.mjs. Tests skip cleanly where Node or the package is missing.
#pragma once
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "test_paths.h"

namespace lopper::test {

inline std::filesystem::path llama_cpp_dir() {
  if (const char* env = std::getenv("LOPPER_LLAMA_CPP_DIR")) return env;
  return source_dir() / "engines/llama-cpp";
}

// Empty when the engine can run here; otherwise why not.
inline std::string llama_cpp_missing() {
  if (std::system("node --version >/dev/null 2>&1") != 0) return "node not found";
  if (!std::filesystem::exists(llama_cpp_dir() / "node_modules/node-llama-cpp/package.json"))
    return "node-llama-cpp not installed in " + llama_cpp_dir().string() + " (scripts/install-deps.sh)";
  return "";
}

// Runs one request (see llama_cpp_run.mjs); fails the test on a non-zero exit.
inline nlohmann::json run_llama_cpp(const nlohmann::json& request, const std::filesystem::path& work) {
  auto req_file = work / "llama_cpp_request.json";
  std::ofstream(req_file) << request.dump();
  std::string cmd = "node '" + (source_dir() / "tests/engine/llama_cpp_run.mjs").string() + "' '" +
                    llama_cpp_dir().string() + "' '" + req_file.string() + "' 2>'" + (work / "llama_cpp.err").string() + "'";
  FILE* p = popen(cmd.c_str(), "r");
  std::string out;
  char buf[4096];
  while (size_t n = fread(buf, 1, sizeof buf, p)) out.append(buf, n);
  int rc = pclose(p);
  if (rc != 0) {
    std::ifstream err(work / "llama_cpp.err");
    std::string e((std::istreambuf_iterator<char>(err)), {});
    ADD_FAILURE() << "llama.cpp run failed (" << rc << "): " << e.substr(0, 2000);
    return nlohmann::json::object();
  }
  return nlohmann::json::parse(out);
}

}  // namespace lopper::test

#define LOPPER_REQUIRE_LLAMA_CPP()                                          \
  do {                                                                      \
    auto why = ::lopper::test::llama_cpp_missing();                         \
    if (!why.empty()) GTEST_SKIP() << "llama.cpp engine unavailable: " << why; \
  } while (0)
