#include "lopper/eval/compare.h"

#include <fmt/format.h>

#include <cstdio>
#include <filesystem>

#include "lopper/model/weights.h"
#include "lopper/tokenizer/tokenizer.h"
#include "lopper/util/error.h"

namespace lopper {

namespace {

using nlohmann::json;

struct Row {
  std::string name, unit;
  std::vector<double> values;
};

// The rows of the table, from every model's report (a row is kept only if every model has it).
std::vector<Row> table_rows(const std::vector<json>& reports) {
  std::vector<Row> rows;
  auto add = [&](const std::string& name, const std::string& unit, auto&& get) {
    Row r{name, unit, {}};
    for (const auto& rep : reports) {
      const json v = get(rep);
      if (!v.is_number()) return;
      r.values.push_back(v.get<double>());
    }
    rows.push_back(std::move(r));
  };
  const json& first = reports.front();
  add("params", "M", [](const json& r) { return json(r["params"].get<double>() / 1e6); });
  const json& ev = first["eval"];
  if (ev.contains("ppl"))
    for (const auto& [ds, _] : ev["ppl"].items())
      add("ppl " + ds, "", [ds = ds](const json& r) { return r["eval"]["ppl"].value(ds, json::object()).value("ppl", json()); });
  if (ev.contains("tasks"))
    for (const auto& [task, t] : ev["tasks"].items())
      for (const auto& m : t["metrics"]) {
        const std::string metric = m.get<std::string>();
        add(task + " " + metric, "", [task = task, metric](const json& r) {
          return r["eval"]["tasks"].value(task, json::object()).value(metric, json());
        });
      }
  if (ev.contains("presets"))
    for (const auto& [p, _] : ev["presets"].items())
      add(p + " average", "", [p = p](const json& r) { return r["eval"]["presets"][p]["average"]; });
  if (first.contains("generate"))
    for (size_t i = 0; i < first["generate"]["settings"].size(); ++i) {
      const json& s = first["generate"]["settings"][i];
      const std::string tag = fmt::format("b{} {}+{}", s["batch"].get<int64_t>(), s["prompt_len"].get<int64_t>(),
                                          s["gen_len"].get<int64_t>());
      auto field = [i](const char* key) {
        return [i, key](const json& r) { return r["generate"]["settings"][i][key]; };
      };
      add("latency " + tag, "ms", [f = field("latency_s")](const json& r) { return json(f(r).get<double>() * 1e3); });
      add("TTFT " + tag, "ms", [f = field("ttft_s")](const json& r) { return json(f(r).get<double>() * 1e3); });
      add("decode " + tag, "tok/s/seq", field("decode_tokens_per_s"));
      add("throughput " + tag, "tok/s", field("throughput_tokens_per_s"));
      add("memory " + tag, "MB", [f = field("memory_growth_bytes")](const json& r) {
        return json(f(r).get<double>() / 1e6);
      });
    }
  return rows;
}

// Keeps, per setting, the faster of `best` and `round` (settings in the same order); records the round.
void keep_fastest(json& best, const json& round) {
  if (best.is_null()) {
    best = round;
    best["rounds"] = json::array({round["settings"]});
    return;
  }
  for (size_t i = 0; i < best["settings"].size(); ++i)
    if (round["settings"][i]["latency_s"].get<double>() < best["settings"][i]["latency_s"].get<double>())
      best["settings"][i] = round["settings"][i];
  best["rounds"].push_back(round["settings"]);
}

std::string label_of(const std::string& dir) {
  std::string name = std::filesystem::path(dir).lexically_normal().filename().string();
  if (name.empty()) name = std::filesystem::path(dir).lexically_normal().parent_path().filename().string();
  return name.empty() ? dir : name;
}

}  // namespace

json run_compare(const CompareRequest& req) {
  check(req.models.size() >= 2, "compare: give at least two --model folders (the first is the baseline)");
  check(req.bench_rounds >= 1, "compare: --bench-rounds must be at least 1");
  for (const auto& m : req.models) {
    std::error_code ec;
    check(std::filesystem::is_regular_file(std::filesystem::path(m) / "config.json", ec),
          "compare: --model {}: no config.json there", m);
  }
  const bool any_eval = !req.eval.ppl_datasets.empty() || !req.eval.zeroshot.tasks.empty();
  std::optional<EvalInputs> inputs;
  if (any_eval) inputs = prepare_eval(req.eval);

  std::vector<json> reports;
  for (const auto& dir : req.models) {
    std::printf("== %s\n", dir.c_str());
    std::fflush(stdout);
    json rep;
    rep["model"] = dir;
    {
      Model model = Model::load(dir, req.load);
      rep["params"] = count_params(model.config).total;
      rep["num_layers"] = model.config.num_layers();
      rep["dtype"] = dtype_name(model.dtype);
      if (inputs) rep["eval"] = run_eval(model, Tokenizer::from_dir(dir), *inputs);
      if (req.bench) keep_fastest(rep["generate"], bench_generate(model, *req.bench));
    }  // the model is released before the next one loads
    if (!rep.contains("eval")) rep["eval"] = json::object();
    reports.push_back(rep);
  }
  for (int round = 1; req.bench && round < req.bench_rounds; ++round) {
    for (size_t k = 0; k < req.models.size(); ++k) {
      const size_t i = round % 2 == 1 ? req.models.size() - 1 - k : k;
      std::printf("== %s (bench round %d)\n", req.models[i].c_str(), round + 1);
      std::fflush(stdout);
      Model model = Model::load(req.models[i], req.load);
      keep_fastest(reports[i]["generate"], bench_generate(model, *req.bench));
    }
  }

  auto rows = table_rows(reports);
  std::vector<std::string> labels;
  for (const auto& m : req.models) labels.push_back(label_of(m));
  std::printf("\n%-28s", "");
  for (const auto& l : labels) std::printf(" %14.14s", l.c_str());
  for (size_t i = 1; i < labels.size(); ++i) std::printf(" %14.14s", (labels[i] + "/" + labels[0]).c_str());
  std::printf("\n");
  json table = json::array();
  for (const auto& r : rows) {
    const std::string name = r.unit.empty() ? r.name : r.name + " (" + r.unit + ")";
    std::printf("%-28.28s", name.c_str());
    for (double v : r.values) std::printf(" %14.4f", v);
    std::vector<double> ratios;
    for (size_t i = 1; i < r.values.size(); ++i) {
      ratios.push_back(r.values[0] != 0 ? r.values[i] / r.values[0] : 0.0);
      std::printf(" %14.3f", ratios.back());
    }
    std::printf("\n");
    table.push_back({{"name", r.name}, {"unit", r.unit}, {"values", r.values}, {"ratios", ratios}});
  }
  std::fflush(stdout);
  return {{"models", reports}, {"labels", labels}, {"table", table}};
}

}  // namespace lopper
