// GenerateOptions::on_token (streaming, e.g. `lopper serve`): it sees every new id as it is picked,
// leaves the ids unchanged, and stops generation when it returns false.
#include <gtest/gtest.h>

#include "lopper/eval/generate.h"
#include "test_paths.h"

namespace lopper {
namespace {

TEST(GenerateOnToken, SeesEveryIdAndChangesNothing) {
  auto model = Model::load(test::bundled_model());
  const std::vector<int64_t> prompt{1, 403, 407, 261};
  for (bool greedy : {true, false}) {
    GenerateOptions o;
    o.max_new_tokens = 30;
    o.greedy = greedy;
    o.seed = 3;
    const auto plain = generate(model, prompt, o);
    std::vector<int64_t> seen;
    o.on_token = [&](int64_t id) {
      seen.push_back(id);
      return true;
    };
    const auto streamed = generate(model, prompt, o);
    EXPECT_EQ(streamed, plain);
    EXPECT_EQ(seen, std::vector<int64_t>(plain.begin() + 4, plain.end()));
  }
}

TEST(GenerateOnToken, FalseStopsAfterThatId) {
  auto model = Model::load(test::bundled_model());
  GenerateOptions o;
  o.max_new_tokens = 30;
  o.greedy = true;
  const auto full = generate(model, {1, 403}, o);
  int calls = 0;
  o.on_token = [&](int64_t) { return ++calls < 5; };
  const auto cut = generate(model, {1, 403}, o);
  EXPECT_EQ(calls, 5);
  EXPECT_EQ(cut, std::vector<int64_t>(full.begin(), full.begin() + 2 + 5));
}

}  // namespace
}  // namespace lopper
