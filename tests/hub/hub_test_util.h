// Helpers of the hub tests: a temporary cache, environment variables set for one test, and a tiny
// model repo (a few KB) in the layout the hub serves.
#pragma once
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "hub/fake_hub.h"
#include "lopper/hub/hub_options.h"
#include "lopper/util/fs.h"

namespace lopper::hub_test {

namespace fs = std::filesystem;

struct TempDir {
  fs::path path;
  TempDir() {
    std::random_device rd;
    path = fs::temp_directory_path() / ("lopper-hub-" + std::to_string(rd()) + std::to_string(::getpid()));
    fs::create_directories(path);
  }
  ~TempDir() { remove_tree(path); }
};

// Sets (or, with nullopt, unsets) environment variables for one scope, then puts the old values back.
class ScopedEnv {
 public:
  explicit ScopedEnv(const std::map<std::string, std::optional<std::string>>& vars) {
    for (const auto& [name, value] : vars) set(name, value);
  }
  ScopedEnv(const std::string& name, const std::optional<std::string>& value) { set(name, value); }
  ~ScopedEnv() {
    for (auto it = saved_.rbegin(); it != saved_.rend(); ++it)
      it->second ? ::setenv(it->first.c_str(), it->second->c_str(), 1) : ::unsetenv(it->first.c_str());
  }
  ScopedEnv(const ScopedEnv&) = delete;
  ScopedEnv& operator=(const ScopedEnv&) = delete;

 private:
  void set(const std::string& name, const std::optional<std::string>& value) {
    const char* old = std::getenv(name.c_str());
    saved_.push_back({name, old ? std::optional<std::string>(old) : std::nullopt});
    value ? ::setenv(name.c_str(), value->c_str(), 1) : ::unsetenv(name.c_str());
  }
  std::vector<std::pair<std::string, std::optional<std::string>>> saved_;
};

inline std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// `n` bytes that differ from one `seed` to the next (stand-ins for weights).
inline std::string noise(size_t n, unsigned seed) {
  std::mt19937 rng(seed);
  std::string s(n, '\0');
  for (auto& c : s) c = static_cast<char>(rng());
  return s;
}

// A small single-file model repo, plus files lopper must not download.
inline std::map<std::string, FakeHub::File> tiny_repo(unsigned seed = 1) {
  return {
      {"config.json", {R"({"architectures": ["LlamaForCausalLM"], "model_type": "llama", "seed": )" +
                           std::to_string(seed) + "}\n"}},
      {"tokenizer.json", {"{\"model\": {\"type\": \"BPE\"}}\n"}},
      {"README.md", {"# tiny\n"}},
      {"model.safetensors", {noise(4096, seed), true}},
      {"pytorch_model.bin", {noise(2048, seed + 100), true}},
      {"onnx/model.onnx", {noise(1024, seed + 200), true}},
  };
}

// Options for a test: a temporary cache, the fake hub, no waiting between retries.
inline hub::HubOptions test_options(const fs::path& cache, const FakeHub& hub) {
  hub::HubOptions o;
  o.cache_dir = cache;
  o.endpoint = hub.endpoint();
  o.retry_delay = std::chrono::milliseconds(0);
  o.connect_timeout_s = 2;
  o.stall_timeout_s = 2;
  return o;
}

}  // namespace lopper::hub_test
