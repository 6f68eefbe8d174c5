// Hugging Face tokenizer.json loader and BPE encoder/decoder giving the same ids and text as the
// `tokenizers` library (Tokenizer.from_file(...).encode / .decode) for the Llama family:
//   * byte-level BPE with regex pre-tokenizers (GPT-2, Llama-3, Qwen2/2.5/3, SmolLM),
//   * SentencePiece-style BPE (Llama-2, Mistral, TinyLlama: Prepend+Replace or Metaspace,
//     byte_fallback, fuse_unk),
//   * added/special tokens matched before normalization, post-processor templates (BOS/EOS).
// Supported components are listed in docs/tokenizer.md; anything else is rejected at load time with
// an UnsupportedError naming the file and the component type.
//
// tokenizer_config.json (optional) gives bos_token/eos_token. When it sets add_bos_token or
// add_eos_token, the post-processor becomes "[bos] $A [eos]" accordingly, as transformers does;
// otherwise tokenizer.json's post-processor decides. truncation/padding in tokenizer.json are
// ignored (lopper windows token streams itself); BPE dropout is ignored (deterministic encoding).
//
// Invalid UTF-8: `tokenizers` only accepts valid strings (Python str / Rust &str). encode() first
// replaces each maximal invalid byte sequence by U+FFFD, exactly as Python's
// bytes.decode("utf-8", errors="replace") would before handing the text to `tokenizers`.
// decode() always returns valid UTF-8 (invalid byte sequences from byte-level or <0xXX> tokens
// become U+FFFD following the library's rules).
//
// A Tokenizer is cheap to copy (shared immutable state) and safe to use from several threads.
#pragma once
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace lopper {

class Tokenizer {
 public:
  // Loads dir/tokenizer.json and, when present, dir/tokenizer_config.json and
  // dir/special_tokens_map.json. Throws InputError (missing/malformed files, bad fields) or
  // UnsupportedError (e.g. a Unigram or WordPiece model).
  static Tokenizer from_dir(const std::filesystem::path& dir);

  // Same from file contents; `source` names tokenizer.json in error messages.
  static Tokenizer from_json(std::string_view tokenizer_json,
                             std::optional<std::string_view> tokenizer_config_json = std::nullopt,
                             const std::string& source = "tokenizer.json");

  std::vector<int32_t> encode(std::string_view text, bool add_special_tokens = true) const;
  // Ids that are in neither the vocabulary nor the added tokens are skipped, as in `tokenizers`.
  std::string decode(std::span<const int32_t> ids, bool skip_special_tokens = true) const;

  // Largest id (vocabulary or added token) + 1.
  int32_t vocab_size() const;
  std::optional<int32_t> bos_id() const;
  std::optional<int32_t> eos_id() const;
  std::optional<int32_t> unk_id() const;

  // The token string (byte-level or ▁-form as stored); InputError for an unknown id.
  std::string id_to_token(int32_t id) const;
  std::optional<int32_t> token_to_id(std::string_view token) const;

 private:
  struct Impl;
  explicit Tokenizer(std::shared_ptr<const Impl> impl) : impl_(std::move(impl)) {}
  std::shared_ptr<const Impl> impl_;
};

}  // namespace lopper
