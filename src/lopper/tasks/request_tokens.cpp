#include "lopper/tasks/request_tokens.h"

#include "lopper/data/pystr.h"
#include "lopper/util/error.h"

namespace lopper {

BosMode parse_bos_mode(const std::string& s) {
  if (s == "auto") return BosMode::Auto;
  if (s == "always") return BosMode::Always;
  if (s == "never") return BosMode::Never;
  fail("--bos {}: expected auto, always or never", s);
}

const char* bos_mode_name(BosMode m) {
  switch (m) {
    case BosMode::Auto: return "auto";
    case BosMode::Always: return "always";
    case BosMode::Never: return "never";
  }
  return "?";
}

RequestEncoder::RequestEncoder(const Tokenizer& tok, BosMode bos) : tok_(tok), mode_(bos), bos_(tok.bos_id()) {
  if (bos_) bos_text_ = tok.id_to_token(*bos_);
  check(mode_ != BosMode::Always || bos_.has_value(),
        "--bos always: the tokenizer has no BOS token (use --bos auto or never)");
  auto probe = encode("a");
  adds_bos_ = bos_ && !probe.empty() && probe.front() == *bos_;
}

std::vector<int32_t> RequestEncoder::encode(std::string_view text) const {
  const bool starts_with_bos = !bos_text_.empty() && text.substr(0, bos_text_.size()) == bos_text_;
  switch (mode_) {
    case BosMode::Never: return tok_.encode(text, false);
    case BosMode::Auto: return tok_.encode(text, !starts_with_bos);
    case BosMode::Always: {
      auto ids = tok_.encode(text, false);
      if (!starts_with_bos) ids.insert(ids.begin(), *bos_);
      return ids;
    }
  }
  return {};
}

RequestTokens RequestEncoder::encode_pair(const LLRequest& r) const {
  RequestTokens out;
  if (r.context.empty()) {
    out.continuation = tok_.encode(r.continuation, false);
    check(!out.continuation.empty(), "continuation \"{}\" encodes to no tokens", r.continuation);
    auto prefix = bos_ ? bos_ : tok_.eos_id();
    check(prefix.has_value(), "empty context and the tokenizer has neither BOS nor EOS to stand for it");
    if (out.continuation.front() != *prefix) {
      out.context = {*prefix};
    } else {  // lm-eval: the continuation already starts with it
      out.context = {out.continuation.front()};
      out.continuation.erase(out.continuation.begin());
    }
  } else {
    const std::string_view ctx = python_rstrip(r.context);
    const std::string cont = r.context.substr(ctx.size()) + r.continuation;
    auto whole = encode(std::string(ctx) + cont);
    out.context = encode(ctx);
    if (whole.size() > out.context.size())
      out.continuation.assign(whole.begin() + static_cast<std::ptrdiff_t>(out.context.size()), whole.end());
  }
  check(!out.context.empty(), "context \"{:.60}\" encodes to no tokens (with --bos never, a blank context has none)",
        r.context);
  check(!out.continuation.empty(), "continuation \"{:.60}\" encodes to no tokens after context \"{:.60}\"",
        r.continuation, r.context);
  return out;
}

}  // namespace lopper
