// UTF-8 and Unicode helpers with the semantics of the Rust functions the `tokenizers` library
// relies on (char::is_whitespace, char::is_numeric, String::from_utf8_lossy, ...). Everything
// except to_valid_utf8/is_valid_utf8 expects valid UTF-8: Tokenizer::encode makes its input valid
// once, up front.
#pragma once
#include <cstddef>
#include <string>
#include <string_view>

namespace lopper::tok {

// Byte length of the UTF-8 sequence that starts with `lead` (1 for a stray continuation byte).
inline size_t utf8_len(unsigned char lead) {
  return lead < 0x80 ? 1 : lead < 0xE0 ? (lead < 0xC0 ? 1 : 2) : lead < 0xF0 ? 3 : 4;
}

// Decodes the code point starting at s[i] and advances i past it.
char32_t next_char(std::string_view s, size_t& i);
void append_utf8(std::string& out, char32_t c);

bool is_valid_utf8(std::string_view s);
// Like Rust's String::from_utf8_lossy and Python's bytes.decode(errors="replace"): every maximal
// invalid subsequence becomes one U+FFFD.
std::string to_valid_utf8(std::string_view s);

bool is_whitespace(char32_t c);      // Unicode White_Space (Rust char::is_whitespace)
bool is_numeric(char32_t c);         // categories Nd, Nl, No (Rust char::is_numeric)
bool is_punctuation(char32_t c);     // ASCII punctuation or category P* (tokenizers' is_punc)
bool is_word_char(char32_t c);       // Rust regex `\w`: Alphabetic, M*, Nd, Pc, Join_Control
bool is_combining_mark(char32_t c);  // categories Mn, Mc, Me

// Rust str::to_lowercase applied per character (no context-dependent final sigma).
std::string to_lowercase(std::string_view s);

enum class NormalForm { NFC, NFD, NFKC, NFKD };
std::string unicode_normalize(std::string_view s, NormalForm form);

}  // namespace lopper::tok
