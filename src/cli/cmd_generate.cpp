#include <cstdio>
#include <sstream>

#include "cli/commands.h"
#include "cli/model_arg.h"
#include "cli/placement_options.h"
#include "lopper/eval/generate.h"
#include "lopper/tokenizer/tokenizer.h"
#include "lopper/util/error.h"
#include "lopper/util/fs.h"

namespace lopper::cli {

namespace {

std::vector<int64_t> parse_ids(const std::string& s) {
  std::vector<int64_t> ids;
  std::stringstream ss(s);
  std::string item;
  while (std::getline(ss, item, ',')) {
    try {
      size_t used = 0;
      ids.push_back(std::stoll(item, &used));
      if (used != item.size()) throw std::invalid_argument(item);
    } catch (const std::exception&) {
      fail("--ids: \"{}\" is not an integer (expected e.g. --ids 1,2,3)", item);
    }
  }
  return ids;
}

}  // namespace

void register_generate(CLI::App& app) {
  struct Opts {
    std::string model, prompt, ids, json, device = "cpu", dtype = "auto";
    GenerateOptions gen;
    bool ignore_eos = false, no_cache = false;
    PlacementCliOptions place;
    bool download = false;
  };
  auto o = std::make_shared<Opts>();
  auto* sub = app.add_subcommand("generate", "Generate text from a prompt (greedy or sampled)");
  sub->add_option("--model", o->model, kModelHelp)->required();
  add_download_flag(sub, &o->download);
  auto* p = sub->add_option("--prompt", o->prompt, "Prompt text (encoded with the model's tokenizer, BOS added)");
  auto* i = sub->add_option("--ids", o->ids, "Prompt token ids, comma-separated");
  p->excludes(i);
  sub->add_option("-n,--max-new-tokens", o->gen.max_new_tokens, "Tokens to generate")->default_val(32);
  sub->add_flag("--greedy", o->gen.greedy, "Argmax decoding instead of sampling");
  sub->add_option("--temperature", o->gen.temperature, "Sampling temperature")->default_val(1.0);
  sub->add_option("--top-k", o->gen.top_k, "Sample among the k most likely tokens (0: all)")->default_val(0);
  sub->add_option("--top-p", o->gen.top_p, "Nucleus sampling mass")->default_val(1.0);
  sub->add_option("--seed", o->gen.seed, "Sampling seed")->default_val(0);
  sub->add_flag("--ignore-eos", o->ignore_eos, "Keep generating after an end-of-sequence token");
  sub->add_flag("--no-cache", o->no_cache, "Recompute the whole sequence each step (no KV cache)");
  sub->add_option("--device", o->device, "cpu | cuda | cuda:N")->default_val("cpu");
  sub->add_option("--dtype", o->dtype, "auto | f32 | bf16 | f16")->default_val("auto");
  o->place.add(sub);
  sub->add_option("--json", o->json, "Write {ids, text} as JSON to this file");
  sub->callback([o] {
    o->model = resolve_model_arg(o->model, o->download);
    if (o->prompt.empty() && o->ids.empty()) fail("generate: give --prompt TEXT or --ids 1,2,3");
    LoadOptions load{o->device, o->dtype};
    o->place.apply(load);
    auto model = Model::load(o->model, load);
    std::optional<Tokenizer> tok;
    std::error_code ec;
    if (std::filesystem::exists(std::filesystem::path(o->model) / "tokenizer.json", ec))
      tok = Tokenizer::from_dir(o->model);
    std::vector<int64_t> prompt;
    if (!o->ids.empty()) {
      prompt = parse_ids(o->ids);
    } else {
      if (!tok) fail("{}: --prompt needs tokenizer.json (or give --ids)", o->model);
      for (int32_t id : tok->encode(o->prompt)) prompt.push_back(id);
    }
    o->gen.stop_at_eos = !o->ignore_eos;
    o->gen.use_cache = !o->no_cache;
    auto ids = generate(model, prompt, o->gen);
    nlohmann::json j;
    j["ids"] = ids;
    j["prompt_tokens"] = prompt.size();
    j["new_tokens"] = ids.size() - prompt.size();
    std::string ids_str = fmt::format("{}", fmt::join(ids, ","));
    std::printf("ids: %s\n", ids_str.c_str());
    if (tok) {
      std::vector<int32_t> ids32(ids.begin(), ids.end());
      std::string text = tok->decode(ids32, true);
      j["text"] = text;
      std::printf("%s\n", text.c_str());
    }
    if (!o->json.empty()) write_file_atomic(o->json, j.dump(2) + "\n");
  });
}

}  // namespace lopper::cli
