#include "lopper/prune/search/sprint_latency.h"

#include <algorithm>
#include <cstdio>
#include <limits>
#include <cstdlib>

#include "lopper/model/device.h"
#include "lopper/prune/surgery.h"
#include "lopper/util/error.h"
#include "lopper/util/fs.h"

namespace lopper {

namespace {

std::filesystem::path user_cache_file() {
  std::filesystem::path dir;
  if (const char* d = std::getenv("LOPPER_CACHE_DIR"); d && *d) dir = d;
  else if (const char* x = std::getenv("XDG_CACHE_HOME"); x && *x) dir = std::filesystem::path(x) / "lopper";
  else if (const char* h = std::getenv("HOME"); h && *h) dir = std::filesystem::path(h) / ".cache" / "lopper";
  else return {};
  return dir / "latency.json";
}

SublayerLatency from_json(const nlohmann::json& j, const std::string& source) {
  auto num = [&](const char* k) {
    check(j.contains(k) && j[k].is_number(), "latency table {}: \"{}\" is missing or not a number", source, k);
    return j[k].get<double>();
  };
  SublayerLatency t;
  t.attn_s = num("attention_s");
  t.mlp_s = num("mlp_s");
  t.t1_s = num("t1_s");
  t.t2_s = num("t2_s");
  t.t3_s = num("t3_s");
  check(t.attn_s > 0 && t.mlp_s > 0, "latency table {}: sublayer latencies must be positive (attention {}, MLP {})",
        source, t.attn_s, t.mlp_s);
  if (j.contains("layers") && j["layers"].is_array()) t.layers = j["layers"].get<std::vector<int>>();
  if (j.contains("warnings") && j["warnings"].is_array()) t.warnings = j["warnings"].get<std::vector<std::string>>();
  t.key = j.value("key", nlohmann::json());
  t.source = source;
  return t;
}

// Names the first field where a table's key differs from the wanted one.
void check_key(const nlohmann::json& have, const nlohmann::json& want, const std::string& source) {
  check(have.is_object(), "latency table {} has no key (device, model, settings); measure it again", source);
  for (const char* part : {"device", "model", "settings"}) {
    const auto& h = have.value(part, nlohmann::json()), &w = want[part];
    if (h == w) continue;
    std::string what = std::string(part == std::string("settings") ? "other " : "another ") + part;
    if (h.is_object() && w.is_object())
      for (auto& [k, v] : w.items())
        if (h.value(k, nlohmann::json()) != v) {
          what = fmt::format("{} {} = {} (this run: {})", what, k, h.value(k, nlohmann::json()).dump(), v.dump());
          break;
        }
    if (!h.is_object()) what = fmt::format("{} {} (this run: {})", what, h.dump(), w.dump());
    fail("latency table {} was measured for {}; remove the file or give another --latency path", source, what);
  }
}

}  // namespace

nlohmann::json SublayerLatency::to_json() const {
  return {{"lopper_latency", 1}, {"key", key},          {"attention_s", attn_s}, {"mlp_s", mlp_s},
          {"t1_s", t1_s},        {"t2_s", t2_s},        {"t3_s", t3_s},          {"layers", layers},
          {"warnings", warnings}, {"settings", settings.to_json()}, {"source", source}};
}

double predicted_speedup(const SublayerLatency& t, const std::vector<bool>& present, const SublayerSet& removed) {
  double all = 0, left = 0;
  for (int s = 0; s < static_cast<int>(present.size()); ++s) {
    if (!present[s]) continue;
    all += t.of(s);
    if (!removed.removed(s)) left += t.of(s);
  }
  return left > 0 ? all / left : std::numeric_limits<double>::infinity();
}

std::vector<int> cheapest_first(const SublayerLatency& t, const std::vector<bool>& present) {
  std::vector<int> out;
  for (int s = 0; s < static_cast<int>(present.size()); ++s)
    if (present[s]) out.push_back(s);
  std::stable_sort(out.begin(), out.end(), [&](int a, int b) { return t.of(a) < t.of(b); });
  return out;
}

nlohmann::json latency_key(const Model& m, const LatencySettings& s_in) {
  const LatencySettings s = s_in.resolved(m.config.max_position_embeddings);
  nlohmann::json layers = nlohmann::json::array();
  for (const auto& l : m.config.layers)
    layers.push_back({l.has_attn ? l.num_heads : 0, l.has_attn ? l.num_kv_heads : 0, l.has_mlp ? l.intermediate_size : 0});
  return {{"device", device_name(m.device)},
          {"model",
           {{"architecture", m.config.architecture},
            {"hidden_size", m.config.hidden_size},
            {"head_dim", m.config.head_dim},
            {"vocab_size", m.config.vocab_size},
            {"dtype", dtype_name(m.dtype)},
            {"layers", layers}}},
          {"settings", s.key()}};
}

SublayerLatency measure_sublayer_latency(const Model& m, const LatencySettings& s_in) {
  const LatencySettings s = s_in.resolved(m.config.max_position_embeddings);
  const int L = m.config.num_layers();
  const int n = static_cast<int>(L * 0.25 + 1e-5);
  check(n >= 1, "the latency table needs at least 4 decoder layers (it times the model without int(0.25 L) of "
        "them); this model has {}", L);
  validate_latency_settings(s, m.config.max_position_embeddings);
  SublayerLatency t;
  // The reference's layers L-2, L-3, ...; in a model that lost sublayers already, the last n layers
  // before the final one that still have both.
  for (int l = L - 2; l >= 0 && static_cast<int>(t.layers.size()) < n; --l)
    if (m.config.layers[l].has_attn && m.config.layers[l].has_mlp) t.layers.push_back(l);
  check(static_cast<int>(t.layers.size()) == n, "the latency table needs {} layers with both sublayers before the "
        "last one; this model has {}", n, t.layers.size());
  // Shallow copies: surgery replaces optional sublayers, it does not touch shared weight tensors.
  Model no_mlp = m, no_attn = m;
  for (int l : t.layers) {
    remove_mlp(no_mlp, l);
    remove_attention(no_attn, l);
  }
  std::fprintf(stderr, "-- measuring sublayer latencies (%s mode, %d rounds): dense, without %d MLPs, without %d "
               "attentions\n", s.mode.c_str(), s.repeats, n, n);
  auto r = measure_latency({&m, &no_mlp, &no_attn}, s);
  t.t1_s = r.median_s[0];
  t.t2_s = r.median_s[1];
  t.t3_s = r.median_s[2];
  t.attn_s = (t.t1_s - t.t3_s) / n;
  t.mlp_s = (t.t1_s - t.t2_s) / n;
  const double floor = 0.05 * t.t1_s / (2.0 * L);
  for (auto [lat, name] : {std::pair<double*, const char*>{&t.attn_s, "attention"}, {&t.mlp_s, "MLP"}}) {
    if (*lat > 0) continue;
    t.warnings.push_back(fmt::format("{} latency measured {:.3g} ms (not positive: timing noise exceeds the sublayers' "
                                     "time); floored at {:.3g} ms", name, *lat * 1e3, floor * 1e3));
    std::fprintf(stderr, "warning: %s\n", t.warnings.back().c_str());
    *lat = floor;
  }
  t.key = latency_key(m, s);
  t.settings = s;
  t.source = "measured";
  return t;
}

SublayerLatency sublayer_latency(const Model& m, const LatencySettings& s_in, const std::filesystem::path& file) {
  const LatencySettings s = s_in.resolved(m.config.max_position_embeddings);
  validate_latency_settings(s, m.config.max_position_embeddings);
  const auto key = latency_key(m, s);
  const bool explicit_file = !file.empty();
  const auto path = explicit_file ? file : user_cache_file();
  nlohmann::json store = nlohmann::json::object();
  if (!path.empty() && std::filesystem::exists(path)) {
    try {
      store = nlohmann::json::parse(read_file(path));
    } catch (const nlohmann::json::exception& e) {  // also out-of-range numbers (1e3001)
      check(!explicit_file, "--latency {}: not a JSON latency table ({})", path.string(), e.what());
      store = nlohmann::json::object();  // a damaged cache is measured again
    }
    if (explicit_file) {
      check(store.is_object() && store.contains("lopper_latency"), "--latency {}: not a lopper latency table",
            path.string());
      check_key(store.value("key", nlohmann::json()), key, path.string());
      auto t = from_json(store, path.string());
      t.settings = s;
      return t;
    }
    if (store.is_object() && store.contains(key.dump())) {
      auto t = from_json(store[key.dump()], path.string());
      t.settings = s;
      t.source = "cache " + path.string();
      return t;
    }
  }
  auto t = measure_sublayer_latency(m, s);
  if (path.empty()) return t;
  try {
    if (explicit_file) {
      write_file_atomic(path, t.to_json().dump(2) + "\n");
    } else {
      if (!store.is_object()) store = nlohmann::json::object();
      store[key.dump()] = t.to_json();
      std::filesystem::create_directories(path.parent_path());
      write_file_atomic(path, store.dump(2) + "\n");
    }
  } catch (const std::exception& e) {
    check(!explicit_file, "--latency {}: cannot write the table ({})", path.string(), e.what());
    std::fprintf(stderr, "warning: cannot cache the latency table in %s (%s)\n", path.string().c_str(), e.what());
  }
  return t;
}

}  // namespace lopper
