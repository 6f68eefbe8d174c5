// lm-eval's string rules: HellaSwag cleanup, Python capitalize/lower, COPA's connector and spacing.
#include <gtest/gtest.h>

#include "lopper/tasks/task_builders.h"
#include "lopper/tasks/text_rules.h"
#include "lopper/util/error.h"

namespace lopper {
namespace {

TEST(HellaswagPreprocess, Cases) {
  // A leading "[title]" has no space before it: only the bracket goes, the space after it stays.
  EXPECT_EQ(hellaswag_preprocess("[title] If you are outside."), " If you are outside.");
  // " [title]" -> ". ", then the other brackets go, then one pass of "  " -> " ".
  EXPECT_EQ(hellaswag_preprocess("Foo. [title] Bar [step] baz"), "Foo.. Bar baz");
  EXPECT_EQ(hellaswag_preprocess("  padded [substeps] text \n"), "padded text");
  // Non-greedy: "[a] keep [b]" loses both brackets but keeps the middle.
  EXPECT_EQ(hellaswag_preprocess("x [a] keep [b] y"), "x keep y");
  // No match across a newline, and an unclosed bracket stays.
  EXPECT_EQ(hellaswag_preprocess("a [b\nc] d"), "a [b\nc] d");
  EXPECT_EQ(hellaswag_preprocess("open [bracket"), "open [bracket");
  // One left-to-right pass: four spaces become two, three become two.
  EXPECT_EQ(hellaswag_preprocess("a    b"), "a  b");
  EXPECT_EQ(hellaswag_preprocess("a   b"), "a  b");
}

TEST(PythonCase, CapitalizeAndLower) {
  EXPECT_EQ(python_capitalize("hELLO wORLD"), "Hello world");
  EXPECT_EQ(python_capitalize(""), "");
  EXPECT_EQ(python_capitalize("a few women"), "A few women");
  EXPECT_EQ(python_capitalize("\xC3\x9F" "a"), "Ssa");                    // sharp s titles as "Ss"
  EXPECT_EQ(python_capitalize("\xC3\xA9T\xC3\x89"), "\xC3\x89t\xC3\xA9");  // éTÉ -> Été
  EXPECT_EQ(python_lower("\xCE\x91\xCE\xA3"), "\xCE\xB1\xCF\x82");        // ΑΣ -> ας (final sigma)
  EXPECT_EQ(python_lower("\xCE\xA3\xCE\x91"), "\xCF\x83\xCE\xB1");        // ΣΑ -> σα
  EXPECT_EQ(python_lower("\xC4\xB0"), "i\xCC\x87");                       // İ -> i + U+0307
  EXPECT_EQ(copa_convert_choice("I shut off the light."), "i shut off the light.");
  EXPECT_EQ(copa_convert_choice("\xC3\x89t\xC3\xA9"), "\xC3\xA9t\xC3\xA9");
}

TEST(Copa, ConnectorAndDoubleSpace) {
  nlohmann::json row = {{"query", "The man turned on the faucet, therefore"},
                        {"choices", {"the toilet filled with water.", "Water flowed from the spout."}},
                        {"gold", 1}};
  auto v4 = copa_doc(row, Harness::V04, "copa:1");
  ASSERT_EQ(v4.requests.size(), 2u);
  EXPECT_EQ(v4.requests[0].context, "The man turned on the faucet therefore");
  EXPECT_EQ(v4.requests[1].continuation, "  water flowed from the spout.");  // delimiter + doc_to_choice's space
  EXPECT_EQ(v4.gold, 1);
  auto v3 = copa_doc(row, Harness::V03, "copa:1");
  EXPECT_EQ(v3.requests[1].continuation, " water flowed from the spout.");
  row["query"] = "The hamburger meat browned, because";
  EXPECT_EQ(copa_doc(row, Harness::V04, "copa:5").requests[0].context, "The hamburger meat browned because");
  row["query"] = "No connector here";
  EXPECT_THROW(copa_doc(row, Harness::V04, "copa:9"), Error);
}

}  // namespace
}  // namespace lopper
