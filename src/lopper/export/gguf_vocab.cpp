#include "lopper/export/gguf_vocab.h"

#include <nlohmann/json.hpp>

#include <optional>
#include <regex>
#include <unordered_map>

#include "lopper/io/gguf_writer.h"
#include "lopper/tokenizer/tokenizer.h"
#include "lopper/util/error.h"
#include "lopper/util/fs.h"

namespace lopper {

namespace {

using json = nlohmann::json;

// llama.cpp's token types (llama_token_type).
enum : int32_t { kNormal = 1, kUnknown = 2, kControl = 3, kUserDefined = 4, kUnused = 5, kByte = 6 };

// The regexes of tokenizer.json Split pre-tokenizers that llama.cpp implements, by its pre name.
constexpr const char* kLlama3Regex =
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|"
    "\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
constexpr const char* kQwen2Regex =
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|"
    "\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

std::string type_of(const json& j) { return j.is_object() && j.contains("type") ? j["type"].get<std::string>() : ""; }

std::vector<json> flatten(const json& j, const char* list_key) {
  if (j.is_null()) return {};
  if (type_of(j) == "Sequence" && j.contains(list_key)) return j[list_key].get<std::vector<json>>();
  return {j};
}

bool is_byte_level(const json& pre) {
  for (const auto& p : flatten(pre, "pretokenizers"))
    if (type_of(p) == "ByteLevel") return true;
  return false;
}

// llama.cpp pre-tokenizer name for a byte-level tokenizer.json, or a clear refusal.
std::string byte_level_pre(const json& pre, const std::string& src) {
  auto parts = flatten(pre, "pretokenizers");
  auto is_bl = [](const json& p, bool regex) {
    return type_of(p) == "ByteLevel" && p.value("use_regex", true) == regex;
  };
  if (parts.size() == 2 && type_of(parts[0]) == "Split" && is_bl(parts[1], false) &&
      parts[0].contains("pattern") && parts[0]["pattern"].contains("Regex")) {
    auto re = parts[0]["pattern"]["Regex"].get<std::string>();
    if (re == kLlama3Regex) return "llama-bpe";
    if (re == kQwen2Regex) return "qwen2";
  }
  if (parts.size() == 1 && is_bl(parts[0], true)) return "gpt-2";
  if (parts.size() == 2 && type_of(parts[0]) == "Digits" && parts[0].value("individual_digits", false) &&
      is_bl(parts[1], true))
    return "smollm";
  fail("{}: pre-tokenizer {} has no llama.cpp equivalent (known: the Llama-3, Qwen2, GPT-2 and SmolLM "
       "regexes); cannot export its tokenizer to GGUF",
       src, pre.dump().substr(0, 200));
}

// SentencePiece-style: "▁" prepended by a normalizer or a Metaspace pre-tokenizer.
std::optional<bool> spm_space_prefix(const json& tj) {
  for (const auto& n : flatten(tj.value("normalizer", json()), "normalizers"))
    if (type_of(n) == "Prepend") return true;
  for (const auto& p : flatten(tj.value("pre_tokenizer", json()), "pretokenizers"))
    if (type_of(p) == "Metaspace")
      return p.value("prepend_scheme", std::string("always")) != "never" && p.value("add_prefix_space", true);
  if (tj["model"].value("byte_fallback", false)) return false;
  return std::nullopt;
}

std::string merge_string(const json& m) {
  if (m.is_string()) return m.get<std::string>();
  return m.at(0).get<std::string>() + " " + m.at(1).get<std::string>();
}

std::optional<std::string> token_field(const json& cfg, const char* key) {
  if (!cfg.contains(key) || cfg[key].is_null()) return std::nullopt;
  if (cfg[key].is_string()) return cfg[key].get<std::string>();
  if (cfg[key].is_object() && cfg[key].contains("content")) return cfg[key]["content"].get<std::string>();
  return std::nullopt;
}

}  // namespace

GgufVocabSummary add_gguf_vocab(GgufWriter& w, const std::filesystem::path& dir, int64_t n_vocab) {
  auto src = (dir / "tokenizer.json").string();
  json tj;
  try {
    tj = json::parse(read_file(dir / "tokenizer.json"));
  } catch (const json::exception& e) {
    fail("{}: not valid JSON ({})", src, e.what());
  }
  Tokenizer tok = Tokenizer::from_dir(dir);  // validates the file the same way every command does
  const json& model = tj.at("model");
  if (type_of(model) != "BPE") fail("{}: {} tokenizers cannot be exported to GGUF (BPE only)", src, type_of(model));

  // Ids -> pieces, with the added tokens and their kinds.
  int64_t n = std::max<int64_t>(tok.vocab_size(), n_vocab);
  if (tok.vocab_size() > n_vocab)
    fail("{}: the tokenizer has {} ids but the model's embedding only {} rows", src, tok.vocab_size(), n_vocab);
  std::vector<std::string> tokens(n);
  std::vector<int32_t> types(n, kUnused);
  for (const auto& [piece, id] : model.at("vocab").items()) {
    tokens.at(id.get<int64_t>()) = piece;
    types[id.get<int64_t>()] = kNormal;
  }
  for (const auto& a : tj.value("added_tokens", json::array())) {
    int64_t id = a.at("id").get<int64_t>();
    tokens.at(id) = a.at("content").get<std::string>();
    types[id] = a.value("special", false) ? kControl : kUserDefined;
  }
  for (int64_t i = 0; i < n; ++i)
    if (tokens[i].empty()) tokens[i] = fmt::format("[PAD{}]", i);
  if (auto unk = tok.unk_id()) types.at(*unk) = kUnknown;

  GgufVocabSummary out;
  out.tokens = n;
  auto space_prefix = spm_space_prefix(tj);
  const auto& merges = model.value("merges", json::array());
  if (!is_byte_level(tj.value("pre_tokenizer", json())) && space_prefix) {
    out.model = "llama";
    // Score of a piece: minus the rank of the first merge producing it; pieces no merge makes rank last.
    std::unordered_map<std::string, size_t> first_rank;
    for (size_t r = 0; r < merges.size(); ++r) {
      auto s = merge_string(merges[r]);
      auto sp = s.find(' ', 1);
      first_rank.emplace(s.substr(0, sp) + s.substr(sp + 1), r);
    }
    static const std::regex byte_piece("<0x[0-9A-Fa-f]{2}>");
    std::vector<float> scores(n, -1e9f);
    for (int64_t i = 0; i < n; ++i) {
      auto it = first_rank.find(tokens[i]);
      if (it != first_rank.end()) scores[i] = -static_cast<float>(it->second);
      if (types[i] == kNormal && std::regex_match(tokens[i], byte_piece)) types[i] = kByte;
    }
    w.add_string("tokenizer.ggml.model", "llama");
    w.add_string_array("tokenizer.ggml.tokens", tokens);
    w.add_f32_array("tokenizer.ggml.scores", scores);
    w.add_i32_array("tokenizer.ggml.token_type", types);
    w.add_bool("tokenizer.ggml.add_space_prefix", *space_prefix);
  } else if (is_byte_level(tj.value("pre_tokenizer", json()))) {
    out.model = "gpt2";
    out.pre = byte_level_pre(tj["pre_tokenizer"], src);
    std::vector<std::string> m;
    m.reserve(merges.size());
    for (const auto& x : merges) m.push_back(merge_string(x));
    w.add_string("tokenizer.ggml.model", "gpt2");
    w.add_string("tokenizer.ggml.pre", out.pre);
    w.add_string_array("tokenizer.ggml.tokens", tokens);
    w.add_i32_array("tokenizer.ggml.token_type", types);
    w.add_string_array("tokenizer.ggml.merges", m);
  } else {
    fail("{}: neither a SentencePiece-style nor a byte-level BPE tokenizer; cannot export it to GGUF", src);
  }

  // Special ids and whether encoding adds BOS / EOS (probed: the post-processor decides).
  if (auto b = tok.bos_id()) w.add_u32("tokenizer.ggml.bos_token_id", static_cast<uint32_t>(*b));
  if (auto e = tok.eos_id()) w.add_u32("tokenizer.ggml.eos_token_id", static_cast<uint32_t>(*e));
  if (auto u = tok.unk_id()) w.add_u32("tokenizer.ggml.unknown_token_id", static_cast<uint32_t>(*u));
  json cfg;
  if (std::filesystem::exists(dir / "tokenizer_config.json")) cfg = json::parse(read_file(dir / "tokenizer_config.json"), nullptr, false);
  if (cfg.is_object())
    if (auto pad = token_field(cfg, "pad_token"))
      if (auto id = tok.token_to_id(*pad)) w.add_u32("tokenizer.ggml.padding_token_id", static_cast<uint32_t>(*id));
  auto with = tok.encode("", true);
  bool add_bos = !with.empty() && tok.bos_id() && with.front() == *tok.bos_id();
  bool add_eos = !with.empty() && tok.eos_id() && with.back() == *tok.eos_id() && (!add_bos || with.size() > 1);
  w.add_bool("tokenizer.ggml.add_bos_token", add_bos);
  w.add_bool("tokenizer.ggml.add_eos_token", add_eos);
  return out;
}

}  // namespace lopper
