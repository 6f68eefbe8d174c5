// ../shared/golden for one model: the reference tensors and JSON, and the greedy-generation check
// that the CPU and CUDA golden tests share.
#pragma once
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "lopper/eval/generate.h"
#include "lopper/io/safetensors.h"
#include "lopper/model/model.h"
#include "lopper/util/fs.h"
#include "test_paths.h"

namespace lopper::test {

struct Golden {
  std::shared_ptr<SafetensorsFile> tensors;
  nlohmann::json json;
};

inline Golden load_golden(const std::string& name) {
  auto dir = shared_dir() / "golden";
  return {SafetensorsFile::open(dir / (name + ".safetensors")),
          nlohmann::json::parse(read_file(dir / (name + ".json")))};
}

// Greedy generation from the golden prompt equals `generation.ids_no_cache`, with and without the KV cache.
inline void expect_golden_generation(const Model& model, const Golden& g) {
  const auto& gen = g.json["generation"];
  for (bool cache : {false, true}) {
    GenerateOptions o;
    o.max_new_tokens = gen["n_new"].get<int64_t>();
    o.greedy = true;
    o.use_cache = cache;
    o.stop_at_eos = false;
    EXPECT_EQ(generate(model, gen["prompt_ids"].get<std::vector<int64_t>>(), o),
              gen["ids_no_cache"].get<std::vector<int64_t>>())
        << "use_cache=" << cache;
  }
}

}  // namespace lopper::test
