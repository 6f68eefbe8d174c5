// The BPE model of tokenizer.json, merging exactly like tokenizers' models/bpe (word.rs):
// a min-heap of (merge rank, position) over a linked list of symbols, so a word of n symbols takes
// O(n log n) whatever its length. Words shorter than kMaxCachedWordBytes are cached (thread-safe),
// since text repeats words a lot.
//
// SentencePiece-style tokenizers (Llama-2, TinyLlama) have no pre-tokenizer, so a whole text is
// one "word". Such long words are first cut where no merge can ever join the two sides: between
// characters x and y when no merge produces a token containing "xy" (for Llama-2, before a "▁"
// that follows anything but "▁"). The pieces merge independently, which gives exactly the same
// ids (no symbol or queue entry ever spans such a cut) and lets the cache work on them.
#pragma once
#include <array>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "lopper/tokenizer/flat_map.h"

namespace lopper::tok {

class JsonNode;

struct StringHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};
using Vocab = std::unordered_map<std::string, int32_t, StringHash, std::equal_to<>>;

class BpeModel {
 public:
  // `model` is tokenizer.json's "model" object with type BPE (or no type, as in old files).
  explicit BpeModel(const JsonNode& model);

  // Appends the ids of one pre-tokenized word.
  void tokenize(std::string_view word, std::vector<int32_t>& out) const;

  std::optional<int32_t> token_to_id(std::string_view token) const;
  // nullptr when the model has no token with this id.
  const std::string* id_to_token(int32_t id) const;
  // Number of vocabulary entries (tokenizers' get_vocab_size), used to number added tokens.
  size_t vocab_entries() const { return vocab_.size(); }
  int32_t max_id() const { return static_cast<int32_t>(id_to_token_.size()) - 1; }
  const std::optional<std::string>& unk_token() const { return unk_token_; }

  static constexpr size_t kMaxCachedWordBytes = 256;
  static constexpr size_t kCacheCapacity = 50000;

 private:
  struct Symbol {
    int32_t id;
    int32_t prev;
    int32_t next;
    uint32_t len;  // bytes of the word it covers; 0 marks a symbol merged into its left neighbour
  };

  void initial_symbols(std::string_view word, std::vector<Symbol>& symbols) const;
  void merge_all(std::vector<Symbol>& symbols) const;
  void encode_word(std::string_view word, std::vector<int32_t>& out) const;
  void encode_cached(std::string_view word, std::vector<int32_t>& out) const;
  void encode_long_word(std::string_view word, std::vector<int32_t>& out) const;
  const uint64_t* find_merge(int32_t left, int32_t right) const {
    return merges_.find((static_cast<uint64_t>(left) << 32) | static_cast<uint32_t>(right));
  }
  int32_t required_unk_id() const;

  std::string file_;  // tokenizer.json, for error messages
  Vocab vocab_;
  std::vector<const std::string*> id_to_token_;  // points into vocab_ keys; nullptr for gaps
  FlatU64Map merges_;                            // (left id, right id) -> rank << 32 | new id
  FlatU64Map char_ids_;    // code point -> id of the single-character token (no prefix/suffix)
  std::array<int32_t, 256> byte_ids_{};  // <0xXX> tokens for byte_fallback, -1 when absent
  // Sorted (x << 32 | y) for every pair of adjacent characters inside a token that a merge
  // produces; empty when words are never cut (continuing_subword_prefix / end_of_word_suffix).
  std::vector<uint64_t> joinable_pairs_;
  std::optional<std::string> unk_token_;
  std::optional<std::string> continuing_subword_prefix_;
  std::optional<std::string> end_of_word_suffix_;
  bool fuse_unk_ = false;
  bool byte_fallback_ = false;
  bool ignore_merges_ = false;

  mutable std::mutex cache_mutex_;
  mutable std::unordered_map<std::string, std::vector<int32_t>, StringHash, std::equal_to<>>
      cache_;
};

}  // namespace lopper::tok
