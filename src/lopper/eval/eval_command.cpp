#include "lopper/eval/eval_command.h"

#include <cstdio>
#include <sstream>

#include "lopper/data/datasets.h"
#include "lopper/tokenizer/tokenizer.h"
#include "lopper/util/error.h"

namespace lopper {

std::vector<std::string> split_list(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream ss(s);
  std::string item;
  while (std::getline(ss, item, ','))
    if (!item.empty()) out.push_back(item);
  return out;
}

std::vector<int64_t> parse_int_list(const std::string& s, const std::string& option) {
  std::vector<int64_t> out;
  for (const auto& item : split_list(s)) {
    size_t used = 0;
    int64_t v = 0;
    try {
      v = std::stoll(item, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    check(used == item.size() && used > 0, "{}: \"{}\" is not a whole number", option, item);
    out.push_back(v);
  }
  check(!out.empty(), "{}: give at least one number", option);
  return out;
}

EvalInputs prepare_eval(const EvalRequest& req) {
  check(!req.ppl_datasets.empty() || !req.zeroshot.tasks.empty(),
        "eval: nothing to evaluate (give --ppl wikitext2,c4,ptb or a file, and/or --tasks)");
  auto dirs = DataDirs::resolve(req.data_dir);
  EvalInputs in;
  in.ppl = req.ppl;
  for (const auto& name : req.ppl_datasets) in.texts.push_back(load_dataset(name, dirs));
  if (!req.zeroshot.tasks.empty()) {
    ZeroShotRequest z = req.zeroshot;
    z.data_dir = req.data_dir;
    in.tasks = prepare_zeroshot(z);
  }
  return in;
}

nlohmann::json run_eval(const Model& model, const Tokenizer& tok, const EvalInputs& in) {
  nlohmann::json report;
  report["ppl"] = nlohmann::json::object();
  for (const auto& text : in.texts) {
    auto ids = tok.encode(text.text);
    check(!ids.empty(), "{}: the text is empty after tokenization", text.name);
    PerplexityOptions o = in.ppl;
    if (o.max_windows == 0) o.max_windows = text.default_max_windows;
    auto r = perplexity(model, ids, o, text.name);
    std::printf("ppl %-10s %10.4f  (loss %.6f, %ld windows x %ld tokens, %ld tokens in text, %.1f s)\n",
                text.name.c_str(), r.ppl, r.loss, static_cast<long>(r.windows), static_cast<long>(r.seqlen),
                static_cast<long>(r.tokens), r.seconds);
    std::fflush(stdout);
    auto j = r.to_json();
    j["source"] = text.source.string();
    report["ppl"][text.name] = j;
  }
  if (in.tasks) report.update(run_zeroshot(model, tok, *in.tasks));
  if (model.stream) {
    report["placement"] = placement_report(model);
    std::printf("placement: %ld layer copies (%s moved), peak device %s, peak host %s\n",
                static_cast<long>(report["placement"]["layer_copies"].get<int64_t>()),
                format_bytes(report["placement"]["bytes_copied"].get<int64_t>()).c_str(),
                format_bytes(report["placement"]["peak_device_bytes"].get<int64_t>()).c_str(),
                format_bytes(report["placement"]["peak_host_bytes"].get<int64_t>()).c_str());
  }
  return report;
}

nlohmann::json run_eval(const Model& model, const Tokenizer& tok, const EvalRequest& req) {
  return run_eval(model, tok, prepare_eval(req));
}

}  // namespace lopper
