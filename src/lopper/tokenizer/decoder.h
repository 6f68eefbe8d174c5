// tokenizer.json "decoder": turns token strings back into text. Each decoder maps a list of
// strings to a list of strings (tokenizers' decode_chain); the results are concatenated at the end.
#pragma once
#include <memory>
#include <string>
#include <vector>

namespace lopper::tok {

class JsonNode;

class Decoder {
 public:
  virtual ~Decoder() = default;
  virtual void decode_chain(std::vector<std::string>& tokens) const = 0;
};

// Supported: Sequence, ByteLevel, Metaspace, Replace, ByteFallback, Fuse, Strip, BPEDecoder.
// Others throw UnsupportedError naming the file and field.
std::unique_ptr<Decoder> parse_decoder(const JsonNode& node);

}  // namespace lopper::tok
