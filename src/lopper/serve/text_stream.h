// Streams generated text token by token such that the pieces, concatenated, are exactly
// tok.decode(all new ids). Decoding one token at a time would not be: byte-level and byte-fallback
// tokens can split a UTF-8 character across tokens, and decoders (e.g. SentencePiece's leading-space
// strip) look at the whole sequence. So each step decodes the whole new-id prefix and emits what
// was added, holding back what may still change: a trailing U+FFFD (an incomplete character) and
// the text of a trailing run of byte-fallback tokens (<0xNN>), which a SentencePiece ByteFallback
// decoder turns into U+FFFDs as a whole if the run, once complete, is not valid UTF-8.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "lopper/tokenizer/tokenizer.h"

namespace lopper {

class TextStream {
 public:
  explicit TextStream(Tokenizer tok) : tok_(std::move(tok)) {}

  // Adds one id; returns the text to append to what was emitted so far (possibly empty).
  std::string push(int64_t id);
  // All ids are in: returns the rest of the text. Emitted + rest == text().
  std::string finish();

  // tok.decode(ids(), skip special tokens), the whole text of the new ids.
  std::string text() const;
  const std::string& emitted() const { return emitted_; }
  const std::vector<int32_t>& ids() const { return ids_; }
  // True if a later decode changed text already emitted (a decoder that is not prefix-stable): the
  // pieces then do not add up to text(), and a client should replace its text by text().
  bool diverged() const { return diverged_; }

 private:
  Tokenizer tok_;
  bool is_byte_token(int32_t id) const;

  std::vector<int32_t> ids_;
  std::string emitted_;
  bool diverged_ = false;
};

}  // namespace lopper
