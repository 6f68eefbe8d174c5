// A small open-addressing hash map from 64-bit keys to 64-bit values. BPE looks up a merge for
// every adjacent symbol pair, millions of times per megabyte of text, and std::unordered_map's
// node chasing costs several times more than a linear probe in one array.
#pragma once
#include <cstdint>
#include <vector>

namespace lopper::tok {

class FlatU64Map {
 public:
  // `key` must not be kEmpty.
  void insert_or_assign(uint64_t key, uint64_t value) {
    if ((size_ + 1) * 2 > keys_.size()) grow();
    size_t i = slot(key);
    while (keys_[i] != kEmpty && keys_[i] != key) i = (i + 1) & mask_;
    if (keys_[i] == kEmpty) ++size_;
    keys_[i] = key;
    values_[i] = value;
  }

  const uint64_t* find(uint64_t key) const {
    if (size_ == 0) return nullptr;
    for (size_t i = slot(key);; i = (i + 1) & mask_) {
      if (keys_[i] == key) return &values_[i];
      if (keys_[i] == kEmpty) return nullptr;
    }
  }

  size_t size() const { return size_; }

  static constexpr uint64_t kEmpty = ~uint64_t{0};

 private:
  size_t slot(uint64_t key) const {
    // Fibonacci hashing: the high bits of the product are well mixed even for sequential keys.
    return static_cast<size_t>((key * 0x9E3779B97F4A7C15ull) >> shift_);
  }

  void grow() {
    std::vector<uint64_t> old_keys = std::move(keys_), old_values = std::move(values_);
    size_t capacity = old_keys.empty() ? 16 : old_keys.size() * 2;
    keys_.assign(capacity, kEmpty);
    values_.assign(capacity, 0);
    mask_ = capacity - 1;
    shift_ = 64;
    for (size_t c = capacity; c > 1; c >>= 1) --shift_;
    size_ = 0;
    for (size_t i = 0; i < old_keys.size(); ++i)
      if (old_keys[i] != kEmpty) insert_or_assign(old_keys[i], old_values[i]);
  }

  std::vector<uint64_t> keys_, values_;
  size_t mask_ = 0, size_ = 0;
  int shift_ = 64;
};

}  // namespace lopper::tok
