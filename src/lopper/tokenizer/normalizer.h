// tokenizer.json "normalizer": applied to each stretch of input text between added tokens.
// lopper only produces ids, so a normalizer rewrites a plain string; tokenizers' offset alignment
// bookkeeping is not needed.
#pragma once
#include <memory>
#include <string>

namespace lopper::tok {

class JsonNode;

class Normalizer {
 public:
  virtual ~Normalizer() = default;
  // `s` is valid UTF-8 and stays so.
  virtual void normalize(std::string& s) const = 0;
};

// Supported: Sequence, Prepend, Replace, NFC, NFD, NFKC, NFKD, Lowercase, Strip, StripAccents,
// Nmt, ByteLevel. Others throw UnsupportedError naming the file and field.
std::unique_ptr<Normalizer> parse_normalizer(const JsonNode& node);

}  // namespace lopper::tok
