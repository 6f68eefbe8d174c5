// Fuzzes fine-tuning data files (`lopper finetune --data FILE`, train/finetune_data.h): Alpaca JSON
// arrays and JSON Lines, and plain text, tokenized with a small built-in SentencePiece-style
// tokenizer (byte fallback, so every text encodes). Input: the first byte picks the file name and
// --data-format (low 3 bits), train_on_inputs (bit 3) and cutoff_len 2..9 (bits 4-6); the rest is
// the file. Accepted examples must be trainable: ids and labels of equal length within cutoff_len,
// every label either ignored or the token itself.
#include <nlohmann/json.hpp>

#include "fuzz_util.h"
#include "lopper/tokenizer/tokenizer.h"
#include "lopper/train/finetune_data.h"

namespace {

lopper::Tokenizer tiny_tokenizer() {
  nlohmann::json vocab = {{"<unk>", 0}, {"<s>", 1}, {"</s>", 2}};
  for (int b = 0; b < 256; ++b) vocab[fmt::format("<0x{:02X}>", b)] = 3 + b;
  int id = 259;
  for (const char* piece : {"\xE2\x96\x81", "e", "h", "t", "a", "o", "n", "\xE2\x96\x81t", "he", "\xE2\x96\x81the"})
    vocab[piece] = id++;
  nlohmann::json added = nlohmann::json::array();
  for (const char* t : {"<unk>", "<s>", "</s>"})
    added.push_back({{"content", t}, {"special", true}, {"normalized", false}});
  nlohmann::json j = {
      {"version", "1.0"},
      {"added_tokens", added},
      {"normalizer",
       {{"type", "Sequence"},
        {"normalizers",
         {{{"type", "Prepend"}, {"prepend", "\xE2\x96\x81"}},
          {{"type", "Replace"}, {"pattern", {{"String", " "}}}, {"content", "\xE2\x96\x81"}}}}}},
      {"post_processor",
       {{"type", "TemplateProcessing"},
        {"single",
         {{{"SpecialToken", {{"id", "<s>"}, {"type_id", 0}}}}, {{"Sequence", {{"id", "A"}, {"type_id", 0}}}}}},
        {"special_tokens", {{"<s>", {{"id", "<s>"}, {"ids", {1}}, {"tokens", {"<s>"}}}}}}}},
      {"decoder", {{"type", "ByteFallback"}}},
      {"model",
       {{"type", "BPE"}, {"unk_token", "<unk>"}, {"byte_fallback", true}, {"fuse_unk", true}, {"vocab", vocab},
        {"merges", {"\xE2\x96\x81 t", "h e", "\xE2\x96\x81t he"}}}}};
  return lopper::Tokenizer::from_json(j.dump(), R"({"bos_token": "<s>", "eos_token": "</s>"})");
}

constexpr const char* kNames[] = {"data.jsonl", "data.json", "data.txt"};
constexpr const char* kFormats[] = {"auto", "alpaca", "text"};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const lopper::Tokenizer tok = tiny_tokenizer();
  if (size == 0) return 0;
  lopper::FinetuneDataOptions opts;
  const int pick = data[0] & 7;  // format pick % 3, file name pick / 3: 8 of the 9 pairs
  opts.format = kFormats[pick % 3];
  opts.train_on_inputs = data[0] & 8;
  opts.cutoff_len = 2 + ((data[0] >> 4) & 7);
  const auto path = lopper::fuzz::write_scratch(kNames[pick / 3], lopper::fuzz::as_text(data + 1, size - 1));
  std::vector<lopper::TrainExample> examples;
  if (!lopper::fuzz::expect_lopper_errors([&] { examples = lopper::load_finetune_data(path, tok, opts); }))
    return 0;
  FUZZ_CHECK(!examples.empty());
  for (const auto& ex : examples) {
    FUZZ_CHECK(!ex.ids.empty() && ex.ids.size() == ex.labels.size());
    FUZZ_CHECK(static_cast<int64_t>(ex.ids.size()) <= opts.cutoff_len);
    for (size_t i = 0; i < ex.ids.size(); ++i) {
      FUZZ_CHECK(ex.ids[i] >= 0 && ex.ids[i] < tok.vocab_size());
      FUZZ_CHECK(ex.labels[i] == lopper::kIgnoreLabel || ex.labels[i] == ex.ids[i]);
    }
  }
  return 0;
}
