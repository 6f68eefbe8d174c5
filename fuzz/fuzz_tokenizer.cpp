// Fuzzes tokenizer.json loading (Tokenizer::from_json: model, added tokens, normalizers,
// pre-tokenizers with their regexes, post-processors, decoders) and then uses the tokenizer it
// built. Input: a tokenizer.json, optionally followed by a NUL byte and a tokenizer_config.json
// (NUL cannot occur in JSON text, so the split is unambiguous and seeds stay plain files).
//
// A built tokenizer must encode any text (invalid UTF-8 included) into non-negative ids or fail with
// a lopper error, give non-negative special-token ids, and always decode to valid UTF-8
// (tokenizer.h's contract).
#include <algorithm>
#include <climits>
#include <optional>

#include "fuzz_util.h"
#include "lopper/tokenizer/tokenizer.h"
#include "lopper/tokenizer/unicode.h"

namespace {

// Text that reaches every pipeline stage: spaces and newlines (pre-tokenizer splits), digits,
// punctuation, non-ASCII letters and a combining mark (normalizers), common special-token strings
// (added-vocabulary matching) and an invalid byte (the U+FFFD repair).
constexpr std::string_view kText =
    "Hello world!  It's 2024:\n\tfoo_bar 12345 <s>A</s> <|endoftext|>\r\n"
    "\xC3\xBC" "ber na\xC3\xAFve \xE2\x96\x81x \xE6\x97\xA5\xE6\x9C\xAC e\xCC\x81 \xFF end ";

void exercise(const lopper::Tokenizer& tok, std::string_view text) {
  for (bool special : {true, false}) {
    std::vector<int32_t> ids;
    // Like `tokenizers`, a BPE model whose unk_token is not in its vocabulary fails (InputError)
    // only when a text needs the unk token.
    if (!lopper::fuzz::expect_lopper_errors([&] { ids = tok.encode(text, special); })) continue;
    for (int32_t id : ids) FUZZ_CHECK(id >= 0);
    FUZZ_CHECK(lopper::tok::is_valid_utf8(tok.decode(ids, true)));
    FUZZ_CHECK(lopper::tok::is_valid_utf8(tok.decode(ids, false)));
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input = lopper::fuzz::as_text(data, size);
  const size_t nul = input.find('\0');
  std::optional<std::string_view> config;
  if (nul != std::string_view::npos) config = input.substr(nul + 1);
  std::optional<lopper::Tokenizer> tok;
  if (!lopper::fuzz::expect_lopper_errors(
          [&] { tok = lopper::Tokenizer::from_json(input.substr(0, nul), config, "/m/tokenizer.json"); }))
    return 0;

  for (auto id : {tok->bos_id(), tok->eos_id(), tok->unk_id()})
    if (id) FUZZ_CHECK(*id >= 0);
  exercise(*tok, kText);
  exercise(*tok, input.substr(input.size() - std::min<size_t>(input.size(), 48)));  // a piece of the input

  // Every id up to the vocabulary size (bounded) and a few that are not ids at all.
  const int32_t n = std::min(tok->vocab_size(), 600);
  std::vector<int32_t> all;
  for (int32_t i = 0; i < n; ++i) all.push_back(i);
  all.insert(all.end(), {-1, INT32_MIN, INT32_MAX, n});
  FUZZ_CHECK(lopper::tok::is_valid_utf8(tok->decode(all, false)));
  for (int32_t i = 0; i < n; ++i) {
    std::string piece;
    if (lopper::fuzz::expect_lopper_errors([&] { piece = tok->id_to_token(i); }))  // else a gap in the ids
      tok->token_to_id(piece);
  }
  return 0;
}
