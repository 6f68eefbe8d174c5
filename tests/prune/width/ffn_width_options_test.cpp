// Option checks shared by osscar and ffn-l2, and the --params -> FFN ratio conversion.
#include <gtest/gtest.h>

#include "lopper/model/config.h"
#include "lopper/prune/width/ffn_target.h"
#include "lopper/prune/width/width.h"
#include "prune/width/ffn_width_test_util.h"

namespace lopper {
namespace {

bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

ModelConfig mixed_config() { return ModelConfig::from_json(test::mixed_ffn_config_json(), "tiny"); }

WidthOptions ok_options() {
  WidthOptions o;
  o.ratio = 0.5;
  o.align = 8;
  return o;
}

// Parameters of the tiny model (C = 32, 4 heads of 8, 2 KV heads): attention q/o 32*32 each, k/v
// 16*32 each, its norm 32; MLP norm 32 plus 3 * F * 32 for F = 40 (layer 0) and 24 (layer 2).
constexpr double kAttn = 2 * 32 * 32 + 2 * 16 * 32 + 32;
constexpr double kFfn = 3 * 40 * 32 + 3 * 24 * 32;
constexpr double kDecoder = 3 * kAttn + kFfn + 2 * 32;

TEST(FfnWidthOptions, ParamsTargetBecomesTheFfnRatio) {
  auto c = mixed_config();
  WidthOptions o = ok_options();
  o.ratio.reset();
  o.params = 0.3;
  auto t = ffn_target(c, o);
  EXPECT_EQ(t.ffn_params, static_cast<int64_t>(kFfn));
  EXPECT_EQ(t.decoder_params, static_cast<int64_t>(kDecoder));
  EXPECT_NEAR(t.ratio, 0.3 * kDecoder / kFfn, 1e-12);
  for (const std::string method : {"osscar", "ffn-l2"}) {
    make_width_method(method)->validate(c, o);  // reachable
    o.params = 0.6;  // the FFNs hold kFfn / kDecoder = 39.6% of the decoder parameters
    auto e = test::width_error(method, c, o);
    EXPECT_TRUE(contains(e, "--params 0.6") && contains(e, fmt::format("{:.1f}%", 100 * kFfn / kDecoder))) << e;
    o.params = 0.3;
  }
}

TEST(FfnWidthOptions, BadOptionsFailNamingTheOption) {
  auto c = mixed_config();
  for (const std::string method : {"osscar", "ffn-l2"}) {
    SCOPED_TRACE(method);
    make_width_method(method)->validate(c, ok_options());
    for (double r : {0.0, 1.0, -0.2, 1.5}) {
      WidthOptions o = ok_options();
      o.ratio = r;
      EXPECT_TRUE(contains(test::width_error(method, c, o), "--ratio")) << r;
    }
    WidthOptions o = ok_options();
    o.align = 32;  // layer 0 has 40 channels, layer 2 only 24
    EXPECT_EQ(test::width_error(method, c, o), "--align 32 is larger than layer 2's FFN width (24)");
    o = ok_options();
    o.params = 0.2;  // both targets
    EXPECT_TRUE(contains(test::width_error(method, c, o), "exactly one target"));
    o = ok_options();
    o.kv_groups = 1;
    EXPECT_TRUE(contains(test::width_error(method, c, o), "--kv-groups"));
    o = ok_options();
    o.allocation = "global";
    EXPECT_TRUE(contains(test::width_error(method, c, o), "--allocation"));
    o = ok_options();
    o.refit = true;
    EXPECT_TRUE(contains(test::width_error(method, c, o), "--refit"));
    o = ok_options();
    o.variant = method == "osscar" ? "fast" : "quark";
    EXPECT_TRUE(contains(test::width_error(method, c, o), "--variant"));
  }
  // Default --align 128 on a model whose FFNs are narrower.
  WidthOptions o = ok_options();
  o.align = 128;
  EXPECT_EQ(test::width_error("osscar", c, o), "--align 128 is larger than layer 0's FFN width (40)");
}

TEST(FfnWidthOptions, ModelWithoutMlpIsRejected) {
  auto j = test::tiny_config_json();
  nlohmann::json attn = {{"num_attention_heads", 4}, {"num_key_value_heads", 2}};
  j["lopper_layers"] = nlohmann::json::array();
  for (int l = 0; l < 3; ++l) j["lopper_layers"].push_back({{"attention", attn}, {"mlp", nullptr}});
  auto c = ModelConfig::from_json(j, "tiny");
  for (const std::string method : {"osscar", "ffn-l2"})
    EXPECT_TRUE(contains(test::width_error(method, c, ok_options()), "no MLP")) << method;
}

}  // namespace
}  // namespace lopper
