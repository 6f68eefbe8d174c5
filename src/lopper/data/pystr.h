// Python string semantics the dataset protocols depend on. The reference texts (docs/data.md) are
// defined by Python code (`for row in open(f)`, `row.strip()`, `len(text)`), so matching them
// byte-for-byte needs Python's definitions of a line, of whitespace and of a character.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace lopper {

// Python's str.isspace() for one code point (the 29 characters with bidirectional type WS/B/S or
// category Zs, e.g. U+0085, U+00A0, U+3000; not U+200B or U+FEFF).
bool python_isspace(char32_t c);

// Python's str.strip() with no argument on UTF-8 text: removes leading and trailing python_isspace
// code points. The input must be valid UTF-8 (see check_utf8).
std::string_view python_strip(std::string_view s);

// Python's str.rstrip() with no argument (trailing python_isspace code points removed).
std::string_view python_rstrip(std::string_view s);

// True when python_strip(s) is empty.
bool python_isblank(std::string_view s);

// The rows `for row in open(path, encoding="utf-8")` yields: universal newlines ("\r\n" and a lone
// "\r" become "\n"), each row keeps its "\n", a last row without one is kept as it is.
std::vector<std::string> python_lines(std::string_view text);

// Throws InputError "<what>: invalid UTF-8 at line L, byte offset B" unless `s` is valid UTF-8 in
// the strict sense Python's decoder uses (no overlong forms, surrogates or code points > U+10FFFF).
void check_utf8(std::string_view s, const std::string& what);

// Number of code points of valid UTF-8 text: Python's len() of the decoded string.
int64_t count_code_points(std::string_view s);

// Python's sep.join(parts).
std::string join(const std::vector<std::string>& parts, std::string_view sep);

}  // namespace lopper
