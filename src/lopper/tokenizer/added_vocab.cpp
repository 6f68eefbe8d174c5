#include "lopper/tokenizer/added_vocab.h"

#include <algorithm>

#include "lopper/tokenizer/normalizer.h"
#include "lopper/tokenizer/unicode.h"

namespace lopper::tok {

namespace {

// The character that ends `s` (s non-empty, valid UTF-8).
char32_t last_char(std::string_view s) {
  size_t i = s.size() - 1;
  while (i > 0 && (static_cast<unsigned char>(s[i]) & 0xC0) == 0x80) --i;
  return next_char(s, i);
}

// Rust regex `\w$` / `^\w` as used by tokenizers for single_word tokens.
bool ends_with_word(std::string_view s) { return !s.empty() && is_word_char(last_char(s)); }
bool starts_with_word(std::string_view s) {
  size_t i = 0;
  return !s.empty() && is_word_char(next_char(s, i));
}

// Start of the whitespace run that ends `s` (`\s*$`), and length of the one that starts it.
size_t trailing_space_start(std::string_view s) {
  size_t start = s.size();
  while (start > 0) {
    size_t i = start - 1;
    while (i > 0 && (static_cast<unsigned char>(s[i]) & 0xC0) == 0x80) --i;
    size_t j = i;
    if (!is_whitespace(next_char(s, j))) break;
    start = i;
  }
  return start;
}
size_t leading_space_len(std::string_view s) {
  size_t end = 0;
  for (size_t i = 0; i < s.size();) {
    if (!is_whitespace(next_char(s, i))) break;
    end = i;
  }
  return end;
}

}  // namespace

AddedVocabulary::Trie::Trie() : nodes_(1) {}

int32_t AddedVocabulary::Trie::child(int32_t node, unsigned char b) const {
  for (const auto& [byte, next] : nodes_[static_cast<size_t>(node)].children)
    if (byte == b) return next;
  return -1;
}

void AddedVocabulary::Trie::insert(std::string_view pattern, int32_t id) {
  int32_t node = 0;
  for (unsigned char b : pattern) {
    int32_t next = child(node, b);
    if (next < 0) {
      next = static_cast<int32_t>(nodes_.size());
      nodes_[static_cast<size_t>(node)].children.emplace_back(b, next);
      nodes_.emplace_back();
    }
    node = next;
  }
  nodes_[static_cast<size_t>(node)].id = id;
  first_byte_[static_cast<unsigned char>(pattern.front())] = true;
}

bool AddedVocabulary::Trie::find(std::string_view s, size_t from, size_t& start, size_t& end,
                                 int32_t& id) const {
  for (size_t i = from; i < s.size(); ++i) {
    if (!first_byte_[static_cast<unsigned char>(s[i])]) continue;
    int32_t node = 0;
    id = -1;
    for (size_t j = i; j < s.size(); ++j) {
      node = child(node, static_cast<unsigned char>(s[j]));
      if (node < 0) break;
      if (nodes_[static_cast<size_t>(node)].id >= 0) {
        id = nodes_[static_cast<size_t>(node)].id;
        end = j + 1;
      }
    }
    if (id >= 0) {
      start = i;
      return true;
    }
  }
  return false;
}

AddedVocabulary::AddedVocabulary(const std::vector<AddedToken>& tokens, const BpeModel& model,
                                 const Normalizer* normalizer) {
  auto next_id = static_cast<int32_t>(model.vocab_entries());
  for (const AddedToken& token : tokens) {
    if (token.content.empty()) continue;
    auto known = by_content_.find(token.content);
    if (known != by_content_.end() && by_id_.at(known->second) == token) continue;
    int32_t id;
    if (known != by_content_.end()) id = known->second;
    else if (auto model_id = model.token_to_id(token.content)) id = *model_id;
    else id = next_id++;
    if (token.normalized && normalizer != nullptr) {
      std::string normed = token.content;
      normalizer->normalize(normed);
      if (normed != token.content) normalized_form_[id] = std::move(normed);
    }
    by_content_[token.content] = id;
    if (token.special) special_.insert(token.content);
    by_id_[id] = token;
  }
  for (const auto& [id, token] : by_id_) {
    if (!token.normalized) {
      raw_trie_.insert(token.content, id);
    } else {
      auto normed = normalized_form_.find(id);
      normalized_trie_.insert(normed != normalized_form_.end() ? normed->second : token.content, id);
    }
  }
}

std::vector<AddedVocabulary::Match> AddedVocabulary::find_matches(std::string_view s,
                                                                  const Trie& trie) const {
  std::vector<Match> out;
  if (s.empty()) return out;
  size_t start_offset = 0;
  size_t search_from = 0, start = 0, stop = 0;
  int32_t id = -1;
  while (trie.find(s, search_from, start, stop, id)) {
    // The next search starts after this match even when it is rejected or stripped further.
    search_from = stop;
    const AddedToken& token = by_id_.at(id);
    if (token.single_word) {
      bool space_before = start == 0 || !ends_with_word(s.substr(0, start));
      bool space_after = stop == s.size() || !starts_with_word(s.substr(stop));
      if (!space_before || !space_after) continue;
    }
    if (token.lstrip) start = std::max(trailing_space_start(s.substr(0, start)), start_offset);
    if (token.rstrip) stop += leading_space_len(s.substr(stop));
    if (start_offset < start) out.push_back({-1, start_offset, start});
    out.push_back({id, start, stop});
    start_offset = stop;
  }
  if (start_offset != s.size()) out.push_back({-1, start_offset, s.size()});
  return out;
}

std::vector<Segment> AddedVocabulary::split(std::string_view text,
                                            const Normalizer* normalizer) const {
  std::vector<Segment> raw;
  for (const Match& m : find_matches(text, raw_trie_))
    raw.push_back({std::string(text.substr(m.start, m.end - m.start)), m.id, m.start == 0});

  std::vector<Segment> out;
  out.reserve(raw.size());
  for (Segment& seg : raw) {
    if (seg.id >= 0) {
      out.push_back(std::move(seg));
      continue;
    }
    if (normalizer != nullptr) normalizer->normalize(seg.text);
    if (normalized_trie_.empty()) {
      if (!seg.text.empty()) out.push_back(std::move(seg));
      continue;
    }
    for (const Match& m : find_matches(seg.text, normalized_trie_))
      if (m.end > m.start)
        out.push_back({seg.text.substr(m.start, m.end - m.start), m.id,
                       seg.at_start && m.start == 0});
  }
  return out;
}

std::optional<int32_t> AddedVocabulary::token_to_id(std::string_view content) const {
  auto it = by_content_.find(content);
  if (it == by_content_.end()) return std::nullopt;
  return it->second;
}

const std::string* AddedVocabulary::id_to_token(int32_t id) const {
  if (auto normed = normalized_form_.find(id); normed != normalized_form_.end())
    return &normed->second;
  auto it = by_id_.find(id);
  return it == by_id_.end() ? nullptr : &it->second.content;
}

int32_t AddedVocabulary::max_id() const {
  int32_t best = -1;
  for (const auto& [id, token] : by_id_) best = std::max(best, id);
  return best;
}

}  // namespace lopper::tok
