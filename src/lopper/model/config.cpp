#include "lopper/model/config.h"

#include <fmt/format.h>

#include "lopper/model/config_decilm.h"
#include "lopper/model/config_field.h"
#include "lopper/model/config_slicegpt.h"
#include "lopper/util/error.h"
#include "lopper/util/fs.h"

namespace lopper {

namespace {

struct ArchInfo {
  const char* architecture;
  const char* model_type;
  Arch arch;
};

// Far more decoder layers than any model has (Llama-3.1-405B: 126).
constexpr int kMaxLayers = 1 << 16;

constexpr ArchInfo kArchs[] = {
    {"LlamaForCausalLM", "llama", Arch::Llama},
    {"MistralForCausalLM", "mistral", Arch::Mistral},
    {"Qwen2ForCausalLM", "qwen2", Arch::Qwen2},
    {"Qwen3ForCausalLM", "qwen3", Arch::Qwen3},
};

template <typename T>
T get(const json& j, const char* key, const std::string& src) {
  return config_detail::field<T>(j, key, src);
}

template <typename T>
T get_or(const json& j, const char* key, T def, const std::string& src) {
  if (!j.contains(key) || j[key].is_null()) return def;
  return get<T>(j, key, src);
}

RopeScaling parse_rope(const json& j, const std::string& src) {
  RopeScaling r;
  // transformers 4.x: "rope_scaling": {...} | null; transformers 5.x: "rope_parameters": {...}.
  const json* p = nullptr;
  if (j.contains("rope_scaling") && j["rope_scaling"].is_object()) p = &j["rope_scaling"];
  else if (j.contains("rope_parameters") && j["rope_parameters"].is_object()) p = &j["rope_parameters"];
  if (!p) return r;
  const json& s = *p;
  std::string type = s.contains("rope_type") ? get<std::string>(s, "rope_type", src)
                     : s.contains("type")    ? get<std::string>(s, "type", src)
                                             : "default";
  r.type = type;
  if (type == "default") return r;
  if (type == "linear") {
    r.factor = get<double>(s, "factor", src + " rope_scaling");
  } else if (type == "llama3") {
    r.factor = get<double>(s, "factor", src + " rope_scaling");
    r.low_freq_factor = get<double>(s, "low_freq_factor", src + " rope_scaling");
    r.high_freq_factor = get<double>(s, "high_freq_factor", src + " rope_scaling");
    r.original_max_position_embeddings =
        get<int64_t>(s, "original_max_position_embeddings", src + " rope_scaling");
  } else {
    throw UnsupportedError(fmt::format(
        "{}: rope_scaling type \"{}\" is not supported (supported: default, linear, llama3)", src, type));
  }
  check(r.factor > 0, "{}: rope_scaling.factor must be positive", src);
  return r;
}

}  // namespace

const char* arch_name(Arch a) {
  for (const auto& i : kArchs)
    if (i.arch == a) return i.architecture;
  return "?";
}

std::string supported_architectures() {
  std::string s;
  for (const auto& i : kArchs) s += (s.empty() ? "" : ", ") + std::string(i.architecture);
  return s + ", DeciLMForCausalLM (nemotron-nas, DeciLM-7B; loaded as Llama)";
}

bool ModelConfig::is_uniform() const {
  for (const auto& l : layers)
    if (!(l == layers.front())) return false;
  return layers.empty() || (layers.front().has_attn && layers.front().has_mlp);
}

ModelConfig ModelConfig::load(const std::filesystem::path& model_dir) {
  std::error_code ec;
  if (!std::filesystem::is_directory(model_dir, ec))
    fail("{}: model directory not found", model_dir.string());
  return load_file(model_dir / "config.json");
}

ModelConfig ModelConfig::load_file(const std::filesystem::path& path) {
  return parse(read_file(path), path.string());
}

ModelConfig ModelConfig::parse(std::string_view text, const std::string& src) {
  json j;
  try {
    j = json::parse(text);
  } catch (const json::exception& e) {  // parse_error, or out_of_range for a number like 1e400
    fail("{}: not valid JSON ({})", src, e.what());
  }
  return from_json(j, src);
}

ModelConfig ModelConfig::from_json(const json& j, const std::string& src) {
  check(j.is_object(), "{}: expected a JSON object", src);
  // DeciLM / nemotron-nas: Llama layers with per-layer structure, rewritten into lopper's own form.
  if (is_decilm_config(j)) return from_json(decilm_to_lopper_json(j, src), src);
  ModelConfig c;
  c.raw = j;
  // Architecture: "architectures" list first (what transformers uses), else model_type.
  const ArchInfo* info = nullptr;
  if (j.contains("architectures") && j["architectures"].is_array() && !j["architectures"].empty()) {
    auto name = j["architectures"][0].is_string() ? j["architectures"][0].get<std::string>() : "";
    for (const auto& i : kArchs)
      if (name == i.architecture) info = &i;
    if (!info)
      throw UnsupportedError(fmt::format("{}: architecture \"{}\" is not supported (supported: {})",
                                         src, name, supported_architectures()));
  } else {
    auto mt = get_or<std::string>(j, "model_type", "", src);
    for (const auto& i : kArchs)
      if (mt == i.model_type) info = &i;
    if (!info)
      throw UnsupportedError(fmt::format(
          "{}: no \"architectures\" and model_type \"{}\" is not supported (supported: {})", src, mt,
          supported_architectures()));
  }
  c.architecture = info->architecture;
  c.model_type = info->model_type;
  c.arch = info->arch;

  auto act = get_or<std::string>(j, "hidden_act", "silu", src);
  if (act != "silu" && act != "swish")
    throw UnsupportedError(fmt::format("{}: hidden_act \"{}\" is not supported (supported: silu)", src, act));

  c.vocab_size = get<int64_t>(j, "vocab_size", src);
  c.hidden_size = get<int64_t>(j, "hidden_size", src);
  int n_layers = get<int>(j, "num_hidden_layers", src);
  int n_heads = get<int>(j, "num_attention_heads", src);
  int n_kv = get_or<int>(j, "num_key_value_heads", n_heads, src);
  int64_t ffn = get<int64_t>(j, "intermediate_size", src);
  check(c.vocab_size > 0 && c.hidden_size > 0, "{}: vocab_size and hidden_size must be positive", src);
  // Bounded so that a corrupt count fails here rather than as a huge allocation (fuzz/fuzz_config.cpp).
  check(n_layers >= 0 && n_layers <= kMaxLayers, "{}: num_hidden_layers must be in [0, {}], got {}", src,
        kMaxLayers, n_layers);
  check(n_heads > 0 && n_kv > 0, "{}: num_attention_heads and num_key_value_heads must be positive", src);
  check(n_heads % n_kv == 0, "{}: num_attention_heads ({}) is not a multiple of num_key_value_heads ({})",
        src, n_heads, n_kv);
  check(ffn > 0, "{}: intermediate_size must be positive", src);
  // head_dim may be overridden (Qwen3, some Llama variants); otherwise hidden / heads.
  c.head_dim = get_or<int64_t>(j, "head_dim", 0, src);
  if (c.head_dim == 0) {
    check(c.hidden_size % n_heads == 0, "{}: hidden_size ({}) is not divisible by num_attention_heads ({})",
          src, c.hidden_size, n_heads);
    c.head_dim = c.hidden_size / n_heads;
  }
  check(c.head_dim > 0 && c.head_dim % 2 == 0, "{}: head_dim must be positive and even (RoPE), got {}",
        src, c.head_dim);

  c.rms_norm_eps = get_or<double>(j, "rms_norm_eps", 1e-6, src);
  c.rope_theta = get_or<double>(j, "rope_theta", 10000.0, src);
  if (!j.contains("rope_theta") && j.contains("rope_parameters") && j["rope_parameters"].is_object())
    c.rope_theta = get_or<double>(j["rope_parameters"], "rope_theta", 10000.0, src);
  c.rope_scaling = parse_rope(j, src);
  c.max_position_embeddings = get_or<int64_t>(j, "max_position_embeddings", 2048, src);
  c.tie_word_embeddings = get_or<bool>(j, "tie_word_embeddings", false, src);
  bool attention_bias = get_or<bool>(j, "attention_bias", false, src);
  c.mlp_bias = get_or<bool>(j, "mlp_bias", false, src);
  c.dtype = get_or<std::string>(j, "torch_dtype", get_or<std::string>(j, "dtype", "float32", src), src);
  switch (c.arch) {
    case Arch::Llama:
    case Arch::Mistral:
      c.qkv_bias = c.o_bias = attention_bias;
      break;
    case Arch::Qwen2:  // Qwen2 hard-codes biases on q/k/v and none on o_proj
      c.qkv_bias = true;
      c.o_bias = false;
      c.mlp_bias = false;
      break;
    case Arch::Qwen3:
      c.qkv_bias = c.o_bias = attention_bias;
      c.qk_norm = true;
      c.mlp_bias = false;
      break;
  }
  if (c.arch == Arch::Mistral) c.mlp_bias = false;

  // Sliding-window attention: Mistral applies it to every layer when set; Qwen2/3 only when
  // use_sliding_window is true, to layers at index >= max_window_layers.
  std::optional<int64_t> window;
  if (j.contains("sliding_window") && j["sliding_window"].is_number_integer())
    window = j["sliding_window"].get<int64_t>();
  bool qwen = c.arch == Arch::Qwen2 || c.arch == Arch::Qwen3;
  bool use_window = qwen ? get_or<bool>(j, "use_sliding_window", false, src) : window.has_value();
  int max_window_layers = get_or<int>(j, "max_window_layers", qwen ? n_layers : 0, src);

  c.layers.resize(n_layers);
  for (int i = 0; i < n_layers; ++i) {
    auto& l = c.layers[i];
    l.num_heads = n_heads;
    l.num_kv_heads = n_kv;
    l.intermediate_size = ffn;
    if (use_window && window && (!qwen || i >= max_window_layers)) l.sliding_window = window;
  }
  if (j.contains("lopper_layers")) {
    const json& ll = j["lopper_layers"];
    check(ll.is_array() && static_cast<int>(ll.size()) == n_layers,
          "{}: lopper_layers must be a list with num_hidden_layers ({}) entries", src, n_layers);
    for (int i = 0; i < n_layers; ++i) {
      auto where = fmt::format("{} lopper_layers[{}]", src, i);
      const json& e = ll[i];
      check(e.is_object(), "{}: expected an object", where);
      auto& l = c.layers[i];
      if (!e.contains("attention") || e["attention"].is_null()) {
        l.has_attn = false;
        l.num_heads = l.num_kv_heads = 0;
      } else {
        l.num_heads = get<int>(e["attention"], "num_attention_heads", where);
        l.num_kv_heads = get<int>(e["attention"], "num_key_value_heads", where);
        check(l.num_heads > 0 && l.num_kv_heads > 0 && l.num_heads % l.num_kv_heads == 0,
              "{}: heads ({}) must be a positive multiple of kv heads ({})", where, l.num_heads,
              l.num_kv_heads);
      }
      if (!e.contains("mlp") || e["mlp"].is_null()) {
        l.has_mlp = false;
        l.intermediate_size = 0;
      } else {
        l.intermediate_size = get<int64_t>(e["mlp"], "intermediate_size", where);
        check(l.intermediate_size > 0, "{}: intermediate_size must be positive", where);
      }
    }
  }
  if (j.contains("lopper_slicegpt")) c.slicegpt = slicegpt_from_json(j["lopper_slicegpt"], c, src);
  return c;
}

json ModelConfig::to_json() const {
  json j = raw.is_object() ? raw : json::object();
  j["architectures"] = {architecture};
  j["model_type"] = model_type;
  j["num_hidden_layers"] = num_layers();
  j["head_dim"] = head_dim;
  j["vocab_size"] = vocab_size;
  j["hidden_size"] = hidden_size;
  j.erase("lopper_layers");
  j.erase("lopper_slicegpt");
  if (slicegpt) {
    j["lopper_slicegpt"] = slicegpt_to_json(*slicegpt);
    j["tie_word_embeddings"] = tie_word_embeddings;  // rotation unties them
  }
  if (layers.empty()) return j;
  // Top-level counts describe the first layer that has each part, so that a uniform model's
  // config is exactly what transformers expects.
  for (const auto& l : layers)
    if (l.has_attn) {
      j["num_attention_heads"] = l.num_heads;
      j["num_key_value_heads"] = l.num_kv_heads;
      break;
    }
  for (const auto& l : layers)
    if (l.has_mlp) {
      j["intermediate_size"] = l.intermediate_size;
      break;
    }
  if (!is_uniform()) {
    json ll = json::array();
    for (const auto& l : layers) {
      json e;
      e["attention"] = l.has_attn ? json{{"num_attention_heads", l.num_heads},
                                         {"num_key_value_heads", l.num_kv_heads}}
                                  : json(nullptr);
      e["mlp"] = l.has_mlp ? json{{"intermediate_size", l.intermediate_size}} : json(nullptr);
      ll.push_back(e);
    }
    j["lopper_layers"] = ll;
  }
  return j;
}

}  // namespace lopper
