// Tokenization of (context, continuation) requests as lm-eval's HF model does it.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "lopper/tasks/task.h"
#include "lopper/tokenizer/tokenizer.h"

namespace lopper {

// BOS for causal models. lm-eval v0.3 and v0.4.0-v0.4.9.1 never add it; v0.4.9.2+ lets the
// tokenizer decide (Llama tokenizers add it). `Auto` is the tokenizer's own choice (its
// post-processor / add_bos_token), `Always` prepends the BOS id, `Never` adds no special tokens.
enum class BosMode { Auto, Always, Never };

BosMode parse_bos_mode(const std::string& s);  // auto | always | never; InputError otherwise
const char* bos_mode_name(BosMode m);

struct RequestTokens {
  std::vector<int32_t> context, continuation;
};

class RequestEncoder {
 public:
  RequestEncoder(const Tokenizer& tok, BosMode bos);

  // lm-eval's tok_encode: the string with special tokens as the mode says. As lm-eval does, no BOS
  // is added when the text already starts with the BOS token's string.
  std::vector<int32_t> encode(std::string_view text) const;

  // lm-eval's loglikelihood(): trailing whitespace of the context moves to the front of the
  // continuation; whole = encode(context + continuation), ctx = encode(context), and the
  // continuation is whole[len(ctx):] (a split by length: a merge across the boundary shifts
  // tokens). An empty context becomes [BOS, or EOS if there is no BOS] and the continuation is
  // encoded without special tokens. Throws InputError when either side ends up with no tokens.
  RequestTokens encode_pair(const LLRequest& r) const;

  // Whether encode() starts texts with the BOS id (what `auto` resolved to), for the report.
  bool adds_bos() const { return adds_bos_; }
  BosMode mode() const { return mode_; }

 private:
  const Tokenizer& tok_;
  BosMode mode_;
  std::optional<int32_t> bos_;
  std::string bos_text_;
  bool adds_bos_ = false;
};

}  // namespace lopper
