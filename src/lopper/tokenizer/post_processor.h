// tokenizer.json "post_processor": adds special tokens (BOS/EOS, CLS/SEP) around the ids of one
// encoded sequence. Only ids matter to lopper, so offset trimming (ByteLevel, Roberta) is a no-op
// and pair templates are not used.
#pragma once
#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

namespace lopper::tok {

class JsonNode;

class PostProcessor {
 public:
  virtual ~PostProcessor() = default;
  // Rewrites the ids of a single sequence; with add_special_tokens false, templates contribute
  // only their sequence pieces.
  virtual void process(std::vector<int32_t>& ids, bool add_special_tokens) const = 0;
};

// Supported: TemplateProcessing, ByteLevel, Sequence, BertProcessing, RobertaProcessing.
std::unique_ptr<PostProcessor> parse_post_processor(const JsonNode& node);

// "[bos] $A [eos]": what transformers installs when tokenizer_config.json sets add_bos_token or
// add_eos_token (a missing id leaves that side out).
std::unique_ptr<PostProcessor> make_bos_eos_processor(std::optional<int32_t> bos,
                                                      std::optional<int32_t> eos);

}  // namespace lopper::tok
