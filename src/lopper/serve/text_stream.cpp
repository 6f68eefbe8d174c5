#include "lopper/serve/text_stream.h"

namespace lopper {

namespace {

constexpr std::string_view kReplacement = "\xEF\xBF\xBD";  // U+FFFD in UTF-8

// Length of `s` without its trailing U+FFFDs: an incomplete UTF-8 sequence at the end decodes to
// one or more of them, and the next token may complete it.
size_t stable_length(const std::string& s) {
  size_t n = s.size();
  while (n >= kReplacement.size() && std::string_view(s).substr(n - kReplacement.size(), kReplacement.size()) ==
                                         kReplacement)
    n -= kReplacement.size();
  return n;
}

}  // namespace

std::string TextStream::text() const { return tok_.decode(ids_, true); }

bool TextStream::is_byte_token(int32_t id) const {
  std::string s;
  try {
    s = tok_.id_to_token(id);
  } catch (const std::exception&) {
    return false;  // unknown ids decode to nothing
  }
  return s.size() == 6 && s.compare(0, 3, "<0x") == 0 && s[5] == '>';
}

std::string TextStream::push(int64_t id) {
  ids_.push_back(static_cast<int32_t>(id));
  if (diverged_ || is_byte_token(ids_.back())) return {};
  std::string full = text();
  size_t n = stable_length(full);
  if (n < emitted_.size()) return {};  // text shrank (held back for now); finish() settles it
  if (full.compare(0, emitted_.size(), emitted_) != 0) {
    diverged_ = true;
    return {};
  }
  std::string piece = full.substr(emitted_.size(), n - emitted_.size());
  emitted_ += piece;
  return piece;
}

std::string TextStream::finish() {
  std::string full = text();
  if (diverged_ || full.size() < emitted_.size() || full.compare(0, emitted_.size(), emitted_) != 0) {
    diverged_ = true;
    return {};
  }
  std::string rest = full.substr(emitted_.size());
  emitted_ += rest;
  return rest;
}

}  // namespace lopper
