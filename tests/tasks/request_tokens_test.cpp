// lm-eval's pair tokenization and BOS modes, on the bundled stories260k tokenizer (SentencePiece-style
// BPE that adds <s> = 1 through its post-processor).
#include <gtest/gtest.h>

#include "lopper/tasks/request_tokens.h"
#include "lopper/util/error.h"
#include "test_paths.h"

namespace lopper {
namespace {

using Ids = std::vector<int32_t>;

Tokenizer bundled() { return Tokenizer::from_dir(test::bundled_model()); }

TEST(RequestTokens, TrailingWhitespaceMovesToTheContinuation) {
  auto tok = bundled();
  RequestEncoder enc(tok, BosMode::Auto);
  auto moved = enc.encode_pair({"Answer: ", "yes"});
  auto plain = enc.encode_pair({"Answer:", " yes"});
  EXPECT_EQ(moved.context, plain.context);
  EXPECT_EQ(moved.continuation, plain.continuation);
  EXPECT_EQ(moved.context, enc.encode("Answer:"));
  auto whole = enc.encode("Answer: yes");
  EXPECT_EQ(moved.continuation, Ids(whole.begin() + static_cast<long>(moved.context.size()), whole.end()));
  // Python's rstrip: a newline and a no-break space move too.
  auto nl = enc.encode_pair({"Answer:\n\xC2\xA0", "yes"});
  EXPECT_EQ(nl.context, enc.encode("Answer:"));
}

TEST(RequestTokens, SplitIsByLengthWhenAMergeCrossesTheBoundary) {
  auto tok = bundled();
  RequestEncoder enc(tok, BosMode::Auto);
  // "hel" -> [1, 281, 421]; "hello" -> [1, 281, 306, 414]: the merge moves the boundary, and lm-eval
  // keeps the context's own tokens and cuts the whole encoding by the context's length.
  EXPECT_EQ(enc.encode("hel"), (Ids{1, 281, 421}));
  EXPECT_EQ(enc.encode("hello"), (Ids{1, 281, 306, 414}));
  auto p = enc.encode_pair({"hel", "lo"});
  EXPECT_EQ(p.context, (Ids{1, 281, 421}));
  EXPECT_EQ(p.continuation, (Ids{414}));
}

TEST(RequestTokens, BosModes) {
  auto tok = bundled();
  RequestEncoder aut(tok, BosMode::Auto), always(tok, BosMode::Always), never(tok, BosMode::Never);
  EXPECT_TRUE(aut.adds_bos());
  EXPECT_TRUE(always.adds_bos());
  EXPECT_FALSE(never.adds_bos());
  auto a = aut.encode_pair({"The cat", " sat"});
  auto n = never.encode_pair({"The cat", " sat"});
  EXPECT_EQ(a.context.front(), 1);
  EXPECT_NE(n.context.front(), 1);
  EXPECT_EQ(a.context, always.encode_pair({"The cat", " sat"}).context);
  EXPECT_EQ(Ids(a.context.begin() + 1, a.context.end()), n.context);
  EXPECT_EQ(a.continuation, n.continuation);
  // A context that already starts with the BOS string gets no second BOS (lm-eval's has_bos_prefix).
  EXPECT_EQ(aut.encode("<s>The cat"), aut.encode("The cat"));
  EXPECT_EQ(always.encode("<s>The cat"), aut.encode("The cat"));
  EXPECT_EQ(parse_bos_mode("never"), BosMode::Never);
  EXPECT_THROW(parse_bos_mode("sometimes"), Error);
}

TEST(RequestTokens, EmptyContextUsesBosAsContext) {
  auto tok = bundled();
  RequestEncoder enc(tok, BosMode::Never);
  auto p = enc.encode_pair({"", "The cat"});
  EXPECT_EQ(p.context, (Ids{1}));
  EXPECT_EQ(p.continuation, tok.encode("The cat", false));
  EXPECT_THROW(enc.encode_pair({"   ", "x"}), Error);  // --bos never: a blank context has no tokens
}

}  // namespace
}  // namespace lopper
