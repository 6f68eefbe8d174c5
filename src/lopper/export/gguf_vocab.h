// Tokenizer metadata for a GGUF file, from the checkpoint's tokenizer.json (+ tokenizer_config.json),
// the way llama.cpp's converter lays it out:
//   * SentencePiece-style BPE (byte_fallback, "▁" normalizer or Metaspace): tokenizer.ggml.model
//     "llama" with tokens, scores and token types (<0xXX> pieces are BYTE tokens) and add_space_prefix.
//     llama.cpp's SPM tokenizer merges the adjacent pair whose concatenation has the highest score, so
//     a piece's score is minus the rank of the first merge that makes it: the same merge order as
//     tokenizer.json's ranked merges.
//   * byte-level BPE: "gpt2" with tokens, merges ("a b") and tokenizer.ggml.pre naming llama.cpp's
//     pre-tokenizer of the same regex (llama-bpe, qwen2, gpt-2, smollm); another regex is refused.
// Special ids (BOS/EOS/UNK/PAD), add_bos/add_eos as the tokenizer applies them. Tokens missing below
// the model's vocabulary size become "[PADn]" (unused), as the converter writes them.
#pragma once
#include <cstdint>
#include <filesystem>
#include <string>

namespace lopper {

class GgufWriter;

struct GgufVocabSummary {
  std::string model;  // "llama" | "gpt2"
  std::string pre;    // gpt2 only
  int64_t tokens = 0;
};

GgufVocabSummary add_gguf_vocab(GgufWriter& w, const std::filesystem::path& model_dir, int64_t n_vocab);

}  // namespace lopper
