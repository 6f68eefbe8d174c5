#include "lopper/tasks/text_rules.h"

#include <utf8proc.h>

#include "lopper/data/pystr.h"
#include "lopper/tokenizer/unicode.h"

namespace lopper {

namespace {

using tok::append_utf8;
using tok::next_char;

bool is_cased_letter(char32_t c) {
  auto cat = utf8proc_category(static_cast<utf8proc_int32_t>(c));
  return cat == UTF8PROC_CATEGORY_LU || cat == UTF8PROC_CATEGORY_LL || cat == UTF8PROC_CATEGORY_LT;
}

// Python's lower() of one character, with the multi-character and final-sigma cases. `prev_cased`
// and `next_cased` say whether a cased letter precedes / follows (for U+03A3).
void append_lower(std::string& out, char32_t c, bool prev_cased, bool next_cased) {
  if (c == 0x130) {
    out += "i\xCC\x87";  // SpecialCasing: U+0130 -> i + combining dot above
  } else if (c == 0x3A3) {
    append_utf8(out, prev_cased && !next_cased ? char32_t{0x3C2} : char32_t{0x3C3});
  } else {
    append_utf8(out, static_cast<char32_t>(utf8proc_tolower(static_cast<utf8proc_int32_t>(c))));
  }
}

// Python's title-casing of one character (str.capitalize's first character).
void append_title(std::string& out, char32_t c) {
  switch (c) {  // SpecialCasing.txt unconditional title mappings with more than one character
    case 0xDF: out += "Ss"; return;
    case 0xFB00: out += "Ff"; return;
    case 0xFB01: out += "Fi"; return;
    case 0xFB02: out += "Fl"; return;
    case 0xFB03: out += "Ffi"; return;
    case 0xFB04: out += "Ffl"; return;
    case 0xFB05: case 0xFB06: out += "St"; return;
    case 0x149: out += "\xCA\xBCN"; return;
    default: append_utf8(out, static_cast<char32_t>(utf8proc_totitle(static_cast<utf8proc_int32_t>(c))));
  }
}

std::u32string decode(std::string_view s) {
  std::u32string cps;
  for (size_t i = 0; i < s.size();) cps.push_back(next_char(s, i));
  return cps;
}

std::string lower_from(const std::u32string& cps, size_t from) {
  std::string out;
  for (size_t i = from; i < cps.size(); ++i) {
    bool prev = i > 0 && is_cased_letter(cps[i - 1]);
    bool next = i + 1 < cps.size() && is_cased_letter(cps[i + 1]);
    append_lower(out, cps[i], prev, next);
  }
  return out;
}

}  // namespace

std::string hellaswag_preprocess(std::string_view text) {
  std::string t(python_strip(text));
  // " [title]" -> ". "
  std::string a;
  for (size_t i = 0; i < t.size();) {
    if (t.compare(i, 8, " [title]") == 0) {
      a += ". ";
      i += 8;
    } else {
      a += t[i++];
    }
  }
  // re.sub("\\[.*?\\]", "", a): a '[' starts a match only if a ']' follows before any newline.
  std::string b;
  for (size_t i = 0; i < a.size();) {
    if (a[i] == '[') {
      size_t j = i + 1;
      while (j < a.size() && a[j] != ']' && a[j] != '\n') ++j;
      if (j < a.size() && a[j] == ']') {
        i = j + 1;
        continue;
      }
    }
    b += a[i++];
  }
  // replace("  ", " "): non-overlapping, left to right, one pass.
  std::string c;
  for (size_t i = 0; i < b.size();) {
    if (b.compare(i, 2, "  ") == 0) {
      c += ' ';
      i += 2;
    } else {
      c += b[i++];
    }
  }
  return c;
}

std::string python_lower(std::string_view text) { return lower_from(decode(text), 0); }

std::string python_capitalize(std::string_view text) {
  auto cps = decode(text);
  if (cps.empty()) return {};
  std::string out;
  append_title(out, cps[0]);
  return out + lower_from(cps, 1);
}

std::string copa_convert_choice(std::string_view choice) {
  if (choice.empty()) return {};
  size_t i = 0;
  char32_t first = next_char(choice, i);
  std::string out;
  append_lower(out, first, false, false);
  out.append(choice.substr(i));
  return out;
}

}  // namespace lopper
