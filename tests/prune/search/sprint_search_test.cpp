// SPRINT on testbed-15m: without tuning its removals equal a plain version of its rules written
// here (every output from a full forward pass from the embedding, no checkpoints, no score reuse);
// with tuning, checkpoints and resuming do not change the removals or the re-fitted weights; the
// latency table is read, refused or measured as documented.
#include <gtest/gtest.h>

#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>

#include "lopper/calib/calibration.h"
#include "lopper/prune/prune_command.h"
#include "lopper/prune/search/search.h"
#include "lopper/prune/search/sprint_latency.h"
#include "lopper/tokenizer/tokenizer.h"
#include "lopper/util/error.h"
#include "lopper/util/fs.h"
#include "lopper/util/progress.h"
#include "model/tiny_model.h"
#include "prune/search/testbed_search_data.h"
#include "prune/prune_test_util.h"
#include "test_paths.h"

namespace lopper {
namespace {

constexpr double kAttn = 2e-3, kMlp = 3e-3;  // the supplied latency table (seconds per sublayer)

struct SprintFixture : ::testing::Test {
  static void SetUpTestSuite() {
    data_ = test::load_testbed_search_data().release();
    if (!data_) return;
    model_ = &data_->model;
    calib_ = &data_->calib;
    dir_ = new std::filesystem::path(test::temp_dir("sprint-search"));
  }
  static void TearDownTestSuite() {
    delete data_;
    if (dir_) remove_tree(*dir_);
    delete dir_;
  }
  // A latency table for this model and the default settings, written as a user would supply one.
  static std::filesystem::path table_file() {
    LatencySettings s;
    SublayerLatency t;
    t.attn_s = kAttn;
    t.mlp_s = kMlp;
    t.t1_s = 0.1;
    t.key = latency_key(*model_, s);
    t.settings = s;
    auto p = *dir_ / "latency.json";
    write_file_atomic(p, t.to_json().dump(2));
    return p;
  }
  static SearchOptions options() {
    SearchOptions o;
    o.engine.micro_batch = 1;  // several micro-batches per pass
    o.sprint.latency_file = table_file();
    return o;
  }
  static inline test::TestbedSearchData* data_ = nullptr;
  static inline Model* model_ = nullptr;
  static inline CalibData* calib_ = nullptr;
  static inline std::filesystem::path* dir_ = nullptr;
};

std::vector<int> removal_order(const nlohmann::json& steps) {
  std::vector<int> out;
  for (const auto& s : steps) out.push_back(s["removed"][0].get<int>());
  return out;
}

// The residual stream after every sublayer < end, `removed` skipped, from the embedding: [N, T, C].
at::Tensor plain_state(const Model& m, const at::Tensor& ids, const SublayerSet& removed, int end) {
  at::Tensor h = m.embed(ids);
  ForwardContext ctx;
  for (int u = 0; u < end; ++u)
    if (!removed.removed(u)) h = m.run_layer(u / 2, h, ctx, u % 2 == 0, u % 2 == 1);
  return h;
}

// l2_sentence, the reference's "l2": per sample sum|o - c| / sum|o|, summed over samples.
double plain_l2_sentence(const at::Tensor& o, const at::Tensor& c) {
  double total = 0;
  for (int64_t i = 0; i < o.size(0); ++i)
    total += ((o[i] - c[i]).abs().sum() / o[i].abs().sum()).item<double>();
  return total;
}

// SPRINT without tuning, plainly: every remaining s scored by full forwards, score / latency, argmin.
std::vector<int> plain_sprint_order(const Model& m, const at::Tensor& ids, int steps) {
  c10::InferenceMode g;
  const int S = 2 * m.config.num_layers();
  SublayerSet removed(m.config.num_layers());
  std::vector<int> order;
  for (int step = 0; step < steps; ++step) {
    int best = -1;
    double best_score = 0;
    for (int s = 0; s < S; ++s) {
      if (removed.removed(s)) continue;
      int end = S;
      for (int u = s + 1; u < S; ++u)
        if (u % 2 == 1 && !removed.removed(u)) {
          end = u + 1;
          break;
        }
      SublayerSet without = removed;
      without.set(s);
      const double score = plain_l2_sentence(plain_state(m, ids, removed, end), plain_state(m, ids, without, end)) /
                           (s % 2 == 0 ? kAttn : kMlp);
      if (best < 0 || score < best_score) {
        best = s;
        best_score = score;
      }
    }
    removed.set(best);
    order.push_back(best);
  }
  return order;
}

TEST_F(SprintFixture, WithoutTuningMatchesPlainAtEveryCheckpointSetting) {
  LOPPER_REQUIRE_SHARED();
  auto want = plain_sprint_order(*model_, calib_->ids, 4);
  for (int k : {8, 0, -1, 3}) {
    auto o = options();
    o.remove = 4;
    o.sprint.tuning = false;
    o.sprint.checkpoints = k;
    auto r = make_search_method("sprint")->run(*model_, *calib_, o);
    EXPECT_EQ(removal_order(r.steps), want) << "--checkpoints " << k;
    EXPECT_TRUE(r.down_proj.empty());
  }
  std::printf("sprint without tuning: sublayers %d %d %d %d\n", want[0], want[1], want[2], want[3]);
}

TEST_F(SprintFixture, TuningIsTheSameWithAnyCheckpointsAndWhenResumed) {
  LOPPER_REQUIRE_SHARED();
  auto remove4 = [&] {
    auto o = options();
    o.remove = 4;
    return o;
  };
  auto ref = make_search_method("sprint")->run(*model_, *calib_, remove4());
  ASSERT_FALSE(ref.down_proj.empty());
  for (const auto& [layer, w] : ref.down_proj)
    EXPECT_FALSE(at::equal(w, model_->weights.layers[layer].mlp->down)) << "layer " << layer;
  // The refit lowers the chosen candidate's sensitivity on the calibration data.
  const auto& first = ref.steps[0];
  for (const auto& c : first["candidates"])
    if (c["sublayer"] == first["removed"][0])
      EXPECT_LT(c["tuned"]["l2_sentence"].get<double>(), c["stage1"]["l2_sentence"].get<double>());
  auto same = [&](const SearchResult& r, const std::string& what) {
    EXPECT_EQ(removal_order(r.steps), removal_order(ref.steps)) << what;
    ASSERT_EQ(r.down_proj.size(), ref.down_proj.size()) << what;
    for (const auto& [layer, w] : ref.down_proj) EXPECT_TRUE(at::equal(r.down_proj.at(layer), w)) << what << ", layer " << layer;
  };
  for (int k : {0, -1}) {
    auto ok = remove4();
    ok.sprint.checkpoints = k;
    same(make_search_method("sprint")->run(*model_, *calib_, ok), "--checkpoints " + std::to_string(k));
  }
  auto res = remove4();
  res.resume_steps = nlohmann::json::array({ref.steps[0], ref.steps[1]});
  auto resumed = make_search_method("sprint")->run(*model_, *calib_, res);
  same(resumed, "resumed after 2 steps");
  EXPECT_TRUE(resumed.steps[1].value("resumed", false));
  EXPECT_FALSE(resumed.steps[2].value("resumed", false));
}

TEST_F(SprintFixture, SavedCheckpointHoldsTheRefitsInTheRightLayers) {
  LOPPER_REQUIRE_SHARED();
  auto o = options();
  o.remove = 5;
  auto r = make_search_method("sprint")->run(*model_, *calib_, o);
  ASSERT_FALSE(r.down_proj.empty());
  // The same search through the prune job, saved.
  PruneRequest req = test::testbed_request("sprint", "tinystories", 4, 24, 1);
  req.remove = 5;
  req.search.sprint.latency_file = o.sprint.latency_file;
  req.measure_speedup = false;
  req.out_dir = *dir_ / "out";
  req.save_dtype = "f32";
  auto report = run_prune(req);
  EXPECT_EQ(removal_order(report["steps"]), removal_order(r.steps));
  auto out = Model::load(req.out_dir, {"cpu", "f32"});
  // Input layer l is output layer l minus the whole layers removed before it.
  int shift = 0, checked = 0;
  for (int l = 0; l < model_->config.num_layers(); ++l) {
    if (r.removed.attn_removed(l) && r.removed.mlp_removed(l)) {
      ++shift;
      continue;
    }
    const auto& lw = out.weights.layers.at(l - shift);
    ASSERT_EQ(lw.mlp.has_value(), !r.removed.mlp_removed(l)) << "layer " << l;
    ASSERT_EQ(lw.attn.has_value(), !r.removed.attn_removed(l)) << "layer " << l;
    if (!lw.mlp) continue;
    const bool refit = r.down_proj.count(l) != 0;
    const at::Tensor& want = refit ? r.down_proj.at(l) : model_->weights.layers[l].mlp->down;
    EXPECT_TRUE(at::equal(lw.mlp->down, want)) << "layer " << l << (refit ? " (re-fitted)" : "");
    EXPECT_TRUE(at::equal(lw.mlp->up, model_->weights.layers[l].mlp->up)) << "layer " << l;
    checked += refit;
  }
  EXPECT_EQ(checked, static_cast<int>(r.down_proj.size()));
}

TEST_F(SprintFixture, StopsAtTheTargetSpeedupAndRefusesImpossibleOnes) {
  LOPPER_REQUIRE_SHARED();
  auto o = options();
  o.sprint.target_speedup = 1.1;
  o.sprint.tuning = false;
  auto r = make_search_method("sprint")->run(*model_, *calib_, o);
  ASSERT_GE(r.steps.size(), 2u);
  EXPECT_GE(r.steps.back()["predicted_speedup"].get<double>(), 1.1);
  EXPECT_LT(r.steps[r.steps.size() - 2]["predicted_speedup"].get<double>(), 1.1);
  // Predicted speedup = all sublayer latencies / the remaining ones.
  const double all = 14 * (kAttn + kMlp);
  double left = all;
  for (int s : removal_order(r.steps)) left -= s % 2 == 0 ? kAttn : kMlp;
  EXPECT_NEAR(r.steps.back()["predicted_speedup"].get<double>(), all / left, 1e-12);
  // The most: one attention left (the cheaper type): 70 ms / 2 ms = 35.
  o.sprint.target_speedup = 36;
  try {
    make_search_method("sprint")->validate(*model_, o);
    FAIL() << "an unreachable target was accepted";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("at most 35.0000"), std::string::npos) << e.what();
  }
  o.sprint.target_speedup = 1.2;
  o.sprint.candidates = 0;
  EXPECT_THROW(make_search_method("sprint")->validate(*model_, o), InputError);
}

TEST_F(SprintFixture, LatencyTableKeysAreChecked) {
  LOPPER_REQUIRE_SHARED();
  auto good = nlohmann::json::parse(read_file(table_file()));
  LatencySettings s;
  EXPECT_NEAR(sublayer_latency(*model_, s, table_file()).attn_s, kAttn, 1e-15);
  auto expect_error = [&](nlohmann::json j, const std::string& needle) {
    auto p = *dir_ / "other.json";
    write_file_atomic(p, j.dump());
    try {
      sublayer_latency(*model_, s, p);
      FAIL() << "accepted a table: " << needle;
    } catch (const InputError& e) {
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
  };
  auto other_model = good;
  other_model["key"]["model"]["hidden_size"] = 4096;
  expect_error(other_model, "another model hidden_size = 4096");
  auto other_device = good;
  other_device["key"]["device"] = "cuda: NVIDIA H100 80GB HBM3";
  expect_error(other_device, "another device");
  auto other_settings = good;
  other_settings["key"]["settings"]["mode"] = "prompt";
  expect_error(other_settings, "other settings mode");
  auto negative = good;
  negative["mlp_s"] = -1.0;
  expect_error(negative, "must be positive");
  expect_error(nlohmann::json::array(), "not a lopper latency table");
}

TEST(SprintLatency, MeasuresReusesAndFloors) {
  LOPPER_REQUIRE_SHARED();
  Progress::set_enabled(false);
  auto m = Model::load(test::bundled_model(), {"cpu", "f32"});
  auto dir = test::temp_dir("sprint-latency");
  LatencySettings s;
  s.mode = "prompt";
  s.prompt_len = 32;
  s.repeats = 1;
  s.warmup = 0;
  auto t = sublayer_latency(m, s, dir / "t.json");
  EXPECT_EQ(t.source, "measured");
  EXPECT_EQ(t.layers, (std::vector<int>{3}));  // int(0.25 x 5) = 1 layer, the one before the last
  EXPECT_GT(t.attn_s, 0);                      // measured or floored, never <= 0
  EXPECT_GT(t.mlp_s, 0);
  for (const auto& w : t.warnings) EXPECT_NE(w.find("floored"), std::string::npos);
  auto again = sublayer_latency(m, s, dir / "t.json");
  EXPECT_EQ(again.source, (dir / "t.json").string());
  EXPECT_EQ(again.attn_s, t.attn_s);
  s.prompt_len = 4096;
  EXPECT_THROW(sublayer_latency(m, s, dir / "u.json"), InputError);  // beyond the context
  remove_tree(dir);
}

}  // namespace
}  // namespace lopper
