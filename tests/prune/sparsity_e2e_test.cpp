// Sparsity end to end: on testbed-15m at 50% and 2:4 every matrix holds exactly
// its target zeros (checked again on the saved bf16 checkpoint), PPL(sparsegpt) <= PPL(wanda) <=
// PPL(magnitude) on WikiText-2 windows; OWL / AlphaPruning / ATP keep the parameter-weighted mean at
// the target and report their choices; bad options give one-line errors naming the option.
#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>
#include <gtest/gtest.h>

#include <cstdio>
#include <map>

#include "lopper/data/datasets.h"
#include "lopper/eval/perplexity.h"
#include "lopper/model/save.h"
#include "lopper/prune/prune_command.h"
#include "lopper/prune/sparsity.h"
#include "lopper/tokenizer/tokenizer.h"
#include "lopper/util/error.h"
#include "lopper/util/fs.h"
#include "lopper/util/progress.h"
#include "model/tiny_model.h"
#include "prune/prune_test_util.h"
#include "test_paths.h"

namespace lopper {
namespace {

std::filesystem::path testbed() { return test::shared_dir() / "models/testbed-15m"; }

PruneRequest testbed_request(const std::string& method) {
  Progress::set_enabled(false);
  PruneRequest r;
  r.model_dir = testbed();
  r.load = {"cpu", "f32"};
  r.method = method;
  r.calib.dataset = "c4";
  r.calib.nsamples = 16;
  r.calib.seqlen = 256;
  r.calib.data_dir = test::shared_dir() / "data";
  r.eval_ppl = {"wikitext2"};
  r.eval.max_windows = 8;  // 8 x 1024 tokens
  return r;
}

std::map<std::string, int64_t> numels(const Model& m) {
  std::map<std::string, int64_t> n;
  for_each_tensor(m.config, [&](const TensorSpec& s) {
    if (is_linear_weight(s.role)) n[s.name] = s.shape[0] * s.shape[1];
  });
  return n;
}

// Every matrix's measured zeros equal its target count (unstructured) per the report.
void expect_exact_counts(const nlohmann::json& sp, const std::map<std::string, int64_t>& numel) {
  EXPECT_TRUE(sp["exact"].get<bool>()) << sp["mismatched_matrices"];
  ASSERT_EQ(sp["per_matrix"].size(), numel.size());
  for (const auto& [name, n] : numel) {
    const int64_t zeros = std::llround(sp["per_matrix"][name].get<double>() * static_cast<double>(n));
    if (sp["nm"].is_null())
      EXPECT_EQ(zeros, zero_count(n, sp["per_matrix_target"][name].get<double>())) << name;
    else
      EXPECT_EQ(zeros, n / 2) << name;  // 2:4 -> exactly half
  }
}

// The library directly (run_sparsity + perplexity), so the dense model is measured once: six
// prunings of testbed-15m, 16 x 256 C4 calibration tokens, the first 8 WikiText-2 windows of 1024.
TEST(SparsityEndToEnd, ExactCountsAndPplOrderingOnTestbed) {
  LOPPER_REQUIRE_SHARED();
  Progress::set_enabled(false);
  c10::InferenceMode guard;
  auto req = testbed_request("wanda");
  auto dense = Model::load(testbed(), req.load);
  const auto numel = numels(dense);
  auto tok = Tokenizer::from_dir(testbed());
  auto calib = load_calibration(tok, req.calib, dense.config.max_position_embeddings);
  auto wiki = tok.encode(load_dataset("wikitext2", DataDirs::resolve(req.calib.data_dir)).text);
  PerplexityOptions po;
  po.max_windows = 8;
  const double dense_ppl = perplexity(dense, wiki, po, "wikitext2").ppl;
  auto dir = test::temp_dir("sparsity");
  std::map<std::string, std::map<std::string, double>> ppl;  // pattern -> method -> ppl
  for (std::string pattern : {"50%", "2:4"}) {
    for (std::string method : {"magnitude", "wanda", "sparsegpt"}) {
      auto model = Model::load(testbed(), req.load);
      SparsityOptions o;
      if (pattern == "2:4") o.nm = "2:4";
      else o.sparsity = 0.5;
      auto sp = run_sparsity(model, method == "magnitude" ? nullptr : &calib, method, o);
      expect_exact_counts(sp, numel);
      EXPECT_NEAR(sp["overall"].get<double>(), 0.5, 1e-12);
      EXPECT_EQ(sp["per_layer"].size(), 14u);
      // Counted again here, independently of the report.
      for_each_tensor(model.config, [&](const TensorSpec& s) {
        if (!is_linear_weight(s.role)) return;
        const auto& w = tensor_slot(model.weights, s);
        EXPECT_EQ(w.eq(0).sum().item<int64_t>(), numel.at(s.name) / 2) << method << " " << s.name;
        if (pattern == "2:4") EXPECT_TRUE(has_nm_pattern(w, {2, 4})) << method << " " << s.name;
      });
      ppl[pattern][method] = perplexity(model, wiki, po, "wikitext2").ppl;
      if (method == "sparsegpt") save_model(model, dir / (pattern == "2:4" ? "nm" : "un"));
    }
  }
  std::printf("testbed-15m, WikiText-2 first 8 windows of 1024; dense %.3f\n", dense_ppl);
  for (auto& [pattern, m] : ppl)
    std::printf("  %-4s magnitude %.3f  wanda %.3f  sparsegpt %.3f\n", pattern.c_str(), m["magnitude"], m["wanda"],
                m["sparsegpt"]);
  for (auto& [pattern, m] : ppl) {
    EXPECT_LE(m["sparsegpt"], m["wanda"]) << pattern;
    EXPECT_LE(m["wanda"], m["magnitude"]) << pattern;
    EXPECT_GT(m["sparsegpt"], dense_ppl) << pattern;
  }

  // The saved bf16 checkpoints keep the zeros: the N:M pattern in every matrix, and the exact counts.
  auto nm = Model::load(dir / "nm", {"cpu", "f32"});
  auto un = Model::load(dir / "un", {"cpu", "f32"});
  EXPECT_EQ(nlohmann::json::parse(read_file(dir / "un/config.json"))["torch_dtype"], "bfloat16");
  for_each_tensor(nm.config, [&](const TensorSpec& s) {
    if (!is_linear_weight(s.role)) return;
    EXPECT_TRUE(has_nm_pattern(tensor_slot(nm.weights, s), {2, 4})) << s.name;
    EXPECT_EQ(tensor_slot(un.weights, s).eq(0).sum().item<int64_t>(), numel.at(s.name) / 2) << s.name;
    // SparseGPT updated the kept weights (they are not the dense ones).
    const auto& d = tensor_slot(dense.weights, s);
    const auto& u = tensor_slot(un.weights, s);
    EXPECT_TRUE(u.ne(0).logical_and(u.ne(d)).any().item<bool>()) << s.name;
  });
  remove_tree(dir);
}

TEST(SparsityEndToEnd, AllocationsKeepTheMeanAndReportTheirChoice) {
  LOPPER_REQUIRE_SHARED();
  c10::InferenceMode guard;
  const auto numel = numels(Model::load(testbed(), {"cpu", "f32"}));
  int64_t total = 0;
  for (auto& [n, k] : numel) total += k;
  for (std::string alloc : {"owl", "alphapruning", "atp"}) {
    // The allocation does not depend on the method (OWL scores with Wanda's metric, AlphaPruning reads
    // weights only); ATP's search prunes with the chosen method, magnitude here to keep the test short.
    auto r = testbed_request(alloc == "owl" ? "wanda" : "magnitude");
    r.calib.nsamples = 8;
    r.sparsity.sparsity = 0.5;
    r.sparsity.allocation = alloc;
    r.sparsity.atp_steps = 4;
    r.eval.max_windows = 1;
    auto rep = run_prune(r);
    const auto& sp = rep["sparsity"];
    expect_exact_counts(sp, numel);
    EXPECT_EQ(rep["params_after"], rep["params_before"]);  // zeros in place, shapes kept
    double weighted = 0;
    for (auto& [name, n] : numel) weighted += sp["per_matrix_target"][name].get<double>() * static_cast<double>(n);
    EXPECT_NEAR(weighted / static_cast<double>(total), 0.5, 1e-9) << alloc;
    // Achieved mean: each matrix rounds down by less than one weight.
    EXPECT_NEAR(sp["overall"].get<double>(), 0.5, static_cast<double>(numel.size()) / static_cast<double>(total))
        << alloc;
    const auto& a = sp["allocation"];
    EXPECT_EQ(a["name"], alloc);
    auto targets = a["per_layer_target"].get<std::vector<double>>();
    ASSERT_EQ(targets.size(), 14u);
    if (alloc != "atp")  // ATP may choose d = 0 (uniform) when that scores best on the calibration data
      EXPECT_GT(*std::max_element(targets.begin(), targets.end()) - *std::min_element(targets.begin(), targets.end()),
                1e-3) << alloc << ": not uniform";
    for (size_t l = 0; l < targets.size(); ++l)
      EXPECT_NEAR(sp["per_layer"][l].get<double>(), targets[l], 1e-3) << alloc << " layer " << l;
    std::printf("%s: per-layer targets", alloc.c_str());
    for (double t : targets) std::printf(" %.3f", t);
    std::printf("  ppl %.3f\n", rep["ppl_after"]["wikitext2"]["ppl"].get<double>());
    if (alloc == "owl") {
      EXPECT_EQ(a["outlier_ratio_percent"].size(), 14u);
      EXPECT_LE(targets.front(), 0.5 + 0.08 + 1e-12);
    }
    if (alloc == "alphapruning") EXPECT_EQ(a["alpha"].size(), numel.size());
    if (alloc == "atp") {
      const double d = a["common_difference"].get<double>(), dmax = a["d_max"].get<double>();
      EXPECT_DOUBLE_EQ(dmax, 1.0 / 13);
      ASSERT_EQ(a["search"].size(), 4u);
      EXPECT_EQ(a["search"][1]["d"].get<double>(), dmax / 4);
      EXPECT_GE(d, 0.0);
      EXPECT_LT(d, dmax);
      bool found = false;
      for (const auto& c : a["search"]) {
        EXPECT_TRUE(c["calib_loss"].is_number());
        if (c["d"].get<double>() == d) found = c["calib_loss"] == a["best_calib_loss"];
      }
      EXPECT_TRUE(found);
      for (size_t l = 1; l < targets.size(); ++l) EXPECT_NEAR(targets[l] - targets[l - 1], d, 1e-9);
    }
  }
}

class SparsityBadInput : public ::testing::Test {
 protected:
  PruneRequest req() {
    Progress::set_enabled(false);
    PruneRequest r;
    r.model_dir = test::bundled_model();  // stories260k: hidden 64, ffn 172
    r.method = "wanda";
    r.sparsity.sparsity = 0.5;
    r.calib.dataset = "tinystories";
    r.calib.nsamples = 2;
    r.calib.seqlen = 64;
    r.out_dir = test::temp_dir("never") / "out";
    return r;
  }
  std::string error_of(const PruneRequest& r) { return test::prune_error_of(r); }
};

TEST_F(SparsityBadInput, OptionsNamedInOneLine) {
  auto r = req();
  r.sparsity.sparsity = 1.2;
  EXPECT_EQ(error_of(r), "--sparsity 1.2 must be in [0, 1)");
  r = req();
  r.sparsity.sparsity.reset();
  r.sparsity.nm = "3:2";
  EXPECT_EQ(error_of(r), "--nm 3:2: N must be < M");
  r.sparsity.nm = "4:8";
  EXPECT_EQ(error_of(r), "--nm 4:8: model.layers.0.mlp.down_proj.weight has 172 input columns, not a multiple of 8");
  r.sparsity.nm = "2:4";
  r.sparsity.allocation = "owl";
  EXPECT_NE(error_of(r).find("--nm with --allocation owl is not supported"), std::string::npos);
  r = req();
  r.sparsity.allocation = "best";
  EXPECT_NE(error_of(r).find("(allocations: uniform, atp, owl, alphapruning)"), std::string::npos);
  r = req();
  r.sparsity.nm = "2:4";
  EXPECT_NE(error_of(r).find("give exactly one target: --sparsity S or --nm N:M"), std::string::npos);
  r.sparsity.sparsity.reset();
  r.sparsity.nm.clear();
  EXPECT_NE(error_of(r).find("give exactly one target"), std::string::npos);
  r = req();
  r.remove = 1;
  EXPECT_NE(error_of(r).find("--remove / --ratio apply to depth methods"), std::string::npos);
  r = req();
  r.method = "shortgpt";
  EXPECT_NE(error_of(r).find("--sparsity / --nm apply to sparsity methods (magnitude, wanda, sparsegpt)"),
            std::string::npos);
  r = req();
  r.method = "magic";
  EXPECT_NE(error_of(r).find("sparsity methods: magnitude, wanda, sparsegpt"), std::string::npos);
  r = req();
  r.calib.dataset.clear();
  EXPECT_NE(error_of(r).find("--calib is required"), std::string::npos);
  r = req();
  r.method = "magnitude";
  r.sparsity.allocation = "atp";
  r.calib.dataset.clear();
  EXPECT_NE(error_of(r).find("--calib is required"), std::string::npos);
  r = req();
  r.sparsity.allocation = "owl";  // 5 layers: some layer gets at least S + 0.4 lambda = 1.07
  r.sparsity.sparsity = 0.97;
  r.sparsity.owl_lambda = 0.25;
  EXPECT_NE(error_of(r).find("outside [0, 1)"), std::string::npos);
}

TEST_F(SparsityBadInput, MagnitudeNeedsNoDataAndRunsAreDeterministic) {
  auto dir = test::temp_dir("sparse-det");
  auto r = req();
  r.method = "magnitude";
  r.calib.dataset.clear();
  r.out_dir = dir / "mag";
  auto rep = run_prune(r);
  EXPECT_TRUE(rep["calibration"].is_null());
  EXPECT_TRUE(rep["sparsity"]["exact"].get<bool>());
  r = req();
  r.method = "sparsegpt";
  r.calib.nsamples = 4;
  r.out_dir = dir / "a";
  auto a = run_prune(r);
  r.out_dir = dir / "b";
  auto b = run_prune(r);
  EXPECT_EQ(a["sparsity"]["per_matrix"], b["sparsity"]["per_matrix"]);
  c10::InferenceMode guard;
  auto ma = Model::load(dir / "a"), mb = Model::load(dir / "b");
  for_each_tensor(ma.config, [&](const TensorSpec& s) {
    EXPECT_TRUE(tensor_slot(ma.weights, s).equal(tensor_slot(mb.weights, s))) << s.name;
  });
  remove_tree(dir);
}

}  // namespace
}  // namespace lopper
