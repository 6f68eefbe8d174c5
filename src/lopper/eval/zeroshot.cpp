#include "lopper/eval/zeroshot.h"

#include <ATen/Parallel.h>
#include <fmt/format.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <map>
#include <set>

#include "lopper/tasks/metrics.h"
#include "lopper/tasks/presets.h"
#include "lopper/tasks/task_registry.h"
#include "lopper/util/error.h"

namespace lopper {

using nlohmann::json;

PreparedTasks prepare_zeroshot(const ZeroShotRequest& req) {
  check(!req.tasks.empty(), "--tasks: give at least one task or preset");
  check(!req.limit || *req.limit >= 1, "--limit {}: must be at least 1 document", req.limit.value_or(0));
  PreparedTasks p;
  // NAME=FILE replaces NAME everywhere, in presets too (e.g. the full HellaSwag file in a preset).
  std::map<std::string, std::string> overrides;
  for (const auto& t : req.tasks)
    if (const auto eq = t.find('='); eq != std::string::npos && find_task(t.substr(0, eq)))
      overrides[t.substr(0, eq)] = t;
  std::vector<std::string> specs;  // in first-mention order, no repeats
  std::set<std::string> seen;
  auto add = [&](const std::string& t) {
    const std::string spec = overrides.count(t) ? overrides[t] : t;
    if (seen.insert(spec).second) specs.push_back(spec);
  };
  for (const auto& t : req.tasks) {
    if (const Preset* preset = find_preset(t)) {
      p.presets.push_back(preset);
      for (const auto& pt : preset->tasks) add(std::string(pt.task));
      continue;
    }
    std::error_code ec;
    const auto eq = t.find('=');
    const bool override = eq != std::string::npos && find_task(t.substr(0, eq));
    check(find_task(t) || override || std::filesystem::exists(t, ec),
          "--tasks: unknown task \"{}\" (tasks: {}; presets: {}; or the path of a task file)", t, known_task_names(),
          known_preset_names());
    add(t);
  }
  // Unset settings follow the presets' papers when they all agree, else lm-eval's current defaults.
  auto choose = [&](const auto& given, auto of_preset, auto fallback, const char* option, const char* why_default,
                    auto& value, std::string& source) {
    std::set<decltype(fallback)> seen;
    for (const Preset* pr : p.presets) seen.insert(of_preset(*pr));
    if (given) {
      value = *given;
      source = option;
    } else if (seen.size() == 1) {
      value = *seen.begin();
      source = "preset";
    } else {
      value = fallback;
      source = why_default;
    }
  };
  choose(req.bos, [](const Preset& pr) { return pr.bos; }, BosMode::Auto, "--bos",
         "default (current lm-eval: the tokenizer decides)", p.bos, p.bos_source);
  choose(req.harness, [](const Preset& pr) { return pr.harness; }, Harness::V04, "--harness", "default", p.harness,
         p.harness_source);
  p.limit = req.limit;
  p.ll = req.ll;
  const DataDirs dirs = DataDirs::resolve(req.data_dir);
  std::set<std::string> names;
  for (const auto& spec : specs) {
    p.tasks.push_back(load_task(spec, dirs, p.harness, req.limit.value_or(0)));
    check(names.insert(p.tasks.back().name).second, "--tasks: task {} is given twice", p.tasks.back().name);
  }
  return p;
}

namespace {

std::vector<std::vector<RequestTokens>> tokenize(const TaskData& task, const RequestEncoder& enc, int64_t& tokens) {
  std::vector<std::vector<RequestTokens>> out(task.docs.size());
  std::vector<std::string> errors(task.docs.size());
  at::parallel_for(0, static_cast<int64_t>(task.docs.size()), 16, [&](int64_t b, int64_t e) {
    for (int64_t d = b; d < e; ++d) {
      try {
        for (const auto& r : task.docs[static_cast<size_t>(d)].requests) out[static_cast<size_t>(d)].push_back(enc.encode_pair(r));
      } catch (const std::exception& ex) {
        errors[static_cast<size_t>(d)] = ex.what();
      }
    }
  });
  tokens = 0;
  for (size_t d = 0; d < out.size(); ++d) {
    check(errors[d].empty(), "task {}, document {}: {}", task.name, d, errors[d]);
    for (const auto& r : out[d]) tokens += static_cast<int64_t>(r.context.size() + r.continuation.size());
  }
  return out;
}

double chance_level(const TaskData& t) {
  if (t.kind == TaskKind::Loglikelihood) return 0;
  double s = 0;
  for (const auto& d : t.docs) s += 1.0 / static_cast<double>(d.requests.size());
  return s / static_cast<double>(t.docs.size());
}

void print_table(const json& tasks, const std::vector<std::string>& order, const json& presets) {
  std::printf("%-20s %-11s %9s %9s %6s\n", "task", "metric", "value", "stderr", "n");
  std::vector<std::string> notes;
  for (const auto& name : order) {
    const json& t = tasks[name];
    std::string label = name;
    if (t.contains("note")) {
      notes.push_back(fmt::format("[{}] {}: {}", notes.size() + 1, name, t["note"].get<std::string>()));
      label += fmt::format(" [{}]", notes.size());
    }
    bool first = true;
    for (const auto& m : t["metrics"]) {
      const std::string metric = m.get<std::string>();
      std::printf("%-20s %-11s %9.4f %9.4f %6s\n", first ? label.c_str() : "", metric.c_str(),
                  t[metric].get<double>(), t[metric + "_stderr"].get<double>(),
                  first ? std::to_string(t["n"].get<int64_t>()).c_str() : "");
      first = false;
    }
  }
  for (const auto& [name, p] : presets.items()) {
    std::printf("%-20s %-11s %9.4f %9.4f %6s   (%s)\n", name.c_str(), "average", p["average"].get<double>(),
                p["average_stderr"].get<double>(), "", p["metrics"].get<std::string>().c_str());
    for (const auto& l : p["left_out"]) notes.push_back(name + " leaves out " + l.get<std::string>());
  }
  for (const auto& n : notes) std::printf("%s\n", n.c_str());
  std::fflush(stdout);
}

}  // namespace

Harness parse_harness(const std::string& s) {
  if (s == "v0.3" || s == "0.3") return Harness::V03;
  if (s == "v0.4" || s == "0.4") return Harness::V04;
  fail("--harness {}: expected v0.3 or v0.4", s);
}

json run_zeroshot(const Model& model, const Tokenizer& tok, const PreparedTasks& plan) {
  const RequestEncoder enc(tok, plan.bos);

  json tasks = json::object();
  std::vector<std::string> order;
  for (const auto& task : plan.tasks) {
    const auto t0 = std::chrono::steady_clock::now();
    int64_t tokens = 0;
    auto reqs = tokenize(task, enc, tokens);
    LoglikelihoodStats stats;
    auto scores = score_requests(model, reqs, plan.ll, "zeroshot " + task.name, &stats);
    auto metrics = aggregate_metrics(task, scores);
    json j;
    j["metrics"] = task.metrics;
    for (const auto& m : task.metrics) {
      j[m] = metrics.at(m).value;
      j[m + "_stderr"] = metrics.at(m).stderr_;
    }
    int64_t n_requests = 0;
    for (const auto& d : task.docs) n_requests += static_cast<int64_t>(d.requests.size());
    j["n"] = task.docs.size();
    j["requests"] = n_requests;
    j["tokens"] = tokens;
    j["forward_tokens"] = stats.forward_tokens;
    j["request_tokens"] = stats.request_tokens;
    j["forward_passes"] = stats.passes;
    j["kind"] = kind_name(task.kind);
    j["sources"] = task.sources;
    if (task.kind != TaskKind::Loglikelihood) j["chance"] = chance_level(task);
    std::string note = task.note;
    if (plan.limit)
      note += fmt::format("{}only the first {} documents (--limit)", note.empty() ? "" : "; ", *plan.limit);
    if (!note.empty()) j["note"] = note;
    j["seconds"] = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    order.push_back(task.name);
    tasks[task.name] = j;
  }

  json presets = json::object();
  for (const Preset* p : plan.presets) {
    json pj;
    double sum = 0, var = 0;
    std::string metrics;
    for (const auto& pt : p->tasks) {
      const json& t = tasks[std::string(pt.task)];
      const std::string m(pt.metric);
      pj["tasks"][std::string(pt.task)] = {{"metric", m}, {"value", t[m]}, {"stderr", t[m + "_stderr"]}};
      sum += t[m].get<double>();
      var += std::pow(t[m + "_stderr"].get<double>(), 2);
      metrics += fmt::format("{}{} {}", metrics.empty() ? "" : ", ", pt.task, m);
    }
    const double k = static_cast<double>(p->tasks.size());
    pj["average"] = sum / k;
    pj["average_stderr"] = std::sqrt(var) / k;  // independent tasks
    pj["metrics"] = metrics;
    pj["paper"] = p->paper;
    pj["left_out"] = json::array();
    for (const auto& l : p->left_out) pj["left_out"].push_back(l);
    presets[std::string(p->name)] = pj;
  }
  print_table(tasks, order, presets);
  std::printf("bos: %s (%s; %s), lm-eval rules %s (%s)\n", bos_mode_name(plan.bos),
              enc.adds_bos() ? "BOS added" : "no BOS", plan.bos_source.c_str(), harness_name(plan.harness),
              plan.harness_source.c_str());
  json settings = {{"bos", bos_mode_name(plan.bos)},   {"adds_bos", enc.adds_bos()},
                   {"bos_source", plan.bos_source},    {"harness", harness_name(plan.harness)},
                   {"harness_source", plan.harness_source}, {"limit", plan.limit ? json(*plan.limit) : json()}};
  return {{"tasks", tasks}, {"presets", presets}, {"zeroshot", settings}};
}

}  // namespace lopper
