#include "lopper/data/pystr.h"

#include <algorithm>
#include <utility>

#include "lopper/util/error.h"

namespace lopper {

namespace {

bool is_continuation(unsigned char b) { return (b & 0xC0) == 0x80; }

// Length of the valid UTF-8 sequence starting at s[i], or 0 if it is not one. The ranges for the
// second byte exclude overlong forms (E0, F0), UTF-16 surrogates (ED) and values past U+10FFFF (F4).
size_t utf8_sequence_length(std::string_view s, size_t i) {
  auto at = [&](size_t k) { return static_cast<unsigned char>(s[k]); };
  const unsigned char b = at(i);
  if (b < 0x80) return 1;
  size_t len;
  unsigned char lo = 0x80, hi = 0xBF;
  if (b >= 0xC2 && b <= 0xDF) {
    len = 2;
  } else if (b >= 0xE0 && b <= 0xEF) {
    len = 3;
    if (b == 0xE0) lo = 0xA0;
    if (b == 0xED) hi = 0x9F;
  } else if (b >= 0xF0 && b <= 0xF4) {
    len = 4;
    if (b == 0xF0) lo = 0x90;
    if (b == 0xF4) hi = 0x8F;
  } else {
    return 0;
  }
  if (i + len > s.size()) return 0;
  if (at(i + 1) < lo || at(i + 1) > hi) return 0;
  for (size_t k = 2; k < len; ++k)
    if (!is_continuation(at(i + k))) return 0;
  return len;
}

// Decodes the (valid) sequence of `len` bytes at s[i].
char32_t decode_at(std::string_view s, size_t i, size_t len) {
  auto b = [&](size_t k) { return static_cast<char32_t>(static_cast<unsigned char>(s[i + k])); };
  switch (len) {
    case 1: return b(0);
    case 2: return ((b(0) & 0x1F) << 6) | (b(1) & 0x3F);
    case 3: return ((b(0) & 0x0F) << 12) | ((b(1) & 0x3F) << 6) | (b(2) & 0x3F);
    default: return ((b(0) & 0x07) << 18) | ((b(1) & 0x3F) << 12) | ((b(2) & 0x3F) << 6) | (b(3) & 0x3F);
  }
}

size_t leading_space_bytes(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    size_t len = utf8_sequence_length(s, i);
    if (len == 0 || !python_isspace(decode_at(s, i, len))) break;
    i += len;
  }
  return i;
}

size_t trailing_space_bytes(std::string_view s) {
  size_t end = s.size();
  while (end > 0) {
    size_t start = end - 1;
    while (start > 0 && is_continuation(static_cast<unsigned char>(s[start]))) --start;
    size_t len = end - start;
    if (utf8_sequence_length(s, start) != len || !python_isspace(decode_at(s, start, len))) break;
    end = start;
  }
  return s.size() - end;
}

}  // namespace

bool python_isspace(char32_t c) {
  switch (c) {
    case 0x09: case 0x0A: case 0x0B: case 0x0C: case 0x0D:
    case 0x1C: case 0x1D: case 0x1E: case 0x1F: case 0x20:
    case 0x85: case 0xA0: case 0x1680:
    case 0x2028: case 0x2029: case 0x202F: case 0x205F: case 0x3000:
      return true;
    default:
      return c >= 0x2000 && c <= 0x200A;
  }
}

std::string_view python_strip(std::string_view s) {
  size_t lead = leading_space_bytes(s);
  if (lead == s.size()) return s.substr(s.size());
  s.remove_prefix(lead);
  s.remove_suffix(trailing_space_bytes(s));
  return s;
}

std::string_view python_rstrip(std::string_view s) {
  s.remove_suffix(trailing_space_bytes(s));
  return s;
}

bool python_isblank(std::string_view s) { return leading_space_bytes(s) == s.size(); }

std::vector<std::string> python_lines(std::string_view text) {
  std::vector<std::string> rows;
  std::string row;
  for (size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (c == '\r') {
      if (i + 1 < text.size() && text[i + 1] == '\n') ++i;
      c = '\n';
    }
    row.push_back(c);
    if (c == '\n') rows.push_back(std::exchange(row, {}));
  }
  if (!row.empty()) rows.push_back(std::move(row));
  return rows;
}

void check_utf8(std::string_view s, const std::string& what) {
  int64_t line = 1;
  for (size_t i = 0; i < s.size();) {
    size_t len = utf8_sequence_length(s, i);
    if (len == 0) fail("{}: invalid UTF-8 at line {}, byte offset {}", what, line, i);
    if (s[i] == '\n') ++line;
    i += len;
  }
}

int64_t count_code_points(std::string_view s) {
  return static_cast<int64_t>(
      std::count_if(s.begin(), s.end(), [](char c) { return !is_continuation(static_cast<unsigned char>(c)); }));
}

std::string join(const std::vector<std::string>& parts, std::string_view sep) {
  size_t total = parts.empty() ? 0 : sep.size() * (parts.size() - 1);
  for (const auto& p : parts) total += p.size();
  std::string out;
  out.reserve(total);
  for (size_t i = 0; i < parts.size(); ++i) {
    if (i > 0) out.append(sep);
    out.append(parts[i]);
  }
  return out;
}

}  // namespace lopper
