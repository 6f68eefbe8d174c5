// acc / acc_norm / stderr / perplexity aggregation as lm-eval computes them.
#include <gtest/gtest.h>

#include <cmath>

#include "lopper/tasks/metrics.h"
#include "lopper/tasks/task_builders.h"

namespace lopper {
namespace {

std::vector<RequestScore> lls(std::initializer_list<double> v) {
  std::vector<RequestScore> out;
  for (double x : v) out.push_back({x, false});
  return out;
}

TEST(Metrics, AccNormCountsCodePointsNotBytes) {
  // "ééé": 3 code points, 6 bytes; "abcd": 4 and 4. ll/len: -1.1 vs -1.0 by code points (choice 1
  // wins), -0.55 vs -1.0 by bytes (choice 0 would win).
  auto doc = multiple_choice_doc("ctx", {"\xC3\xA9\xC3\xA9\xC3\xA9", "abcd"}, 1, "t:1");
  EXPECT_EQ(doc.choice_chars, (std::vector<int64_t>{3, 4}));
  auto m = doc_metrics(TaskKind::MultipleChoice, doc, lls({-3.3, -4.0}));
  EXPECT_EQ(m.at("acc"), 0.0);       // raw ll prefers choice 0
  EXPECT_EQ(m.at("acc_norm"), 1.0);  // per code point prefers choice 1
  EXPECT_EQ(doc.requests[0].continuation, " \xC3\xA9\xC3\xA9\xC3\xA9");
}

TEST(Metrics, TiesGoToTheFirstChoice) {
  EXPECT_EQ(argmax_first({-2.0, -1.0, -1.0}), 1);
  auto doc = multiple_choice_doc("ctx", {"ab", "cd"}, 1, "t:1");
  auto m = doc_metrics(TaskKind::MultipleChoice, doc, lls({-1.5, -1.5}));
  EXPECT_EQ(m.at("acc"), 0.0);
  EXPECT_EQ(m.at("acc_norm"), 0.0);
  doc.gold = 0;
  EXPECT_EQ(doc_metrics(TaskKind::MultipleChoice, doc, lls({-1.5, -1.5})).at("acc"), 1.0);
}

TEST(Metrics, MeanStderrIsSampleStdOverSqrtN) {
  auto m = mean_with_stderr({1, 0, 1, 1});
  EXPECT_DOUBLE_EQ(m.value, 0.75);
  EXPECT_DOUBLE_EQ(m.stderr_, 0.5 / 2.0);  // sample std (n-1) = 0.5, sqrt(4) = 2
}

TEST(Metrics, LambadaAccIsGreedyAndPerplexityIsExpOfMeanNll) {
  TaskData t;
  t.kind = TaskKind::Loglikelihood;
  t.docs.resize(2);
  for (auto& d : t.docs) d.requests.push_back({"c", " w"});
  auto agg = aggregate_metrics(t, {{{-1.0, true}}, {{-3.0, false}}});
  EXPECT_DOUBLE_EQ(agg.at("acc").value, 0.5);
  EXPECT_NEAR(agg.at("perplexity").value, std::exp(2.0), 1e-12);
  // delta method: exp(2) * stderr of the lls (sample std sqrt(2), / sqrt(2)) = exp(2)
  EXPECT_NEAR(agg.at("perplexity").stderr_, std::exp(2.0), 1e-12);
}

TEST(Metrics, WinograndeHasAccOnly) {
  nlohmann::json row = {{"context_options", {"A so A", "A so B"}}, {"continuation", " won. "}, {"gold", 1}};
  auto doc = context_options_doc(row, "w:1");
  EXPECT_EQ(doc.requests[0].continuation, " won.");  // lm-eval strips the partial sentence
  auto m = doc_metrics(TaskKind::ContextChoice, doc, lls({-2.0, -1.0}));
  EXPECT_EQ(m.at("acc"), 1.0);
  EXPECT_EQ(m.count("acc_norm"), 0u);
}

}  // namespace
}  // namespace lopper
