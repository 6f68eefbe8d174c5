#include "lopper/tokenizer/bpe.h"

#include <algorithm>

#include "lopper/tokenizer/json_node.h"
#include "lopper/tokenizer/unicode.h"
#include "lopper/util/error.h"

namespace lopper::tok {

namespace {

// "a b" (merges.txt style, tokenizers < 0.20) or ["a", "b"] (tokenizers >= 0.20).
std::vector<std::pair<std::string, std::string>> read_merges(const JsonNode& node) {
  const nlohmann::json& arr = node.raw();
  if (!arr.is_array()) node.fail("must be an array");
  std::vector<std::pair<std::string, std::string>> merges;
  merges.reserve(arr.size());
  bool pairs = std::all_of(arr.begin(), arr.end(), [](const nlohmann::json& m) {
    return m.is_array() && m.size() == 2 && m[0].is_string() && m[1].is_string();
  });
  if (pairs) {
    for (const auto& m : arr) merges.emplace_back(m[0].get<std::string>(), m[1].get<std::string>());
    return merges;
  }
  for (size_t i = 0; i < arr.size(); ++i) {
    if (!arr[i].is_string())
      node.fail_at(fmt::format("[{}]", i), "must be a \"left right\" string or a [left, right] pair");
    const std::string& line = arr[i].get_ref<const std::string&>();
    if (line.rfind("#version", 0) == 0) continue;
    size_t space = line.find(' ');
    if (space == std::string::npos || line.find(' ', space + 1) != std::string::npos)
      node.fail_at(fmt::format("[{}]", i), fmt::format("\"{}\" is not a \"left right\" pair", line));
    merges.emplace_back(line.substr(0, space), line.substr(space + 1));
  }
  return merges;
}

std::optional<std::string> optional_str(const JsonNode& node, std::string_view key) {
  if (!node.has(key)) return std::nullopt;
  return node[key].str();
}

}  // namespace

BpeModel::BpeModel(const JsonNode& model) : file_(model.file()) {
  unk_token_ = optional_str(model, "unk_token");
  continuing_subword_prefix_ = optional_str(model, "continuing_subword_prefix");
  end_of_word_suffix_ = optional_str(model, "end_of_word_suffix");
  fuse_unk_ = model.bool_or("fuse_unk", false);
  byte_fallback_ = model.bool_or("byte_fallback", false);
  ignore_merges_ = model.bool_or("ignore_merges", false);
  // Dropout only randomizes encodings during training; lopper always encodes deterministically,
  // as tokenizers does with dropout null or 0. The value is still validated like tokenizers does.
  if (model.has("dropout")) {
    const auto& d = model["dropout"].raw();
    if (!d.is_number() || d.get<double>() < 0.0 || d.get<double>() > 1.0)
      model["dropout"].fail("must be null or a number in [0, 1]");
  }

  JsonNode vocab = model["vocab"];
  if (!vocab.raw().is_object()) vocab.fail("must be an object mapping tokens to ids");
  vocab_.reserve(vocab.raw().size());
  int64_t max_id = -1;
  for (const auto& [token, id] : vocab.raw().items()) {
    if (!id.is_number_unsigned() || id.get<uint64_t>() > INT32_MAX)
      vocab.fail_at(fmt::format("[{}]", nlohmann::json(token).dump()),
                    fmt::format("must be a token id (a non-negative integer), got {}", id.dump()));
    vocab_.insert_or_assign(token, static_cast<int32_t>(id.get<uint64_t>()));
    max_id = std::max<int64_t>(max_id, id.get<int64_t>());
  }
  // id_to_token_ is a dense table: one token with id 2^31-1 would make it 16 GB (found by
  // fuzz/fuzz_tokenizer.cpp). Vocabularies number their tokens 0..n-1; a few gaps are fine.
  const int64_t id_limit = 4 * static_cast<int64_t>(vocab_.size()) + 65536;
  if (max_id >= id_limit)
    vocab.fail(fmt::format("has token id {}, implausible for {} tokens (ids must be below {})", max_id,
                           vocab_.size(), id_limit));
  id_to_token_.assign(static_cast<size_t>(max_id + 1), nullptr);
  for (const auto& [token, id] : vocab_) {
    id_to_token_[static_cast<size_t>(id)] = &token;
    size_t i = 0;
    if (!token.empty()) {
      char32_t c = next_char(token, i);
      if (i == token.size()) char_ids_.insert_or_assign(c, static_cast<uint64_t>(id));
    }
  }
  for (int b = 0; b < 256; ++b) {
    auto id = token_to_id(fmt::format("<0x{:02X}>", b));
    byte_ids_[b] = id ? *id : -1;
  }

  JsonNode merges_node = model["merges"];
  auto merges = read_merges(merges_node);
  size_t prefix_len = continuing_subword_prefix_ ? continuing_subword_prefix_->size() : 0;
  for (size_t rank = 0; rank < merges.size(); ++rank) {
    const auto& [left, right] = merges[rank];
    auto missing = [&](const std::string& token) {
      merges_node.fail_at(fmt::format("[{}]", rank),
                          fmt::format("uses \"{}\", which is not in model.vocab", token));
    };
    auto a = token_to_id(left), b = token_to_id(right);
    if (!a) missing(left);
    if (!b) missing(right);
    if (right.size() < prefix_len) missing(right);
    std::string merged = left + right.substr(prefix_len);
    auto m = token_to_id(merged);
    if (!m) missing(merged);
    // A pair listed twice keeps its last rank, as in tokenizers (a HashMap built in list order).
    merges_.insert_or_assign((static_cast<uint64_t>(*a) << 32) | static_cast<uint32_t>(*b),
                             (static_cast<uint64_t>(rank) << 32) | static_cast<uint32_t>(*m));
    if (!continuing_subword_prefix_ && !end_of_word_suffix_ && !merged.empty()) {
      size_t i = 0;
      char32_t prev = next_char(merged, i);
      while (i < merged.size()) {
        char32_t c = next_char(merged, i);
        joinable_pairs_.push_back((static_cast<uint64_t>(prev) << 32) | c);
        prev = c;
      }
    }
  }
  std::sort(joinable_pairs_.begin(), joinable_pairs_.end());
  joinable_pairs_.erase(std::unique(joinable_pairs_.begin(), joinable_pairs_.end()),
                        joinable_pairs_.end());
}

std::optional<int32_t> BpeModel::token_to_id(std::string_view token) const {
  auto it = vocab_.find(token);
  if (it == vocab_.end()) return std::nullopt;
  return it->second;
}

const std::string* BpeModel::id_to_token(int32_t id) const {
  if (id < 0 || static_cast<size_t>(id) >= id_to_token_.size()) return nullptr;
  return id_to_token_[static_cast<size_t>(id)];
}

int32_t BpeModel::required_unk_id() const {
  auto id = token_to_id(*unk_token_);
  if (!id)
    throw InputError(fmt::format("{}: model.unk_token \"{}\" is not in model.vocab", file_,
                                 *unk_token_));
  return *id;
}

// tokenizers' BPE::merge_word before merging: one symbol per character, with byte_fallback and
// unk handling. Like tokenizers, a pending unk is not flushed before byte-fallback tokens.
void BpeModel::initial_symbols(std::string_view word, std::vector<Symbol>& symbols) const {
  symbols.clear();
  auto add = [&](int32_t id, uint32_t len) {
    int32_t n = static_cast<int32_t>(symbols.size());
    if (n > 0) symbols.back().next = n;
    symbols.push_back({id, n - 1, -1, len});
  };
  const bool plain = !continuing_subword_prefix_ && !end_of_word_suffix_;
  int32_t unk_id = -1;  // pending unk token (-1: none) and the bytes it covers
  uint32_t unk_len = 0;
  std::string piece;
  for (size_t i = 0; i < word.size();) {
    size_t start = i;
    char32_t c = next_char(word, i);
    auto byte_len = static_cast<uint32_t>(i - start);
    std::optional<int32_t> id;
    if (plain) {
      if (const uint64_t* v = char_ids_.find(c)) id = static_cast<int32_t>(*v);
    } else {
      piece.clear();
      if (start > 0 && continuing_subword_prefix_) piece += *continuing_subword_prefix_;
      piece += word.substr(start, byte_len);
      if (i == word.size() && end_of_word_suffix_) piece += *end_of_word_suffix_;
      id = token_to_id(piece);
    }
    if (id) {
      if (unk_id >= 0) add(unk_id, unk_len), unk_id = -1;
      add(*id, byte_len);
      continue;
    }
    if (byte_fallback_) {
      std::string_view bytes = plain ? word.substr(start, byte_len) : std::string_view(piece);
      bool all = std::all_of(bytes.begin(), bytes.end(),
                             [&](char b) { return byte_ids_[static_cast<unsigned char>(b)] >= 0; });
      if (all) {
        for (char b : bytes) add(byte_ids_[static_cast<unsigned char>(b)], 1);
        continue;
      }
    }
    if (!unk_token_) continue;  // tokenizers silently drops characters it cannot represent
    if (unk_id >= 0 && fuse_unk_) {
      unk_len += byte_len;
    } else {
      if (unk_id >= 0) add(unk_id, unk_len);
      unk_id = required_unk_id();
      unk_len = byte_len;
    }
  }
  if (unk_id >= 0) add(unk_id, unk_len);
}

// tokenizers' Word::merge_all, step for step: always apply the lowest-ranked merge (leftmost on
// ties); stale queue entries are recognised by the pair no longer producing the queued token.
void BpeModel::merge_all(std::vector<Symbol>& symbols) const {
  struct Merge {
    uint32_t rank;
    int32_t pos;
    int32_t new_id;
  };
  // std heap functions build a max-heap: "less" means higher rank, then higher position.
  auto later = [](const Merge& a, const Merge& b) {
    return a.rank != b.rank ? a.rank > b.rank : a.pos > b.pos;
  };
  std::vector<Merge> queue;
  queue.reserve(symbols.size());
  for (size_t i = 0; i + 1 < symbols.size(); ++i)
    if (const uint64_t* m = find_merge(symbols[i].id, symbols[i + 1].id))
      queue.push_back({static_cast<uint32_t>(*m >> 32), static_cast<int32_t>(i),
                       static_cast<int32_t>(*m & 0xFFFFFFFF)});
  std::make_heap(queue.begin(), queue.end(), later);
  auto push = [&](int32_t pos, const uint64_t* m) {
    queue.push_back({static_cast<uint32_t>(*m >> 32), pos, static_cast<int32_t>(*m & 0xFFFFFFFF)});
    std::push_heap(queue.begin(), queue.end(), later);
  };

  const auto n = static_cast<int32_t>(symbols.size());
  while (!queue.empty()) {
    std::pop_heap(queue.begin(), queue.end(), later);
    Merge top = queue.back();
    queue.pop_back();
    Symbol& cur = symbols[top.pos];
    if (cur.len == 0 || cur.next == -1) continue;
    const int32_t next_pos = cur.next;
    const Symbol right = symbols[next_pos];
    const uint64_t* m = find_merge(cur.id, right.id);
    if (m == nullptr || static_cast<int32_t>(*m & 0xFFFFFFFF) != top.new_id) continue;

    cur.id = top.new_id;
    cur.len += right.len;
    cur.next = right.next;
    symbols[next_pos].len = 0;
    if (right.next > -1 && right.next < n) symbols[right.next].prev = top.pos;

    if (cur.prev >= 0)
      if (const uint64_t* pm = find_merge(symbols[cur.prev].id, cur.id)) push(cur.prev, pm);
    if (cur.next > -1 && cur.next < n)
      if (const uint64_t* nm = find_merge(cur.id, symbols[cur.next].id)) push(top.pos, nm);
  }
}

void BpeModel::encode_word(std::string_view word, std::vector<int32_t>& out) const {
  thread_local std::vector<Symbol> symbols;
  initial_symbols(word, symbols);
  merge_all(symbols);
  for (const Symbol& s : symbols)
    if (s.len != 0) out.push_back(s.id);
}

void BpeModel::encode_cached(std::string_view word, std::vector<int32_t>& out) const {
  {
    std::lock_guard lock(cache_mutex_);
    auto it = cache_.find(word);
    if (it != cache_.end()) {
      out.insert(out.end(), it->second.begin(), it->second.end());
      return;
    }
  }
  size_t first = out.size();
  encode_word(word, out);
  std::lock_guard lock(cache_mutex_);
  if (cache_.size() < kCacheCapacity)
    cache_.emplace(std::string(word), std::vector<int32_t>(out.begin() + first, out.end()));
}

void BpeModel::encode_long_word(std::string_view word, std::vector<int32_t>& out) const {
  auto encode_piece = [&](std::string_view piece) {
    if (piece.size() < kMaxCachedWordBytes) encode_cached(piece, out);
    else encode_word(piece, out);
  };
  if (joinable_pairs_.empty()) {
    encode_piece(word);
    return;
  }
  size_t piece_start = 0;
  char32_t prev = 0;
  bool prev_known = false;  // the previous character is a single-character token
  for (size_t i = 0; i < word.size();) {
    size_t at = i;
    char32_t c = next_char(word, i);
    bool known = char_ids_.find(c) != nullptr;
    if (known && prev_known &&
        !std::binary_search(joinable_pairs_.begin(), joinable_pairs_.end(),
                            (static_cast<uint64_t>(prev) << 32) | c)) {
      encode_piece(word.substr(piece_start, at - piece_start));
      piece_start = at;
    }
    prev = c;
    prev_known = known;
  }
  encode_piece(word.substr(piece_start));
}

void BpeModel::tokenize(std::string_view word, std::vector<int32_t>& out) const {
  if (word.empty()) return;
  // ignore_merges looks the whole word up first (Llama-3); cutting comes after that.
  if (ignore_merges_) {
    if (auto id = token_to_id(word)) {
      out.push_back(*id);
      return;
    }
  }
  if (word.size() < kMaxCachedWordBytes) encode_cached(word, out);
  else encode_long_word(word, out);
}

}  // namespace lopper::tok
