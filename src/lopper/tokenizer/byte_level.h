// GPT-2's byte-to-unicode table: every byte gets a printable character so that byte-level BPE
// vocabularies are valid UTF-8 strings (space -> 'Ġ' U+0120, newline -> 'Ċ' U+010A, ...).
#pragma once
#include <string>
#include <string_view>

namespace lopper::tok {

// The split regex of tokenizers' ByteLevel pre-tokenizer (use_regex: true), i.e. GPT-2's.
inline constexpr const char* kGpt2SplitRegex =
    R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";

// Appends the byte-level form of every byte of `s` to `out`.
void bytes_to_byte_level(std::string_view s, std::string& out);

// Appends the bytes that `token` stands for when every character of it is in the table and
// returns true; returns false (and leaves `out` unchanged) otherwise.
bool byte_level_to_bytes(std::string_view token, std::string& out);

}  // namespace lopper::tok
