// Shared by the osscar / ffn-l2 tests: a tiny model with uneven FFN widths and a layer without MLP,
// random calibration ids, testbed-15m with a few WikiText-2 windows, logits and error helpers.
#pragma once
#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <string>

#include "lopper/calib/calibration.h"
#include "lopper/model/model.h"
#include "lopper/prune/width/width.h"
#include "lopper/tokenizer/tokenizer.h"
#include "lopper/util/error.h"
#include "lopper/util/progress.h"
#include "model/tiny_model.h"
#include "test_paths.h"

namespace lopper::test {

// tiny_config_json() with layer 0: FFN 40, layer 1: no MLP, layer 2: FFN 24.
inline nlohmann::json mixed_ffn_config_json() {
  auto j = tiny_config_json();
  nlohmann::json attn = {{"num_attention_heads", 4}, {"num_key_value_heads", 2}};
  j["lopper_layers"] = {{{"attention", attn}, {"mlp", {{"intermediate_size", 40}}}},
                        {{"attention", attn}, {"mlp", nullptr}},
                        {{"attention", attn}, {"mlp", {{"intermediate_size", 24}}}}};
  return j;
}

inline std::filesystem::path write_mixed_ffn_model(const std::string& tag) {
  auto dir = temp_dir(tag);
  write_tiny_model(dir, mixed_ffn_config_json(), 11);
  return dir;
}

inline CalibData random_calib(int64_t n, int64_t len, int64_t vocab, uint64_t seed) {
  at::manual_seed(seed);
  CalibData c;
  c.ids = at::randint(vocab, {n, len}, at::TensorOptions().dtype(at::kLong));
  return c;
}

inline std::filesystem::path testbed_dir() { return shared_dir() / "models/testbed-15m"; }

// 4 WikiText-2 windows of 64 tokens for testbed-15m.
inline CalibData testbed_calib() {
  CalibOptions c;
  c.dataset = "wikitext2";
  c.nsamples = 4;
  c.seqlen = 64;
  c.data_dir = shared_dir() / "data";
  return load_calibration(Tokenizer::from_dir(testbed_dir()), c, 1024);
}

inline at::Tensor logits_of(const Model& m, const at::Tensor& ids) {
  c10::InferenceMode guard;
  return m.forward(ids).to(at::kDouble);
}

inline double max_abs_diff(const at::Tensor& a, const at::Tensor& b) {
  return (a.to(at::kDouble) - b.to(at::kDouble)).abs().max().item<double>();
}

// The InputError message of validate(), or "" (with a test failure) when it passes.
inline std::string width_error(const std::string& method, const ModelConfig& c, const WidthOptions& o) {
  try {
    make_width_method(method)->validate(c, o);
  } catch (const InputError& e) {
    return e.what();
  }
  ADD_FAILURE() << method << ": no error";
  return "";
}

}  // namespace lopper::test
