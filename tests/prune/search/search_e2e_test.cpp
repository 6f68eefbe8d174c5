// `lopper prune` with each search method on testbed-15m: the saved (heterogeneous) model reloads
// with identical logits and evaluates, two runs give identical output, the report records the
// steps, and a run resumed from a partial report ends where an uninterrupted one does.
#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>
#include <gtest/gtest.h>

#include "lopper/prune/plan.h"
#include "lopper/prune/prune_command.h"
#include "lopper/util/error.h"
#include "lopper/util/fs.h"
#include "lopper/util/progress.h"
#include "model/tiny_model.h"
#include "prune/prune_test_util.h"
#include "test_paths.h"

namespace lopper {
namespace {

std::filesystem::path testbed() { return test::shared_dir() / "models/testbed-15m"; }

PruneRequest request(const std::string& method) {
  Progress::set_enabled(false);
  PruneRequest req = test::testbed_request(method, "tinystories", 4, 32, 2);
  req.eval_ppl = {"wikitext2"};
  req.eval.max_windows = 2;
  req.eval.seqlen = 128;
  if (method == "sleb") req.remove = 2;
  if (method == "blockpruner") req.remove = 3;
  if (method == "2ssp") req.sparsity.sparsity = 0.5;
  if (method == "evopress") {
    req.remove = 1;
    req.search.initial = 4;
    req.search.offspring = 3;
    req.search.generations = 2;
    req.search.initial_tokens = 32;
    req.search.stage_tokens = {32, 64};
  }
  return req;
}

class SearchEndToEnd : public ::testing::TestWithParam<std::string> {};

TEST_P(SearchEndToEnd, SavedModelReloadsIdenticallyAndRunsAreDeterministic) {
  LOPPER_REQUIRE_SHARED();
  auto dir = test::temp_dir("search");
  auto req = request(GetParam());
  req.out_dir = dir / "a";
  req.progress = dir / "a.json";
  auto r1 = run_prune(req);
  req.out_dir = dir / "b";
  req.progress.clear();
  auto r2 = run_prune(req);
  EXPECT_EQ(r1["plan"], r2["plan"]);
  EXPECT_EQ(r1["steps"].size(), r2["steps"].size());
  for (size_t i = 0; i < r1["steps"].size(); ++i) {
    auto a = r1["steps"][i], b = r2["steps"][i];
    a.erase("seconds"), b.erase("seconds");
    EXPECT_EQ(a, b) << "step " << i;
  }
  EXPECT_EQ(read_file(dir / "a/model.safetensors"), read_file(dir / "b/model.safetensors"));
  EXPECT_TRUE(r1["search"]["complete"].get<bool>());
  EXPECT_LT(r1["params_after"].get<int64_t>(), r1["params_before"].get<int64_t>());
  EXPECT_TRUE(r1["ppl_after"]["wikitext2"]["ppl"].is_number());
  EXPECT_TRUE(r1["engine"]["evaluations"].get<int>() > 0);
  // The progress file holds the last partial report (complete: false) until the CLI replaces it.
  auto partial = nlohmann::json::parse(read_file(dir / "a.json"));
  EXPECT_FALSE(partial["search"]["complete"].get<bool>());

  c10::InferenceMode guard;
  auto in_memory = Model::load(testbed(), {"cpu", "f32"});
  PruningPlan::from_json(r1, "report").apply(in_memory);
  auto reloaded = Model::load(dir / "a", {"cpu", "f32"});
  EXPECT_EQ(reloaded.config.layers, in_memory.config.layers);
  auto ids = at::randint(0, 8192, {2, 48}, at::kLong);
  EXPECT_TRUE(in_memory.forward(ids).equal(reloaded.forward(ids)));
  std::string structure;
  for (const auto& l : reloaded.config.layers)
    structure += std::string(l.has_attn ? "A" : "-") + (l.has_mlp ? std::to_string(l.intermediate_size) : "-") + " ";
  std::printf("%s: %d layers: %s\n", GetParam().c_str(), reloaded.config.num_layers(), structure.c_str());
  remove_tree(dir);
}

INSTANTIATE_TEST_SUITE_P(Methods, SearchEndToEnd, ::testing::Values("sleb", "blockpruner", "2ssp", "evopress"),
                         [](const auto& info) { return info.param == "2ssp" ? std::string("twossp") : info.param; });

TEST(SearchResume, ContinuesFromAPartialReportFile) {
  LOPPER_REQUIRE_SHARED();
  auto dir = test::temp_dir("resume");
  auto req = request("blockpruner");
  req.eval_ppl.clear();
  req.plan_only = true;
  req.save_plan = dir / "plan.json";
  auto full = run_prune(req);
  // What an interrupted run leaves: the report after its first step.
  auto partial = full;
  partial["search"]["steps"] = nlohmann::json::array({full["search"]["steps"][0]});
  partial["search"]["complete"] = false;
  write_file_atomic(dir / "partial.json", partial.dump());
  req.resume = dir / "partial.json";
  auto resumed = run_prune(req);
  EXPECT_EQ(resumed["plan"], full["plan"]);
  EXPECT_TRUE(resumed["steps"][0].value("resumed", false));
  // A report from another method, or a corrupt one, is refused with the reason.
  req.method = "sleb";
  req.remove = 2;
  EXPECT_NE(test::prune_error_of(req).find("made by --method \"blockpruner\""), std::string::npos);
  write_file_atomic(dir / "bad.json", "{not json");
  req.resume = dir / "bad.json";
  EXPECT_NE(test::prune_error_of(req).find("not a JSON report"), std::string::npos);
  req.method = "shortgpt";
  EXPECT_NE(test::prune_error_of(req).find("--resume applies to search methods"), std::string::npos);
  remove_tree(dir);
}

TEST(SearchResume, RefusesAReportForAnotherModel) {
  LOPPER_REQUIRE_SHARED();
  auto dir = test::temp_dir("resume-model");
  auto req = request("sleb");
  req.eval_ppl.clear();
  req.plan_only = true;
  req.save_plan = dir / "plan.json";
  req.model_dir = test::bundled_model();
  req.calib.nsamples = 2;
  auto r = run_prune(req);
  write_file_atomic(dir / "other.json", r.dump());
  req.model_dir = testbed();
  req.resume = dir / "other.json";
  EXPECT_NE(test::prune_error_of(req).find("another model"), std::string::npos);
  remove_tree(dir);
}

}  // namespace
}  // namespace lopper
