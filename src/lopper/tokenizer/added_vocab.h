// Added tokens (tokenizer.json "added_tokens"): matched in the raw text before normalization and
// pre-tokenization, like tokenizers' AddedVocabulary::extract_and_normalize:
//   1. tokens with normalized=false are found in the raw input (leftmost-longest);
//   2. each stretch between them is normalized on its own (so Prepend("▁") applies per stretch);
//   3. tokens with normalized=true are found in the normalized stretches.
// single_word, lstrip and rstrip follow tokenizers' rules (\w and \s in their Unicode meaning).
#pragma once
#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "lopper/tokenizer/bpe.h"

namespace lopper::tok {

class Normalizer;

struct AddedToken {
  std::string content;
  bool single_word = false;
  bool lstrip = false;
  bool rstrip = false;
  bool normalized = true;
  bool special = false;
  bool operator==(const AddedToken&) const = default;
};

// A stretch of input: either the text of an added token (id >= 0) or normalized text for the
// pre-tokenizer (id == -1). `at_start`: it begins at offset 0 of the input.
struct Segment {
  std::string text;
  int32_t id = -1;
  bool at_start = false;
};

class AddedVocabulary {
 public:
  // Registers `tokens` in order. Like tokenizers, the ids in the file are not used: a token takes
  // the id it already has in the model vocabulary, or the next id after it.
  AddedVocabulary(const std::vector<AddedToken>& tokens, const BpeModel& model,
                  const Normalizer* normalizer);

  // Splits `text` (valid UTF-8) into added tokens and normalized stretches; no empty segments.
  std::vector<Segment> split(std::string_view text, const Normalizer* normalizer) const;

  std::optional<int32_t> token_to_id(std::string_view content) const;
  // The token text used when decoding: the normalized form for normalized tokens whose
  // normalization changes them (tokenizers' simple_id_to_token); nullptr for non-added ids.
  const std::string* id_to_token(int32_t id) const;
  // Whether `token` is the content of an added token marked special (skipped when decoding
  // with skip_special_tokens).
  bool is_special(std::string_view token) const { return special_.find(token) != special_.end(); }
  // Largest added id, or -1 when there are none.
  int32_t max_id() const;

 private:
  // Byte trie with leftmost-longest search, enough for the tens to thousands of added tokens that
  // tokenizers have.
  class Trie {
   public:
    Trie();
    void insert(std::string_view pattern, int32_t id);
    bool empty() const { return nodes_.size() == 1; }
    // Leftmost-longest match starting at or after `from`: sets start/end/id and returns true.
    bool find(std::string_view s, size_t from, size_t& start, size_t& end, int32_t& id) const;

   private:
    struct Node {
      std::vector<std::pair<unsigned char, int32_t>> children;
      int32_t id = -1;
    };
    int32_t child(int32_t node, unsigned char b) const;
    std::vector<Node> nodes_;
    std::array<bool, 256> first_byte_{};
  };

  struct Match {
    int32_t id;  // -1: text between tokens
    size_t start, end;
  };
  std::vector<Match> find_matches(std::string_view s, const Trie& trie) const;

  Vocab by_content_;
  std::unordered_map<int32_t, AddedToken> by_id_;
  std::unordered_map<int32_t, std::string> normalized_form_;
  std::unordered_set<std::string, StringHash, std::equal_to<>> special_;
  Trie raw_trie_, normalized_trie_;
};

}  // namespace lopper::tok
