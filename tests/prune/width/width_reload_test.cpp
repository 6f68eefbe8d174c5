// Every width method's output, saved and loaded again, gives exactly the logits of the in-memory
// pruned model (fp32 checkpoint), with the same per-layer structure and parameter count.
#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>
#include <gtest/gtest.h>

#include "lopper/calib/calibration.h"
#include "lopper/model/save.h"
#include "lopper/prune/width/width.h"
#include "lopper/tokenizer/tokenizer.h"
#include "lopper/util/progress.h"
#include "model/tiny_model.h"
#include "test_paths.h"

namespace lopper {
namespace {

class WidthReload : public ::testing::TestWithParam<std::string> {};

TEST_P(WidthReload, SavedModelReloadsWithEqualLogits) {
  Progress::set_enabled(false);
  const auto dir = test::shared_dir() / "models/testbed-15m";
  auto m = Model::load(dir, {"cpu", "f32"});
  CalibOptions c;
  c.dataset = "wikitext2";
  c.nsamples = 4;
  c.seqlen = 64;
  c.data_dir = test::shared_dir() / "data";
  auto calib = load_calibration(Tokenizer::from_dir(dir), c, m.config.max_position_embeddings);
  WidthOptions o;
  if (GetParam() == "heads") {
    o.kv_groups = 1;
    o.refit = true;
  } else {
    o.ratio = 0.25;
  }
  auto method = make_width_method(GetParam());
  ASSERT_TRUE(method) << GetParam();
  method->run(m, calib, o);
  auto out = test::temp_dir("width-reload");
  SaveOptions so;
  so.dtype = at::kFloat;
  save_model(m, out / "m", so);
  auto back = Model::load(out / "m", {"cpu", "f32"});
  EXPECT_EQ(back.config.layers, m.config.layers);
  EXPECT_EQ(count_params(back.config).total, count_params(m.config).total);
  EXPECT_LT(count_params(m.config).total, count_params(Model::load(dir, {"cpu", "f32"}).config).total);
  c10::InferenceMode guard;
  auto ids = calib.ids.narrow(1, 0, 32);
  EXPECT_TRUE(at::equal(back.forward(ids), m.forward(ids))) << GetParam();
  std::filesystem::remove_all(out);
}

INSTANTIATE_TEST_SUITE_P(Methods, WidthReload, ::testing::Values("osscar", "ffn-l2", "heads", "slicegpt"),
                         [](const auto& info) {
                           std::string n = info.param;
                           for (auto& ch : n)
                             if (ch == '-') ch = '_';
                           return n;
                         });

}  // namespace
}  // namespace lopper
