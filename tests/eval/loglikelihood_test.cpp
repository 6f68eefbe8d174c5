// Zero-shot scoring against plain computations: a request's log-likelihood equals the negated sum
// of the per-token NLLs the perplexity path computes for the same tokens, and the fast path (shared
// prefixes through the KV cache, batching, LM head on scored positions only) equals one full pass
// per request.
#include <gtest/gtest.h>

#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>

#include <cmath>
#include <random>

#include "lopper/eval/generate.h"
#include "lopper/eval/loglikelihood.h"
#include "lopper/eval/perplexity.h"
#include "lopper/util/error.h"
#include "test_paths.h"

namespace lopper {
namespace {

using Docs = std::vector<std::vector<RequestTokens>>;

std::vector<int32_t> random_ids(std::mt19937& rng, int n, int vocab) {
  std::uniform_int_distribution<int> id(3, vocab - 1);
  std::vector<int32_t> v(static_cast<size_t>(n));
  for (auto& x : v) x = id(rng);
  return v;
}

// Multiple-choice documents (one context, 2-4 continuations), winogrande-like ones (contexts that
// differ at the end, one continuation), and single requests.
Docs random_docs(int n, int vocab, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> ctx_len(1, 40), cont_len(1, 9), choices(2, 4), kind(0, 2);
  Docs docs;
  for (int d = 0; d < n; ++d) {
    std::vector<RequestTokens> reqs;
    auto ctx = random_ids(rng, ctx_len(rng), vocab);
    switch (kind(rng)) {
      case 0:
        for (int c = choices(rng); c > 0; --c) reqs.push_back({ctx, random_ids(rng, cont_len(rng), vocab)});
        break;
      case 1: {
        auto cont = random_ids(rng, cont_len(rng), vocab);
        for (int c = 0; c < 2; ++c) {
          auto alt = ctx;
          auto tail = random_ids(rng, 1 + c, vocab);
          alt.insert(alt.end(), tail.begin(), tail.end());
          reqs.push_back({alt, cont});
        }
        break;
      }
      default: reqs.push_back({ctx, random_ids(rng, cont_len(rng), vocab)});
    }
    docs.push_back(std::move(reqs));
  }
  return docs;
}

// One full forward per request: ll from next_token_nll_sum (the perplexity path), greedy from argmax.
RequestScore reference(const Model& m, const RequestTokens& r, int64_t max_len) {
  c10::InferenceMode guard;
  std::vector<int64_t> full(r.context.begin(), r.context.end());
  full.insert(full.end(), r.continuation.begin(), r.continuation.end());
  const int64_t keep = std::min<int64_t>(static_cast<int64_t>(full.size()), max_len + 1);
  std::vector<int64_t> seq(full.end() - keep, full.end());
  auto ids = at::tensor(seq, at::kLong).unsqueeze(0);  // [1, T]
  auto logits = m.forward(ids);                         // [1, T, V]
  const int64_t first = keep - static_cast<int64_t>(r.continuation.size());
  RequestScore s;
  s.ll = -next_token_nll_sum(logits, ids, first)[0].item<double>();
  auto pred = logits[0].narrow(0, first - 1, keep - first).argmax(-1);
  s.greedy = pred.equal(ids[0].narrow(0, first, keep - first));
  return s;
}

// fp32 rounding: each log-prob of these random-token requests is ~10-20 nats with an ulp near 1e-6,
// and GEMMs of different shapes round differently; 1e-5 absolute, or 1e-6 relative for long sums.
double tol(double ref) { return std::max(1e-5, 1e-6 * std::abs(ref)); }

class Loglikelihood : public ::testing::Test {
 protected:
  Model model = Model::load(test::bundled_model(), {"cpu", "f32"});
};

TEST_F(Loglikelihood, EqualsThePerplexityPathAndOneFullPassPerRequest) {
  auto docs = random_docs(40, static_cast<int>(model.config.vocab_size), 7);
  // Requests whose continuation is the model's own greedy one, next to a random alternative.
  GenerateOptions g;
  g.greedy = true;
  g.stop_at_eos = false;
  g.max_new_tokens = 3;
  for (size_t d = 0; d < 5; ++d) {
    const auto& ctx = docs[d][0].context;
    auto out = generate(model, std::vector<int64_t>(ctx.begin(), ctx.end()), g);
    docs.push_back({{ctx, std::vector<int32_t>(out.end() - 3, out.end())}, docs[d][0]});
  }
  LoglikelihoodOptions fast, slow;
  fast.token_budget = 300;  // several batches, with different shared-prefix lengths
  slow.prefix_reuse = false;
  auto a = score_requests(model, docs, fast, "test");
  auto b = score_requests(model, docs, slow, "test");
  int greedy = 0;
  for (size_t d = 0; d < docs.size(); ++d)
    for (size_t r = 0; r < docs[d].size(); ++r) {
      auto ref = reference(model, docs[d][r], model.config.max_position_embeddings);
      EXPECT_NEAR(a[d][r].ll, ref.ll, tol(ref.ll)) << d << "/" << r;
      EXPECT_NEAR(b[d][r].ll, ref.ll, tol(ref.ll)) << d << "/" << r;
      EXPECT_EQ(a[d][r].greedy, ref.greedy);
      EXPECT_EQ(b[d][r].greedy, ref.greedy);
      greedy += ref.greedy;
    }
  EXPECT_GE(greedy, 5);  // the greedy flag is exercised both ways
}

TEST_F(Loglikelihood, BatchShapesDoNotChangeResults) {
  auto docs = random_docs(30, static_cast<int>(model.config.vocab_size), 11);
  LoglikelihoodOptions one, big;
  one.batch = 1;  // one sequence per pass (a document's choices still share its prefix pass)
  big.token_budget = 1 << 20;
  auto a = score_requests(model, docs, one, "test");
  auto b = score_requests(model, docs, big, "test");
  for (size_t d = 0; d < docs.size(); ++d)
    for (size_t r = 0; r < docs[d].size(); ++r) EXPECT_NEAR(a[d][r].ll, b[d][r].ll, tol(b[d][r].ll));
}

TEST_F(Loglikelihood, LeftTruncatesToMaxLength) {
  auto docs = random_docs(20, static_cast<int>(model.config.vocab_size), 3);
  LoglikelihoodOptions o;
  o.max_length = 12;  // most requests are longer: lm-eval keeps the last 13 tokens, drops the last
  auto a = score_requests(model, docs, o, "test");
  for (size_t d = 0; d < docs.size(); ++d)
    for (size_t r = 0; r < docs[d].size(); ++r) {
      const double ref = reference(model, docs[d][r], 12).ll;
      EXPECT_NEAR(a[d][r].ll, ref, tol(ref));
    }
  Docs too_long = {{{{5}, std::vector<int32_t>(13, 7)}}};
  EXPECT_THROW(score_requests(model, too_long, o, "test"), Error);
}

}  // namespace
}  // namespace lopper
