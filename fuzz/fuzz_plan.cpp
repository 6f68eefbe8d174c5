// Fuzzes pruning-plan JSON (`lopper prune --plan FILE`): PruningPlan::parse, then apply() on a
// tiny Llama model built in memory (3 layers, 4 heads in 2 KV groups, FFN width 6), which runs the
// plan's checks against the model and the surgery. Input: a plan file (or a prune report holding one).
// An accepted plan must survive its own JSON round trip, and an applied one must leave weights that
// match the config and have touched only layers, channels and groups that exist.
#include <ATen/ATen.h>

#include <algorithm>

#include "fuzz_util.h"
#include "lopper/prune/plan.h"

using lopper::Model;

namespace {

constexpr int64_t kLayers = 3, kHidden = 8, kHeads = 4, kKv = 2, kHeadDim = 2, kFfn = 6;

Model tiny_model() {
  Model m;
  m.config = lopper::ModelConfig::from_json(
      {{"architectures", {"LlamaForCausalLM"}}, {"vocab_size", 16}, {"hidden_size", kHidden},
       {"num_hidden_layers", kLayers}, {"num_attention_heads", kHeads}, {"num_key_value_heads", kKv},
       {"intermediate_size", kFfn}, {"attention_bias", true}, {"mlp_bias", true}},
      "tiny");
  // Small deterministic values; only the shapes matter here.
  float next = 0;
  auto w = [&](int64_t rows, int64_t cols = 1) {
    std::vector<float> v(static_cast<size_t>(rows * cols));
    for (auto& x : v) x = next++;
    return cols > 1 ? at::tensor(v).reshape({rows, cols}) : at::tensor(v);
  };
  m.weights.embed = w(16, kHidden);
  m.weights.final_norm = w(kHidden);
  m.weights.lm_head = w(16, kHidden);
  for (int i = 0; i < kLayers; ++i) {
    lopper::AttentionWeights a;
    a.norm = w(kHidden);
    a.q = w(kHeads * kHeadDim, kHidden), a.q_bias = w(kHeads * kHeadDim);
    a.k = w(kKv * kHeadDim, kHidden), a.k_bias = w(kKv * kHeadDim);
    a.v = w(kKv * kHeadDim, kHidden), a.v_bias = w(kKv * kHeadDim);
    a.o = w(kHidden, kHeads * kHeadDim), a.o_bias = w(kHidden);
    lopper::MlpWeights f;
    f.norm = w(kHidden);
    f.gate = w(kFfn, kHidden), f.gate_bias = w(kFfn);
    f.up = w(kFfn, kHidden), f.up_bias = w(kFfn);
    f.down = w(kHidden, kFfn), f.down_bias = w(kHidden);
    m.weights.layers.push_back({a, f});
  }
  return m;
}

void check_consistent(const Model& m) {
  FUZZ_CHECK(m.weights.layers.size() == m.config.layers.size() && !m.config.layers.empty());
  for (size_t i = 0; i < m.config.layers.size(); ++i) {
    const auto& s = m.config.layers[i];
    const auto& l = m.weights.layers[i];
    FUZZ_CHECK(s.has_attn == l.attn.has_value() && s.has_mlp == l.mlp.has_value());
    if (l.attn) {
      FUZZ_CHECK(s.num_kv_heads > 0 && s.num_heads % s.num_kv_heads == 0);
      FUZZ_CHECK(l.attn->q.size(0) == s.num_heads * kHeadDim && l.attn->o.size(1) == s.num_heads * kHeadDim);
      FUZZ_CHECK(l.attn->k.size(0) == s.num_kv_heads * kHeadDim && l.attn->v_bias.size(0) == l.attn->k.size(0));
    }
    if (l.mlp) {
      FUZZ_CHECK(s.intermediate_size > 0 && l.mlp->gate.size(0) == s.intermediate_size);
      FUZZ_CHECK(l.mlp->up_bias.size(0) == s.intermediate_size && l.mlp->down.size(1) == s.intermediate_size);
    }
  }
}

// The parsed actions hold the file's numbers, not wrapped or rounded ones.
void check_parsed(const nlohmann::json& file, const lopper::PruningPlan& p) {
  const nlohmann::json& j = file.contains("plan") && file["plan"].is_object() ? file["plan"] : file;
  const nlohmann::json& actions = j["actions"];
  FUZZ_CHECK(actions.size() == p.actions.size());
  for (size_t i = 0; i < p.actions.size(); ++i) {
    const auto& a = p.actions[i];
    if (a.op != "remove_layers") FUZZ_CHECK(actions[i]["layer"] == a.layer);
    const char* list = a.op == "remove_layers" ? "layers" : a.op == "keep_mlp_channels" ? "channels" : "groups";
    if (actions[i].contains(list) && (a.op == "remove_layers" || a.op.rfind("keep_", 0) == 0))
      FUZZ_CHECK(actions[i][list] == nlohmann::json(a.indices));
  }
}

// Every index an applied plan used must have existed in the original model, and the channels or
// groups it keeps must be distinct (a repeated one would duplicate weights, not prune them).
void check_indices(const lopper::PruningPlan& p) {
  for (const auto& a : p.actions) {
    if (a.op == "remove_layers") {
      for (int64_t l : a.indices) FUZZ_CHECK(l >= 0 && l < kLayers);
      continue;
    }
    FUZZ_CHECK(a.layer >= 0 && a.layer < kLayers);
    for (int64_t i : a.indices) FUZZ_CHECK(i >= 0 && i < (a.op == "keep_kv_groups" ? kKv : kFfn));
    auto sorted = a.indices;
    std::sort(sorted.begin(), sorted.end());
    FUZZ_CHECK(std::adjacent_find(sorted.begin(), sorted.end()) == sorted.end());
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const Model base = tiny_model();
  const std::string_view text = lopper::fuzz::as_text(data, size);
  lopper::PruningPlan plan;  // parse() is load() without the read
  if (!lopper::fuzz::expect_lopper_errors([&] { plan = lopper::PruningPlan::parse(text, "plan.json"); })) return 0;
  check_parsed(nlohmann::json::parse(text), plan);
  // `--save-plan` output read back by `--plan`: must give the same plan (an error here is a finding).
  auto back = lopper::PruningPlan::from_json(plan.to_json(), "saved plan.json");
  FUZZ_CHECK(back.to_json() == plan.to_json());
  plan.removed_layers();

  Model m = base;  // tensors are shared, but surgery only replaces them, never writes into them
  if (!lopper::fuzz::expect_lopper_errors([&] { plan.apply(m); })) return 0;
  check_indices(plan);
  check_consistent(m);
  return 0;
}
