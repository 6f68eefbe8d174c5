// Fuzzes config.json parsing (ModelConfig::from_json with its DeciLM / nemotron-nas rewrite,
// per-layer lopper_layers and lopper_slicegpt). Input: a config.json file. An accepted config must
// describe a model lopper can build, and the config.json lopper would save for it must load back to
// the same structure (what `lopper prune --out` relies on).
#include "fuzz_util.h"
#include "lopper/model/config.h"

using lopper::ModelConfig;

namespace {

void check_structure(const ModelConfig& c) {
  FUZZ_CHECK(c.vocab_size > 0 && c.hidden_size > 0);
  FUZZ_CHECK(c.head_dim > 0 && c.head_dim % 2 == 0);
  for (const auto& l : c.layers) {
    if (l.has_attn) FUZZ_CHECK(l.num_heads > 0 && l.num_kv_heads > 0 && l.num_heads % l.num_kv_heads == 0);
    else FUZZ_CHECK(l.num_heads == 0 && l.num_kv_heads == 0);
    FUZZ_CHECK(l.has_mlp ? l.intermediate_size > 0 : l.intermediate_size == 0);
  }
  if (c.slicegpt) FUZZ_CHECK(c.slicegpt->layers.size() == c.layers.size());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text = lopper::fuzz::as_text(data, size);
  ModelConfig c;  // parse() is load_file() without the read
  if (!lopper::fuzz::expect_lopper_errors([&] { c = ModelConfig::parse(text, "config.json"); })) return 0;
  check_structure(c);
  // Saved and loaded again: any error here is a finding (lopper refusing its own output).
  ModelConfig back = ModelConfig::from_json(c.to_json(), "saved config.json");
  FUZZ_CHECK(back.arch == c.arch && back.layers == c.layers && back.slicegpt == c.slicegpt);
  FUZZ_CHECK(back.head_dim == c.head_dim && back.hidden_size == c.hidden_size && back.vocab_size == c.vocab_size);
  FUZZ_CHECK(back.qkv_bias == c.qkv_bias && back.o_bias == c.o_bias && back.mlp_bias == c.mlp_bias);
  FUZZ_CHECK(back.tie_word_embeddings == c.tie_word_embeddings && back.qk_norm == c.qk_norm);
  return 0;
}
