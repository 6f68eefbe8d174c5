// tokenizer.json "pre_tokenizer": splits normalized text into the words that BPE encodes
// independently (and caches).
#pragma once
#include <memory>
#include <string>

#include "lopper/tokenizer/function_ref.h"

namespace lopper::tok {

class JsonNode;

struct Piece {
  std::string text;
  // Whether the piece starts at offset 0 of the original input. Only Metaspace with
  // prepend_scheme "first" looks at it (tokenizers checks the piece's original offset).
  bool at_start = false;
};

using PieceSink = FunctionRef<void(Piece&&)>;

// Every tokenizers pre-tokenizer works on each piece independently, so pieces are streamed
// through a Sequence depth-first instead of materializing the split of a whole text at each
// stage: same pieces, same order, a fraction of the memory traffic.
class PreTokenizer {
 public:
  virtual ~PreTokenizer() = default;
  // Emits the splits of `piece` in order; empty pieces are dropped as in tokenizers.
  virtual void pre_tokenize(Piece&& piece, const PieceSink& emit) const = 0;
};

// Supported: Sequence, Split, ByteLevel, Metaspace, Digits, Punctuation, Whitespace,
// WhitespaceSplit, BertPreTokenizer, CharDelimiterSplit. Others throw UnsupportedError.
std::unique_ptr<PreTokenizer> parse_pre_tokenizer(const JsonNode& node);

// Metaspace's prepend_scheme, shared with the Metaspace decoder.
enum class PrependScheme { Always, First, Never };
PrependScheme parse_prepend_scheme(const JsonNode& node);

}  // namespace lopper::tok
