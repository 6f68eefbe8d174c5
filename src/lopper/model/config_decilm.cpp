#include "lopper/model/config_decilm.h"

#include <fmt/format.h>

#include <cmath>
#include <initializer_list>
#include <optional>
#include <string_view>

#include "lopper/model/config_field.h"
#include "lopper/util/error.h"

namespace lopper {

namespace {

using json = nlohmann::json;

constexpr const char* kDeciArch = "DeciLMForCausalLM";

// A field absent or null counts as unset (NVIDIA's configs write every field, null when unused).
bool is_set(const json& o, const char* key) { return o.contains(key) && !o[key].is_null(); }

using config_detail::field;  // range-checked integers (config_field.h)

bool flag(const json& o, const char* key, const std::string& where) {
  return is_set(o, key) && field<bool>(o, key, where);
}

// Refuses a field outside `known` that is set to anything but null / false: it changes what the
// block computes (sliding or sink attention, sparsity, MoE, Mamba, ...) and lopper would silently
// run a different model.
void refuse_unknown(const json& o, std::initializer_list<std::string_view> known, const std::string& where) {
  for (auto it = o.begin(); it != o.end(); ++it) {
    bool is_known = false;
    for (auto k : known) is_known = is_known || it.key() == k;
    if (is_known || it.value().is_null() || (it.value().is_boolean() && !it.value().get<bool>())) continue;
    throw UnsupportedError(fmt::format("{}: \"{}\": {} is not supported by lopper (it runs Llama attention and "
                                       "SwiGLU FFN blocks, or no-op ones)",
                                       where, it.key(), it.value().dump()));
  }
}

// {"num_attention_heads", "num_key_value_heads"} of one block's attention, or null for a no-op.
json attention_entry(const json& a, int n_heads, const std::string& where) {
  check(a.is_object(), "{}: expected an object", where);
  refuse_unknown(a, {"no_op", "replace_with_linear", "n_heads_in_group", "num_key_value_heads"}, where);
  if (flag(a, "replace_with_linear", where))
    throw UnsupportedError(fmt::format(
        "{}: replace_with_linear (a linear map in place of attention) is not supported by lopper", where));
  if (flag(a, "no_op", where)) return nullptr;
  int kv = 0;
  if (is_set(a, "n_heads_in_group")) {
    int g = field<int>(a, "n_heads_in_group", where);
    check(g > 0 && n_heads % g == 0, "{}: n_heads_in_group {} does not divide num_attention_heads {}", where, g,
          n_heads);
    kv = n_heads / g;
  } else if (is_set(a, "num_key_value_heads")) {  // ModelOpt's newer block configs name kv heads directly
    kv = field<int>(a, "num_key_value_heads", where);
  } else {
    fail("{}: attention that is not no_op needs \"n_heads_in_group\"", where);
  }
  check(kv > 0 && n_heads % kv == 0, "{}: {} kv heads do not divide num_attention_heads {}", where, kv, n_heads);
  return {{"num_attention_heads", n_heads}, {"num_key_value_heads", kv}};
}

// {"intermediate_size"} of one block's FFN, or null for a no-op.
json ffn_entry(const json& f, int64_t hidden, const std::string& where) {
  check(f.is_object(), "{}: expected an object", where);
  refuse_unknown(f, {"no_op", "replace_with_linear", "ffn_mult", "intermediate_size", "hidden_act", "gated"},
                 where);
  if (flag(f, "replace_with_linear", where))
    throw UnsupportedError(fmt::format(
        "{}: replace_with_linear (a linear map in place of the FFN) is not supported by lopper", where));
  if (flag(f, "no_op", where)) return nullptr;
  if (is_set(f, "hidden_act")) {
    auto act = field<std::string>(f, "hidden_act", where);
    if (act != "silu" && act != "swish")
      throw UnsupportedError(fmt::format("{}: hidden_act \"{}\" is not supported (supported: silu)", where, act));
  }
  if (is_set(f, "gated") && !field<bool>(f, "gated", where))
    throw UnsupportedError(fmt::format("{}: a non-gated FFN is not supported (lopper runs SwiGLU)", where));
  int64_t width = 0;
  if (is_set(f, "ffn_mult")) {  // what vLLM reads first
    double m = field<double>(f, "ffn_mult", where);
    check(std::isfinite(m) && m > 0 && m < 1e6, "{}: ffn_mult must be positive, got {}", where, m);
    width = decilm_ffn_width(m, hidden);
  } else if (is_set(f, "intermediate_size")) {
    width = field<int64_t>(f, "intermediate_size", where);
  } else {
    fail("{}: an FFN that is not no_op needs \"ffn_mult\"", where);
  }
  check(width > 0, "{}: FFN width must be positive, got {}", where, width);
  return {{"intermediate_size", width}};
}

// Per-layer entries from nemotron-nas's block_configs.
json nemotron_nas_layers(const json& j, int n_layers, int n_heads, int64_t hidden, const std::string& src) {
  const json& bc = j["block_configs"];
  check(bc.is_array() && static_cast<int>(bc.size()) == n_layers,
        "{}: block_configs must be a list with num_hidden_layers ({}) entries", src, n_layers);
  json layers = json::array();
  for (int i = 0; i < n_layers; ++i) {
    auto where = fmt::format("{}: block_configs[{}] (layer {})", src, i, i);
    const json& b = bc[i];
    check(b.is_object() && b.contains("attention") && b.contains("ffn"),
          "{}: expected an object with \"attention\" and \"ffn\"", where);
    refuse_unknown(b, {"attention", "ffn"}, where);
    layers.push_back({{"attention", attention_entry(b["attention"], n_heads, where + " attention")},
                      {"mlp", ffn_entry(b["ffn"], hidden, where + " ffn")}});
  }
  return layers;
}

// Per-layer entries from DeciLM-7B's num_key_value_heads_per_layer (every layer has both parts).
json deci7b_layers(const json& j, int n_layers, int n_heads, const std::string& src) {
  const json& kvs = j["num_key_value_heads_per_layer"];
  check(kvs.is_array() && static_cast<int>(kvs.size()) == n_layers,
        "{}: num_key_value_heads_per_layer must be a list with num_hidden_layers ({}) entries", src, n_layers);
  auto ffn = field<int64_t>(j, "intermediate_size", src);
  json layers = json::array();
  for (int i = 0; i < n_layers; ++i) {
    check(kvs[i].is_number_integer() && config_detail::integer_fits<int>(kvs[i]),
          "{}: num_key_value_heads_per_layer[{}] must be an integer", src, i);
    int kv = kvs[i].get<int>();
    check(kv > 0 && n_heads % kv == 0, "{}: num_key_value_heads_per_layer[{}] = {} does not divide {} heads", src,
          i, kv, n_heads);
    layers.push_back({{"attention", {{"num_attention_heads", n_heads}, {"num_key_value_heads", kv}}},
                      {"mlp", {{"intermediate_size", ffn}}}});
  }
  return layers;
}

}  // namespace

bool is_decilm_config(const json& j) {
  if (!j.is_object()) return false;
  if (j.contains("architectures") && j["architectures"].is_array() && !j["architectures"].empty())
    return j["architectures"][0] == kDeciArch;
  return j.contains("model_type") && (j["model_type"] == "nemotron-nas" || j["model_type"] == "deci");
}

json decilm_to_lopper_json(const json& j, const std::string& src) {
  int n_layers = field<int>(j, "num_hidden_layers", src);
  int n_heads = field<int>(j, "num_attention_heads", src);
  auto hidden = field<int64_t>(j, "hidden_size", src);
  check(n_layers >= 0 && n_heads > 0 && hidden > 0,
        "{}: num_hidden_layers, num_attention_heads and hidden_size must be positive", src);
  json layers;
  if (j.contains("block_configs"))
    layers = nemotron_nas_layers(j, n_layers, n_heads, hidden, src);
  else if (j.contains("num_key_value_heads_per_layer"))
    layers = deci7b_layers(j, n_layers, n_heads, src);
  else
    fail("{}: a DeciLM config needs \"block_configs\" (nemotron-nas) or \"num_key_value_heads_per_layer\" "
         "(DeciLM-7B)",
         src);

  json out = j;
  out["architectures"] = {"LlamaForCausalLM"};
  out["model_type"] = "llama";
  for (const char* k : {"block_configs", "num_key_value_heads_per_layer", "auto_map"}) out.erase(k);
  // nemotron-nas leaves the global counts null; lopper's form has them describe the first layer with
  // each part. A model without any attention / FFN gets placeholders that no layer uses.
  out["num_key_value_heads"] = n_heads;
  out["intermediate_size"] = 256;
  for (const auto& l : layers)
    if (!l["attention"].is_null()) {
      out["num_key_value_heads"] = l["attention"]["num_key_value_heads"];
      break;
    }
  for (const auto& l : layers)
    if (!l["mlp"].is_null()) {
      out["intermediate_size"] = l["mlp"]["intermediate_size"];
      break;
    }
  out["lopper_layers"] = std::move(layers);
  return out;
}

int64_t decilm_ffn_width(double ffn_mult, int64_t hidden_size) {
  // Python: int(2 * ffn_mult * n_embd / 3), each step rounded to double, then truncated.
  double v = 2.0 * ffn_mult;
  v = v * static_cast<double>(hidden_size);
  v = v / 3.0;
  check(std::isfinite(v) && v >= 0 && v < 9e15, "ffn_mult {} with hidden_size {} gives no valid FFN width",
        ffn_mult, hidden_size);
  auto n = static_cast<int64_t>(v);
  return n % 256 == 0 ? n : n + 256 - n % 256;
}

double decilm_ffn_mult(int64_t width, int64_t hidden_size) {
  check(width > 0 && width % 256 == 0, "FFN width {} is not a positive multiple of 256", width);
  check(hidden_size > 0, "hidden_size must be positive, got {}", hidden_size);
  const double exact = 3.0 * static_cast<double>(width) / (2.0 * static_cast<double>(hidden_size));
  const double rounded = std::round(exact * 1e6) / 1e6;
  for (double m : {rounded, exact})
    if (m > 0 && decilm_ffn_width(m, hidden_size) == width) return m;
  // The formula overshot by rounding (2*m*h/3 >= width + 1): step down a few ulps.
  double m = exact;
  for (int i = 0; i < 64; ++i) {
    m = std::nextafter(m, 0.0);
    if (decilm_ffn_width(m, hidden_size) == width) return m;
  }
  throw Error(fmt::format("no ffn_mult gives FFN width {} for hidden_size {}", width, hidden_size));
}

}  // namespace lopper
