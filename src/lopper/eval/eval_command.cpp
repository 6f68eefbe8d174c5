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

nlohmann::json run_eval(const Model& model, const Tokenizer& tok, const EvalRequest& req) {
  check(!req.ppl_datasets.empty(), "eval: nothing to evaluate (give --ppl wikitext2,c4,ptb or a file)");
  auto dirs = DataDirs::resolve(req.data_dir);
  nlohmann::json report;
  report["ppl"] = nlohmann::json::object();
  // Load every dataset first so that a missing file is reported before any long computation.
  std::vector<DatasetText> texts;
  for (const auto& name : req.ppl_datasets) texts.push_back(load_dataset(name, dirs));
  for (const auto& text : texts) {
    auto ids = tok.encode(text.text);
    check(!ids.empty(), "{}: the text is empty after tokenization", text.name);
    PerplexityOptions o = req.ppl;
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
  return report;
}

}  // namespace lopper
