#include "lopper/tokenizer/byte_level.h"

#include <array>

#include "lopper/tokenizer/unicode.h"

namespace lopper::tok {

namespace {

struct Tables {
  std::array<std::string, 256> byte_to_utf8;  // byte -> UTF-8 of its character
  std::array<int, 324> char_to_byte;           // code point (all are < 324) -> byte, or -1

  Tables() {
    char_to_byte.fill(-1);
    // Printable Latin-1 bytes map to themselves; the others to U+0100 + n in byte order.
    auto printable = [](int b) {
      return (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
    };
    int n = 0;
    for (int b = 0; b < 256; ++b) {
      char32_t c = printable(b) ? static_cast<char32_t>(b) : static_cast<char32_t>(256 + n++);
      append_utf8(byte_to_utf8[b], c);
      char_to_byte[c] = b;
    }
  }
};

const Tables& tables() {
  static const Tables t;
  return t;
}

}  // namespace

void bytes_to_byte_level(std::string_view s, std::string& out) {
  const Tables& t = tables();
  for (unsigned char b : s) out += t.byte_to_utf8[b];
}

bool byte_level_to_bytes(std::string_view token, std::string& out) {
  const Tables& t = tables();
  size_t mark = out.size();
  for (size_t i = 0; i < token.size();) {
    char32_t c = next_char(token, i);
    if (c >= t.char_to_byte.size() || t.char_to_byte[c] < 0) {
      out.resize(mark);
      return false;
    }
    out += static_cast<char>(t.char_to_byte[c]);
  }
  return true;
}

}  // namespace lopper::tok
