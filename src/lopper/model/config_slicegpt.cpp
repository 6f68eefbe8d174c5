#include "lopper/model/config_slicegpt.h"

#include <fmt/format.h>

#include "lopper/util/error.h"

namespace lopper {

namespace {

int64_t get_width(const nlohmann::json& j, const char* key, const std::string& where) {
  check(j.contains(key) && j[key].is_number_integer(), "{}: \"{}\" must be an integer", where, key);
  return j[key].get<int64_t>();
}

}  // namespace

SliceGptSpec slicegpt_from_json(const nlohmann::json& j, const ModelConfig& c, const std::string& src) {
  const std::string where = src + " lopper_slicegpt";
  check(j.is_object(), "{}: expected an object", where);
  SliceGptSpec s;
  s.norm_dim = get_width(j, "norm_dim", where);
  s.embedding_dim = get_width(j, "embedding_dim", where);
  check(s.norm_dim > 0, "{}: norm_dim must be positive, got {}", where, s.norm_dim);
  auto width_ok = [&](int64_t w, const std::string& what) {
    check(w > 0 && w <= s.norm_dim, "{}: {} must be in [1, norm_dim = {}], got {}", where, what, s.norm_dim, w);
  };
  width_ok(s.embedding_dim, "embedding_dim");
  check(!c.tie_word_embeddings,
        "{}: a SliceGPT-rotated model has untied embeddings (tie_word_embeddings must be false)", where);
  check(j.contains("layers") && j["layers"].is_array() && j["layers"].size() == c.layers.size(),
        "{}: \"layers\" must be a list with num_hidden_layers ({}) entries", where, c.layers.size());
  int64_t prev = s.embedding_dim;
  for (size_t i = 0; i < c.layers.size(); ++i) {
    const auto w = fmt::format("{}.layers[{}]", where, i);
    const nlohmann::json& e = j["layers"][i];
    check(e.is_object(), "{}: expected an object", w);
    SlicedLayer l{get_width(e, "attn_in", w), get_width(e, "mlp_in", w), get_width(e, "mlp_out", w)};
    width_ok(l.attn_in, fmt::format("layers[{}].attn_in", i));
    width_ok(l.mlp_in, fmt::format("layers[{}].mlp_in", i));
    width_ok(l.mlp_out, fmt::format("layers[{}].mlp_out", i));
    check(l.attn_in == prev, "{}: attn_in {} must equal the previous output width {}", w, l.attn_in, prev);
    check(c.layers[i].has_attn || l.mlp_in == l.attn_in,
          "{}: the layer has no attention, so mlp_in must equal attn_in", w);
    check(c.layers[i].has_mlp || l.mlp_out == l.mlp_in, "{}: the layer has no MLP, so mlp_out must equal mlp_in",
          w);
    s.layers.push_back(l);
    prev = l.mlp_out;
  }
  return s;
}

nlohmann::json slicegpt_to_json(const SliceGptSpec& s) {
  nlohmann::json layers = nlohmann::json::array();
  for (const auto& l : s.layers) layers.push_back({{"attn_in", l.attn_in}, {"mlp_in", l.mlp_in}, {"mlp_out", l.mlp_out}});
  return {{"norm_dim", s.norm_dim}, {"embedding_dim", s.embedding_dim}, {"layers", layers}};
}

}  // namespace lopper
