#include "lopper/export/decilm.h"

#include <fmt/format.h>

#include "lopper/model/config_decilm.h"
#include "lopper/util/error.h"

namespace lopper {

namespace {

using json = nlohmann::json;

constexpr const char* kWhat = "cannot export as DeciLM (nemotron-nas)";

// transformers has no "nemotron-nas" model type: loaders find this class through auto_map. It is
// LlamaConfig plus block_configs, whose entries get the attribute access vLLM's nemotron_nas model
// uses (block.attention.no_op, block.ffn.ffn_mult) while staying dicts, so the config still
// serializes as JSON.
constexpr const char* kConfigClass = R"py(# Config class of a DeciLM / nemotron-nas checkpoint written by lopper (`--to decilm`).
#
# transformers has no "nemotron-nas" model type, so loaders (vLLM with --trust-remote-code,
# AutoConfig with trust_remote_code=True) find this class through config.json's auto_map.
# It is LlamaConfig plus `block_configs`, one entry per layer:
#   {"attention": {"no_op", "replace_with_linear", "n_heads_in_group"},
#    "ffn": {"no_op", "replace_with_linear", "ffn_mult"}}
# whose parts are readable as attributes (block.attention.no_op), as vLLM's model reads them.
from transformers import LlamaConfig


class BlockSection(dict):
    """A block_configs entry or one of its parts: a dict whose keys are also attributes."""

    def __init__(self, fields=None):
        super().__init__()
        for key, value in dict(fields or {}).items():
            self[key] = BlockSection(value) if isinstance(value, dict) else value

    def __getattr__(self, name):
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None


def _blocks(block_configs):
    return [BlockSection(block) for block in (block_configs or [])]


class DeciLMConfig(LlamaConfig):
    model_type = "nemotron-nas"

    def __init__(self, block_configs=None, **kwargs):
        super().__init__(**kwargs)
        self.block_configs = _blocks(block_configs)

    # transformers 5 may build a config from its dataclass fields and pass the other keys to
    # __post_init__ instead of calling __init__ above; block_configs then arrives here.
    def __post_init__(self, **kwargs):
        block_configs = kwargs.pop("block_configs", None)
        super().__post_init__(**kwargs)
        if block_configs is not None or not hasattr(self, "block_configs"):
            self.block_configs = _blocks(block_configs)
)py";

json rope_scaling_json(const RopeScaling& r) {
  if (r.type == "default") return nullptr;
  json s = {{"rope_type", r.type}, {"factor", r.factor}};
  if (r.type == "llama3") {
    s["low_freq_factor"] = r.low_freq_factor;
    s["high_freq_factor"] = r.high_freq_factor;
    s["original_max_position_embeddings"] = r.original_max_position_embeddings;
  }
  return s;
}

void check_architecture(const ModelConfig& c) {
  if (c.arch == Arch::Qwen2 || c.arch == Arch::Qwen3 || c.qkv_bias || c.o_bias || c.mlp_bias || c.qk_norm)
    fail("{}: {} has {}; DeciLM holds Llama-family layers without biases or Q/K norms", kWhat, c.architecture,
         c.qk_norm ? "Q/K norms" : "biases");
  check(!c.layers.empty(), "{}: the model has no layers", kWhat);
}

// The block_configs entry of layer i; checks what nemotron-nas can express. `heads` is the global
// query-head count (layer 0's).
json block_config(const ModelConfig& c, int i, int heads) {
  const LayerSpec& l = c.layers[i];
  const std::string where = fmt::format("{}: layer {}", kWhat, i);
  if (!l.has_attn && !l.has_mlp)
    fail("{}: has neither attention nor MLP; remove the whole layer instead", where);
  json attention = {{"no_op", true}, {"replace_with_linear", false}, {"n_heads_in_group", nullptr}};
  if (l.has_attn) {
    if (l.num_heads != heads)
      fail("{}: {} query heads, but nemotron-nas has one global query-head count ({}); only the kv-head "
           "count may differ per layer (removing kv groups also removes their query heads)",
           where, l.num_heads, heads);
    if (l.num_kv_heads <= 0 || l.num_heads % l.num_kv_heads != 0)
      fail("{}: {} query heads are not a multiple of {} kv heads (n_heads_in_group must be a whole number)",
           where, l.num_heads, l.num_kv_heads);
    if (l.sliding_window)
      fail("{}: sliding-window attention (window {}); nemotron-nas attention sees the whole context", where,
           *l.sliding_window);
    attention = {{"no_op", false},
                 {"replace_with_linear", false},
                 {"n_heads_in_group", l.num_heads / l.num_kv_heads}};
  }
  json ffn = {{"no_op", true}, {"replace_with_linear", false}, {"ffn_mult", nullptr}};
  if (l.has_mlp) {
    if (l.intermediate_size <= 0 || l.intermediate_size % 256 != 0)
      fail("{}: FFN width {} is not a multiple of 256 (vLLM's nemotron-nas sizes FFNs as "
           "find_multiple(int(2*ffn_mult*hidden/3), 256))",
           where, l.intermediate_size);
    ffn = {{"no_op", false},
           {"replace_with_linear", false},
           {"ffn_mult", decilm_ffn_mult(l.intermediate_size, c.hidden_size)}};
  }
  return {{"attention", attention}, {"ffn", ffn}};
}

}  // namespace

