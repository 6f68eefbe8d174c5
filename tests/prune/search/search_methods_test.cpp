// Every search method on testbed-15m makes the same choices as a plain full-recompute version of
// its rules written here (no cached states, no early stopping); the 2SSP formula gives the
// reference's numbers for real shapes.
#include <gtest/gtest.h>

#include <map>
#include <numeric>

#include "lopper/calib/calibration.h"
#include "lopper/data/windows.h"
#include "lopper/prune/search/search.h"
#include "lopper/prune/search/twossp_formula.h"
#include "lopper/prune/surgery.h"
#include "lopper/tokenizer/tokenizer.h"
#include "lopper/util/error.h"
#include "lopper/util/progress.h"
#include "prune/search/plain_search.h"
#include "prune/search/testbed_search_data.h"
#include "test_paths.h"

namespace lopper {
namespace {

struct SearchFixture : ::testing::Test {
  static void SetUpTestSuite() {
    data_ = test::load_testbed_search_data().release();
    if (!data_) return;
    model_ = &data_->model;
    calib_ = &data_->calib;
  }
  static void TearDownTestSuite() {
    delete data_;
  }
  static SearchOptions options() {
    SearchOptions o;
    o.engine.micro_batch = 1;  // several chunks per evaluation, so bounded evaluation has work to skip
    return o;
  }
  static inline test::TestbedSearchData* data_ = nullptr;
  static inline Model* model_ = nullptr;
  static inline CalibData* calib_ = nullptr;
};

std::vector<std::vector<int>> removal_order(const nlohmann::json& steps) {
  std::vector<std::vector<int>> out;
  for (const auto& s : steps) out.push_back(s["removed"].get<std::vector<int>>());
  return out;
}

TEST_F(SearchFixture, SlebMatchesPlainGreedy) {
  LOPPER_REQUIRE_SHARED();
  const Model& m = *model_;
  const int L = m.config.num_layers();
  auto o = options();
  o.remove = 3;
  auto r = make_search_method("sleb")->run(m, *calib_, o);
  // Plain: alive blocks minus the first and last, strict minimum of the NLL.
  SublayerSet cur(L);
  std::vector<std::vector<int>> order;
  std::vector<int> alive(L);
  std::iota(alive.begin(), alive.end(), 0);
  for (int step = 0; step < 3; ++step) {
    std::vector<std::vector<int>> groups;
    for (size_t i = 1; i + 1 < alive.size(); ++i) groups.push_back({2 * alive[i], 2 * alive[i] + 1});
    int b = test::plain_argmin(groups, cur, [&](const SublayerSet& c) { return test::plain_nll(m, calib_->ids, c); });
    for (int s : groups[b]) cur.set(s);
    order.push_back(groups[b]);
    alive.erase(alive.begin() + 1 + b);
  }
  EXPECT_EQ(removal_order(r.steps), order);
  EXPECT_EQ(r.removed, cur);
  std::printf("sleb: blocks %d %d %d; %d of %d evaluations stopped early\n", order[0][0] / 2, order[1][0] / 2,
              order[2][0] / 2, r.engine["stopped_early"].get<int>(), r.engine["evaluations"].get<int>());
}

void check_blockpruner(const Model& m, const CalibData& calib, SearchOptions o, bool alternate) {
  const int L = m.config.num_layers();
  const int n = alternate ? 2 : 3;
  o.remove = n;
  o.variant = alternate ? "2ssp-baseline" : "";
  auto r = make_search_method("blockpruner")->run(m, calib, o);
  SublayerSet cur(L);
  std::vector<std::vector<int>> order;
  for (int step = 0; step < n; ++step) {
    std::vector<std::vector<int>> groups;
    for (int kind : {0, 1})
      for (int l = 0; l < L; ++l)
        if (!cur.removed(2 * l + kind) && (!alternate || kind == step % 2)) groups.push_back({2 * l + kind});
    int b = test::plain_argmin(groups, cur, [&](const SublayerSet& c) { return test::plain_nll(m, calib.ids, c); });
    cur.set(groups[b][0]);
    order.push_back(groups[b]);
  }
  EXPECT_EQ(removal_order(r.steps), order);
  std::string seq;
  for (auto& g : order) seq += sublayer_label(g[0]) + "; ";
  std::printf("blockpruner%s: %s\n", alternate ? " (2ssp-baseline)" : "", seq.c_str());
}

TEST_F(SearchFixture, BlockPrunerMatchesPlainGreedy) {
  LOPPER_REQUIRE_SHARED();
  check_blockpruner(*model_, *calib_, options(), false);
  check_blockpruner(*model_, *calib_, options(), true);
}

TEST_F(SearchFixture, TwoSspMatchesPlainStages) {
  LOPPER_REQUIRE_SHARED();
  const Model& m = *model_;
  const int L = m.config.num_layers();
  auto o = options();
  o.sparsity = 0.5;
  o.search_samples = 2;
  auto r = make_search_method("2ssp")->run(m, *calib_, o);
  auto f = twossp_formula(m.config, 0.5);
  ASSERT_EQ(f.n_attn, 4);  // round(14 * 0.5^2) = round(3.5), halves to even
  // Stage 1, plainly: per sample, the L2 norm over tokens of silu(gate x) * up x; mean over samples.
  c10::InferenceMode g;
  Model pruned = m;
  for (int l = 0; l < L; ++l) {
    at::Tensor h = m.embed(calib_->ids);
    ForwardContext ctx;
    h = m.run_layers(h, 0, l, ctx);
    const auto& mw = *m.weights.layers[l].mlp;
    h = m.run_layer(l, h, ctx, true, false);  // attention only: the MLP's input
    at::Tensor x = h * at::rsqrt(h.pow(2).mean(-1, true) + m.config.rms_norm_eps) * mw.norm;
    at::Tensor act = at::silu(at::matmul(x, mw.gate.t())) * at::matmul(x, mw.up.t());  // [N, T, F]
    at::Tensor score = act.to(at::kDouble).norm(2, {1}).mean(0);                          // [F]
    at::Tensor idx = std::get<1>(score.sort(0, /*descending=*/true)).narrow(0, 0, f.keep);
    at::Tensor kept = std::get<0>(idx.sort()).to(at::kLong).contiguous();
    std::vector<int64_t> want;
    for (int64_t i = 0; i < kept.numel(); ++i) want.push_back(kept[i].item().toLong());
    EXPECT_EQ(r.keep_channels.at(l), want) << "layer " << l;
    keep_mlp_channels(pruned, l, want);
  }
  // Stage 2, plainly, on the stage-1 model and the first 2 samples.
  auto ids2 = calib_->ids.narrow(0, 0, 2);
  SublayerSet cur(L);
  std::vector<std::vector<int>> order;
  for (int step = 0; step < f.n_attn; ++step) {
    std::vector<std::vector<int>> groups;
    for (int l = 0; l < L; ++l)
      if (!cur.attn_removed(l)) groups.push_back({2 * l});
    int b = test::plain_argmin(groups, cur, [&](const SublayerSet& c) { return test::plain_nll(pruned, ids2, c); });
    cur.set(groups[b][0]);
    order.push_back(groups[b]);
  }
  EXPECT_EQ(removal_order(r.steps), order);
  EXPECT_EQ(r.removed, cur);
}

// EvoPress, plainly: the same rules and the same random stream, every fitness a full recompute.
SublayerSet plain_evopress(const Model& m, const CalibData& calib, int k, int initial, int offspring, int gens,
                           std::vector<int64_t> stage_tokens, std::vector<int> keep, int64_t initial_tokens,
                           uint64_t seed) {
  const int L = m.config.num_layers();
  std::mt19937_64 rng(seed);
  auto draw = [&](int lo, int hi) { return lo + static_cast<int>(uniform_below(rng, static_cast<uint64_t>(hi - lo + 1))); };
  auto batch_fitness = [&](const SublayerSet& c, int64_t tokens, const std::vector<std::pair<int64_t, int64_t>>& rows) {
    double sum = 0;
    int64_t n = 0;
    for (auto [row, len] : rows) {
      double kl = test::plain_kl(m, calib.ids.narrow(0, row, 1).narrow(1, 0, len), c);
      sum += kl * static_cast<double>(len - 1);
      n += len - 1;
    }
    (void)tokens;
    return sum / static_cast<double>(n);
  };
  auto minibatch = [&](int64_t tokens) {
    std::vector<std::pair<int64_t, int64_t>> rows;
    std::set<int64_t> used;
    const int64_t N = calib.ids.size(0), T = calib.ids.size(1);
    while (tokens > 0) {
      int64_t row = static_cast<int64_t>(uniform_below(rng, static_cast<uint64_t>(N)));
      if (!used.insert(row).second) continue;
      int64_t len = std::min(T, tokens);
      tokens -= len;
      if (len >= 2) rows.push_back({row, len});
    }
    return rows;
  };
  auto select = [&](std::vector<SublayerSet> cands, const std::vector<int64_t>& toks, const std::vector<int>& kp,
                    const SublayerSet* parent) {
    for (size_t st = 0; st < toks.size(); ++st) {
      if (parent && kp[st] == kp.back()) cands.push_back(*parent);
      auto rows = minibatch(toks[st]);
      std::vector<std::pair<double, size_t>> f;
      for (size_t i = 0; i < cands.size(); ++i) f.push_back({batch_fitness(cands[i], toks[st], rows), i});
      std::stable_sort(f.begin(), f.end(), [](auto& a, auto& b) { return a.first < b.first; });
      std::vector<SublayerSet> next;
      for (int j = 0; j < kp[st]; ++j) next.push_back(cands[f[j].second]);
      cands = next;
    }
    return cands[0];
  };
  std::vector<SublayerSet> pop;
  std::set<SublayerSet> seen;
  while (static_cast<int>(pop.size()) < initial) {
    SublayerSet c(L);
    for (int t : {0, 1}) {
      std::vector<int> legal(L);
      std::iota(legal.begin(), legal.end(), 0);
      for (int i = 0; i < k; ++i) {
        size_t j = uniform_below(rng, legal.size());
        c.set(2 * legal[j] + t);
        legal.erase(legal.begin() + static_cast<std::ptrdiff_t>(j));
      }
    }
    if (seen.insert(c).second) pop.push_back(c);
  }
  SublayerSet parent = select(pop, {initial_tokens}, {1}, nullptr);
  for (int gen = 1; gen <= gens; ++gen) {
    std::vector<SublayerSet> kids;
    std::set<SublayerSet> s{parent};
    while (static_cast<int>(kids.size()) < offspring) {
      SublayerSet c = parent;
      int flips = std::min(draw(1, 3), draw(1, 3));
      for (int i = 0; i < flips; ++i) {
        int t = draw(0, 1), a, b;
        do a = draw(0, L - 1); while (c.removed(2 * a + t));
        do b = draw(0, L - 1); while (!c.removed(2 * b + t));
        c.set(2 * a + t, true);
        c.set(2 * b + t, false);
      }
      if (s.insert(c).second) kids.push_back(c);
    }
    parent = select(kids, stage_tokens, keep, &parent);
  }
  return parent;
}

TEST_F(SearchFixture, EvoPressMatchesPlainEvolution) {
  LOPPER_REQUIRE_SHARED();
  const Model& m = *model_;
  auto o = options();
  o.remove = 2;
  o.initial = 6;
  o.offspring = 4;
  o.generations = 3;
  o.initial_tokens = 24;
  o.stage_tokens = {30, 75};
  o.stage_keep = {2, 1};
  o.seed = 5;
  auto r = make_search_method("evopress")->run(m, *calib_, o);
  auto want = plain_evopress(m, *calib_, 2, 6, 4, 3, {30, 75}, {2, 1}, 24, 5);
  EXPECT_EQ(r.removed, want);
  EXPECT_EQ(r.removed.count(SublayerKind::Attention), 2);
  EXPECT_EQ(r.removed.count(SublayerKind::Mlp), 2);
  EXPECT_EQ(r.steps.size(), 4u);  // the initial population, then 3 generations
  auto again = make_search_method("evopress")->run(m, *calib_, o);
  EXPECT_EQ(again.removed, r.removed);
  EXPECT_EQ(again.steps.back()["fitness"], r.steps.back()["fitness"]);
}

TEST_F(SearchFixture, ResumeGivesTheUninterruptedChoice) {
  LOPPER_REQUIRE_SHARED();
  const Model& m = *model_;
  for (std::string name : {"sleb", "blockpruner", "evopress"}) {
    auto o = options();
    o.remove = name == "blockpruner" ? 3 : 2;
    if (name == "evopress") {
      o.initial = 4, o.offspring = 3, o.generations = 3, o.initial_tokens = 24;
      o.stage_tokens = {24, 48};
    }
    auto method = make_search_method(name);
    // What a run stopped after its second step leaves in its report.
    nlohmann::json cut;
    o.on_step = [&](const nlohmann::json& steps) {
      if (steps.size() == 2) cut = steps;
    };
    auto full = method->run(m, *calib_, o);
    o.on_step = nullptr;
    o.resume_steps = resumed_steps(search_state(name, m, method->settings(o), cut, false), name, m, method->settings(o));
    auto resumed = method->run(m, *calib_, o);
    EXPECT_EQ(resumed.removed, full.removed) << name;
    EXPECT_EQ(resumed.steps.size(), full.steps.size()) << name;
  }
}

TEST_F(SearchFixture, ResumeRefusesAnotherMethodModelOrSettings) {
  LOPPER_REQUIRE_SHARED();
  const Model& m = *model_;
  auto sleb = make_search_method("sleb");
  auto o = options();
  auto state = search_state("sleb", m, sleb->settings(o), nlohmann::json::array(), false);
  EXPECT_THROW(resumed_steps(state, "blockpruner", m, sleb->settings(o)), InputError);
  Model other = m;
  other.config.layers.pop_back();
  other.weights.layers.pop_back();
  EXPECT_THROW(resumed_steps(state, "sleb", other, sleb->settings(o)), InputError);
  o.barrier_first = 2;
  EXPECT_THROW(resumed_steps(state, "sleb", m, sleb->settings(o)), InputError);
  EXPECT_THROW(resumed_steps(nlohmann::json{{"ppl", 3}}, "sleb", m, sleb->settings(o)), InputError);
}

TEST_F(SearchFixture, ImpossibleTargetsAreRefused) {
  LOPPER_REQUIRE_SHARED();
  const Model& m = *model_;
  auto expect_error = [&](const std::string& name, SearchOptions o, const std::string& part) {
    try {
      make_search_method(name)->run(m, *calib_, o);
      ADD_FAILURE() << name << ": no error";
    } catch (const InputError& e) {
      EXPECT_NE(std::string(e.what()).find(part), std::string::npos) << e.what();
    }
  };
  auto o = options();
  o.remove = 13;  // 14 blocks, barriers 1 and 1
  expect_error("sleb", o, "at most 12");
  o.remove = 0;
  expect_error("sleb", o, "at least 1");
  o.remove = 28;
  expect_error("blockpruner", o, "at least one must remain");
  o.remove.reset();
  o.ratio = 0.95;
  expect_error("sleb", o, "beyond what sleb can remove");
  o.ratio = 1.0;
  expect_error("blockpruner", o, "must be in (0, 1)");
  o.ratio.reset();
  o.remove = 14;
  expect_error("evopress", o, "between 1 and 13");
  o.remove.reset();
  o.sparsity = 0.999;
  expect_error("2ssp", o, "2ssp");
  o.sparsity.reset();
  expect_error("2ssp", o, "--sparsity");
}

// 2SSP's formula on real shapes (configs only), against the numbers the reference's code gives.
TEST(TwoSspFormula, ReproducesReferenceNumbers) {
  auto cfg = [](int64_t ffn, int kv) {
    return ModelConfig::from_json(
        {{"architectures", {"LlamaForCausalLM"}}, {"model_type", "llama"}, {"hidden_size", 4096},
         {"intermediate_size", ffn}, {"num_hidden_layers", 32}, {"num_attention_heads", 32},
         {"num_key_value_heads", kv}, {"vocab_size", 32000}, {"rms_norm_eps", 1e-5}},
        "config");
  };
  auto llama2 = cfg(11008, 32), llama3 = cfg(14336, 8);
  struct Case {
    const ModelConfig* c;
    double s;
    int n_attn;
    int64_t keep;
  };
  for (auto [c, s, n, keep] : {Case{&llama2, 0.25, 5, 7744}, Case{&llama2, 0.375, 9, 6368}, Case{&llama2, 0.5, 13, 4992},
                               Case{&llama3, 0.25, 1, 10005}, Case{&llama3, 0.375, 2, 7893},
                               Case{&llama3, 0.5, 5, 5994}}) {
    auto f = twossp_formula(*c, s);
    EXPECT_EQ(f.n_attn, n) << "s = " << s;
    EXPECT_EQ(f.keep, keep) << "s = " << s;
    std::printf("2ssp d_ff %ld s %.3f: N_attn %d, keep %ld\n", static_cast<long>(f.d_ff), s, f.n_attn,
                static_cast<long>(f.keep));
  }
  EXPECT_EQ(twossp_formula(llama2, 0.25).p_attn, 67108864);
  EXPECT_EQ(twossp_formula(llama2, 0.25).p_total, 6476267520);
  EXPECT_THROW(twossp_formula(llama2, 0.0), InputError);
  EXPECT_THROW(twossp_formula(llama2, 0.99999), InputError);     // check 2: the MLPs cannot make up the rest
  EXPECT_THROW(twossp_formula(llama2, 0.01, 100.0), InputError);  // check 1: attention alone overshoots
}

}  // namespace
}  // namespace lopper
