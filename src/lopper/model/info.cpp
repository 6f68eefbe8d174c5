#include "lopper/model/info.h"

#include <fmt/format.h>

#include "lopper/model/weights.h"

namespace lopper {

nlohmann::json model_info(const ModelConfig& c) {
  auto p = count_params(c);
  nlohmann::json j;
  j["architecture"] = c.architecture;
  j["model_type"] = c.model_type;
  j["num_layers"] = c.num_layers();
  j["hidden_size"] = c.hidden_size;
  j["head_dim"] = c.head_dim;
  j["vocab_size"] = c.vocab_size;
  j["dtype"] = c.dtype;
  j["tie_word_embeddings"] = c.tie_word_embeddings;
  j["rope_theta"] = c.rope_theta;
  j["rope_scaling"] = c.rope_scaling.type;
  j["max_position_embeddings"] = c.max_position_embeddings;
  j["uniform"] = c.is_uniform();
  j["params_total"] = p.total;
  j["params_embeddings"] = p.embeddings;
  j["params_layers"] = p.total - p.embeddings - (c.slicegpt ? c.slicegpt->final_dim() : c.hidden_size);  // minus the final norm
  if (c.slicegpt)
    j["slicegpt"] = {{"norm_dim", c.slicegpt->norm_dim}, {"embedding_dim", c.slicegpt->embedding_dim},
                     {"final_dim", c.slicegpt->final_dim()}};
  nlohmann::json layers = nlohmann::json::array();
  for (int i = 0; i < c.num_layers(); ++i) {
    const auto& l = c.layers[i];
    nlohmann::json e;
    e["index"] = i;
    e["attention"] = l.has_attn ? nlohmann::json{{"num_heads", l.num_heads}, {"num_kv_heads", l.num_kv_heads}}
                                : nlohmann::json(nullptr);
    e["mlp"] = l.has_mlp ? nlohmann::json{{"intermediate_size", l.intermediate_size}} : nlohmann::json(nullptr);
    if (l.sliding_window) e["sliding_window"] = *l.sliding_window;
    if (c.slicegpt) {
      const auto& w = c.slicegpt->layers[i];
      e["residual"] = {w.attn_in, w.mlp_in, w.mlp_out};
    }
    e["params"] = p.per_layer[i];
    layers.push_back(e);
  }
  j["layers"] = layers;
  return j;
}

std::string format_model_info(const nlohmann::json& j) {
  std::string s;
  s += fmt::format("architecture  {}\n", j["architecture"].get<std::string>());
  s += fmt::format("layers        {}{}\n", j["num_layers"].get<int>(), j["uniform"].get<bool>() ? "" : " (heterogeneous)");
  s += fmt::format("hidden        {}  head_dim {}  vocab {}\n", j["hidden_size"].get<int64_t>(),
                   j["head_dim"].get<int64_t>(), j["vocab_size"].get<int64_t>());
  s += fmt::format("dtype         {}\n", j["dtype"].get<std::string>());
  if (j.contains("slicegpt")) {
    const auto& sg = j["slicegpt"];
    s += fmt::format("slicegpt      rotated and sliced: residual {} wide after the embeddings, {} into the final norm "
                     "(norms over {}); shortcut matrices between blocks\n",
                     sg["embedding_dim"].get<int64_t>(), sg["final_dim"].get<int64_t>(), sg["norm_dim"].get<int64_t>());
  }
  s += fmt::format("params        {} total, {} embeddings{}, {} in decoder layers\n",
                   j["params_total"].get<int64_t>(), j["params_embeddings"].get<int64_t>(),
                   j["tie_word_embeddings"].get<bool>() ? " (tied)" : "", j["params_layers"].get<int64_t>());
  s += fmt::format("layer  attention(heads/kv)  mlp(width)  params{}\n",
                   j.contains("slicegpt") ? "  residual(in/mid/out)" : "");
  for (const auto& l : j["layers"]) {
    std::string a = l["attention"].is_null() ? "-" : fmt::format("{}/{}", l["attention"]["num_heads"].get<int>(),
                                                                  l["attention"]["num_kv_heads"].get<int>());
    std::string m = l["mlp"].is_null() ? "-" : std::to_string(l["mlp"]["intermediate_size"].get<int64_t>());
    std::string r;
    if (l.contains("residual"))
      r = fmt::format("  {}/{}/{}", l["residual"][0].get<int64_t>(), l["residual"][1].get<int64_t>(),
                      l["residual"][2].get<int64_t>());
    s += fmt::format("{:>5}  {:>19}  {:>10}  {}{}\n", l["index"].get<int>(), a, m, l["params"].get<int64_t>(), r);
  }
  return s;
}

}  // namespace lopper