json decilm_config(const ModelConfig& c) {
  check(!is_sliced(c), "{}: model is SliceGPT-rotated (shortcut matrices between blocks), which nemotron-nas cannot "
        "hold: evaluate and run it with lopper", kWhat);
  check_architecture(c);
  const LayerSpec& first = c.layers.front();
  if (!first.has_attn)
    fail("{}: layer 0: has no attention; nemotron-nas starts the residual stream in layer 0's attention "
         "(vLLM's DeciLM layer needs it there), so layer 0 must keep its attention",
         kWhat);
  const int heads = first.num_heads;
  // transformers' LlamaConfig, which the config class extends, requires it.
  if (c.hidden_size % heads != 0)
    fail("{}: hidden_size {} is not a multiple of the {} query heads (transformers' LlamaConfig requires it)",
         kWhat, c.hidden_size, heads);

  json blocks = json::array();
  for (int i = 0; i < c.num_layers(); ++i) blocks.push_back(block_config(c, i, heads));

  json j;
  j["architectures"] = {"DeciLMForCausalLM"};
  j["model_type"] = "nemotron-nas";
  j["auto_map"] = {{"AutoConfig", "configuration_decilm.DeciLMConfig"}};
  j["block_configs"] = std::move(blocks);
  j["vocab_size"] = c.vocab_size;
  j["hidden_size"] = c.hidden_size;
  j["num_hidden_layers"] = c.num_layers();
  j["num_attention_heads"] = heads;
  j["head_dim"] = c.head_dim;
  // Not read by vLLM for nemotron-nas (it takes kv heads from the first attention block, as here);
  // LlamaConfig wants integers.
  j["num_key_value_heads"] = first.num_kv_heads;
  j["intermediate_size"] = 0;
  for (const auto& l : c.layers)
    if (l.has_mlp) {
      j["intermediate_size"] = l.intermediate_size;
      break;
    }
  j["hidden_act"] = "silu";
  j["rms_norm_eps"] = c.rms_norm_eps;
  j["rope_theta"] = c.rope_theta;
  j["rope_scaling"] = rope_scaling_json(c.rope_scaling);
  j["max_position_embeddings"] = c.max_position_embeddings;
  j["tie_word_embeddings"] = c.tie_word_embeddings;
  j["attention_bias"] = false;
  j["mlp_bias"] = false;
  for (const char* k : {"bos_token_id", "eos_token_id", "pad_token_id"})
    if (c.raw.is_object() && c.raw.contains(k)) j[k] = c.raw[k];
  j["torch_dtype"] = c.dtype;  // save_model sets the dtype it writes
  return j;
}

void export_decilm(const Model& model, const std::filesystem::path& out_dir, const SaveOptions& opts) {
  SaveOptions o = opts;
  o.config_json = decilm_config(model.config);
  o.extra_files.emplace_back("configuration_decilm.py", kConfigClass);
  save_model(model, out_dir, o);
}

}  // namespace lopper
