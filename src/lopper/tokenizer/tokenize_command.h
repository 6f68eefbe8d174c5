// `lopper tokenize`: encode a text with a model's tokenizer and decode it back.
#pragma once
#include <filesystem>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

namespace lopper {

struct TokenizeOptions {
  std::filesystem::path model_dir;          // holds tokenizer.json (weights not needed)
  std::optional<std::string> text;          // exactly one of text / file
  std::optional<std::filesystem::path> file;
  bool add_special_tokens = true;           // false for --no-special
  std::optional<std::filesystem::path> json_out;
};

// Encodes, decodes (special tokens skipped) and returns
//   {"model", "add_special_tokens", "count", "ids", "tokens", "decoded"};
// also writes that JSON atomically to json_out when given. A file's bytes are encoded as they
// are; invalid UTF-8 is replaced by U+FFFD (see tokenizer.h).
nlohmann::json run_tokenize(const TokenizeOptions& options);

// What the command prints: the ids on one line, then the decoded text.
std::string format_tokenize_report(const nlohmann::json& result);

}  // namespace lopper
