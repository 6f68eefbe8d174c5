// Left padding (ForwardContext::row_start) and KV-cache row selection against plain computations:
// a left-padded batch gives each row exactly what the row alone gives, with and without a KV cache,
// with a sliding window, and with continuations decoded on rows selected from a cached prefix.
#include <gtest/gtest.h>

#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>

#include "lopper/model/random_init.h"
#include "model/tiny_model.h"
#include "test_paths.h"

namespace lopper {
namespace {

// Rows of different lengths, left-padded with `pad` into one [B, T] batch.
at::Tensor left_padded(const std::vector<at::Tensor>& rows, int64_t T, std::vector<int64_t>& starts, int64_t pad = 5) {
  auto out = at::full({static_cast<int64_t>(rows.size()), T}, pad, at::kLong);
  starts.clear();
  for (size_t b = 0; b < rows.size(); ++b) {
    const int64_t n = rows[b].size(0);
    out[static_cast<int64_t>(b)].narrow(0, T - n, n).copy_(rows[b]);
    starts.push_back(T - n);
  }
  return out;
}

void expect_rows_match(const Model& m, double tol) {
  c10::InferenceMode guard;
  at::manual_seed(3);
  std::vector<at::Tensor> rows;
  for (int64_t n : {7, 19, 12, 1})
    rows.push_back(at::randint(3, m.config.vocab_size, {n}, at::kLong));
  std::vector<int64_t> starts;
  auto batch = left_padded(rows, 19, starts);  // [4, 19]
  ForwardContext ctx;
  ctx.row_start = starts;
  auto logits = m.forward(batch, ctx);  // [4, 19, V]
  for (size_t b = 0; b < rows.size(); ++b) {
    const int64_t n = rows[b].size(0);
    auto alone = m.forward(rows[b].unsqueeze(0))[0];  // [n, V]
    auto got = logits[static_cast<int64_t>(b)].narrow(0, 19 - n, n);
    EXPECT_LT((got - alone).abs().max().item<double>(), tol) << "row " << b;
    EXPECT_TRUE(at::isfinite(logits[static_cast<int64_t>(b)]).all().item<bool>());  // padding stays finite
  }
  // The same prefixes cached, then 3 more tokens per row decoded on top of them.
  KVCache cache(m.config.num_layers());
  ForwardContext cctx;
  cctx.cache = &cache;
  cctx.row_start = starts;
  (void)m.forward(batch, cctx);
  auto more = at::randint(3, m.config.vocab_size, {4, 3}, at::kLong);
  auto next = m.forward(more, cctx);  // [4, 3, V]
  for (size_t b = 0; b < rows.size(); ++b) {
    auto full = at::cat({rows[b], more[static_cast<int64_t>(b)]}).unsqueeze(0);
    auto alone = m.forward(full)[0].narrow(0, rows[b].size(0), 3);
    EXPECT_LT((next[static_cast<int64_t>(b)] - alone).abs().max().item<double>(), tol) << "cached row " << b;
  }
  // Rows picked from the cache (two continuations of row 1, one of row 3).
  auto picked = cache.select_rows(at::tensor(std::vector<int64_t>{1, 1, 3}, at::kLong));
  KVCache base(m.config.num_layers());
  ForwardContext sel;
  sel.cache = &base;
  sel.row_start = starts;
  (void)m.forward(batch, sel);
  base = base.select_rows(at::tensor(std::vector<int64_t>{1, 1, 3}, at::kLong));
  sel.row_start = {starts[1], starts[1], starts[3]};
  sel.rope = {};
  auto cont = at::randint(3, m.config.vocab_size, {3, 2}, at::kLong);
  auto out = m.forward(cont, sel);  // [3, 2, V]
  for (int64_t r = 0; r < 3; ++r) {
    const auto& row = rows[r < 2 ? 1 : 3];
    auto alone = m.forward(at::cat({row, cont[r]}).unsqueeze(0))[0].narrow(0, row.size(0), 2);
    EXPECT_LT((out[r] - alone).abs().max().item<double>(), tol) << "selected row " << r;
  }
  EXPECT_EQ(picked.length(), 22);
}

// Logits in fp32: GEMMs of different row counts round differently (the golden tests allow 1e-4 against
// transformers); a padding or position mistake moves logits by orders of magnitude more.
TEST(Padding, LeftPaddedRowsEqualRowsAlone) {
  expect_rows_match(Model::load(test::bundled_model(), {"cpu", "f32"}), 5e-5);
}

TEST(Padding, SlidingWindowAndBiasesToo) {
  auto j = test::tiny_config_json("MistralForCausalLM");
  j["sliding_window"] = 6;  // masked (non-CPU-causal) attention path
  expect_rows_match(random_model(ModelConfig::from_json(j, "tiny"), {"cpu", "f32"}, 1, 0.3), 5e-5);
  auto q = test::tiny_config_json("Qwen2ForCausalLM");
  expect_rows_match(random_model(ModelConfig::from_json(q, "tiny"), {"cpu", "f32"}, 2, 0.3), 5e-5);
}

}  // namespace
}  // namespace lopper
