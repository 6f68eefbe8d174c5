#include "lopper/data/windows.h"

#include <map>
#include <numeric>
#include <set>

#include <gtest/gtest.h>

#include "data/data_test_util.h"

namespace lopper {
namespace {

using test::input_error_of;

std::vector<int64_t> starts_of(const std::vector<EvalWindow>& ws) {
  std::vector<int64_t> out;
  for (const auto& w : ws) out.push_back(w.start);
  return out;
}

// ---- evaluation windows ----

TEST(EvalWindows, NonOverlappingDropsTheTail) {
  auto ws = eval_windows(100, {.seqlen = 30});
  EXPECT_EQ(starts_of(ws), (std::vector<int64_t>{0, 30, 60}));
  for (const auto& w : ws) EXPECT_EQ(w.first_target, 1);
  EXPECT_EQ(scored_targets(ws, 30), 3 * 29);

  EXPECT_EQ(eval_windows(90, {.seqlen = 30}).size(), 3u);
  EXPECT_EQ(eval_windows(30, {.seqlen = 30}).size(), 1u);
  // The golden protocol's figure: testbed-15m wikitext2, 386,764 tokens at seqlen 1024.
  EXPECT_EQ(eval_windows(386764, {.seqlen = 1024}).size(), 377u);
  // stride == seqlen is the same as the default.
  auto same = eval_windows(100, {.seqlen = 30, .stride = 30});
  EXPECT_EQ(starts_of(same), starts_of(ws));
  EXPECT_EQ(same[1].first_target, 1);
}

TEST(EvalWindows, MaxWindowsKeepsTheFirst) {
  EXPECT_EQ(starts_of(eval_windows(1000, {.seqlen = 128, .max_windows = 2})), (std::vector<int64_t>{0, 128}));
  EXPECT_EQ(eval_windows(1000, {.seqlen = 128, .max_windows = 64}).size(), 7u);
}

TEST(EvalWindows, StrideScoresEachTokenOnce) {
  auto ws = eval_windows(10, {.seqlen = 4, .stride = 2});
  EXPECT_EQ(starts_of(ws), (std::vector<int64_t>{0, 2, 4, 6}));
  EXPECT_EQ(ws[0].first_target, 1);
  for (size_t i = 1; i < ws.size(); ++i) EXPECT_EQ(ws[i].first_target, 2);

  // Property: every position 1 .. end of the last window is a target exactly once.
  for (int64_t n : {7, 50, 97}) {
    for (int64_t seqlen : {2, 3, 8, 16}) {
      if (seqlen > n) continue;
      for (int64_t stride = 1; stride < seqlen; ++stride) {
        auto w = eval_windows(n, {.seqlen = seqlen, .stride = stride});
        std::map<int64_t, int> hits;
        for (const auto& x : w)
          for (int64_t p = x.first_target; p < seqlen; ++p) ++hits[x.start + p];
        const int64_t end = w.back().start + seqlen;
        ASSERT_EQ(static_cast<int64_t>(hits.size()), end - 1) << n << " " << seqlen << " " << stride;
        EXPECT_EQ(hits.begin()->first, 1);
        for (const auto& [pos, count] : hits) ASSERT_EQ(count, 1) << "position " << pos;
        EXPECT_EQ(scored_targets(w, seqlen), end - 1);
        EXPECT_GT(end + stride, n) << "a further whole window would have fitted";
      }
    }
  }
}

TEST(EvalWindows, ImpossibleRequests) {
  EXPECT_NE(input_error_of([] { eval_windows(0, {.seqlen = 8}); }).find("no tokens"), std::string::npos);
  EXPECT_NE(input_error_of([] { eval_windows(100, {.seqlen = 1}); }).find("--seqlen 1"), std::string::npos);
  std::string msg = input_error_of([] { eval_windows(100, {.seqlen = 128}); });
  EXPECT_NE(msg.find("100 tokens"), std::string::npos) << msg;
  EXPECT_NE(msg.find("--seqlen 128"), std::string::npos) << msg;
  EXPECT_NE(input_error_of([] { eval_windows(100, {.seqlen = 8, .stride = 9}); }).find("--stride 9"),
            std::string::npos);
  EXPECT_THROW(eval_windows(100, {.seqlen = 8, .stride = -1}), InputError);
  EXPECT_THROW(eval_windows(100, {.seqlen = 8, .max_windows = -1}), InputError);
}

// ---- calibration sampling ----

TEST(Calibration, ParseSampler) {
  EXPECT_EQ(parse_sampler("random"), Sampler::Random);
  EXPECT_EQ(parse_sampler("consecutive"), Sampler::Consecutive);
  EXPECT_EQ(sampler_name(Sampler::Consecutive), "consecutive");
  EXPECT_NE(input_error_of([] { parse_sampler("Random"); }).find("--sampler Random"), std::string::npos);
}

TEST(Calibration, MersenneTwisterIsTheStandardOne) {
  // The C++ standard fixes this value ([rand.predef]): the 10000th draw of a default mt19937_64.
  std::mt19937_64 gen;
  gen.discard(9999);
  EXPECT_EQ(gen(), 9981545732273789042ull);
}

TEST(Calibration, UniformBelowIsPinned) {
  // Values computed by an independent Python implementation of MT19937-64 and this mapping.
  // n = 2^63 + 1 rejects about half of all draws (the third raw draw here), exercising the loop.
  std::mt19937_64 gen(7);
  const uint64_t n = (uint64_t{1} << 63) + 1;
  EXPECT_EQ(uniform_below(gen, n), 4692580601820535206ull);
  EXPECT_EQ(uniform_below(gen, n), 8288144301770457441ull);
  EXPECT_EQ(uniform_below(gen, n), 7229522069929557237ull);
  EXPECT_EQ(uniform_below(gen, n), 6133966320490684800ull);
  for (int i = 0; i < 100; ++i) EXPECT_EQ(uniform_below(gen, 1), 0u);
}

TEST(Calibration, RandomStartsArePinnedAcrossPlatforms) {
  EXPECT_EQ(calibration_starts(100000, {.nsamples = 6, .seqlen = 128, .seed = 0}),
            (std::vector<int64_t>{92542, 11531, 23225, 37294, 90764, 40206}));
  EXPECT_EQ(calibration_starts(100000, {.nsamples = 6, .seqlen = 128, .seed = 1234}),
            (std::vector<int64_t>{23904, 63842, 25854, 93358, 51303, 58689}));
}

TEST(Calibration, RandomIsDeterministicPerSeed) {
  CalibSampleOptions opt{.nsamples = 64, .seqlen = 32, .seed = 42};
  auto a = calibration_starts(5000, opt);
  EXPECT_EQ(a, calibration_starts(5000, opt));
  opt.seed = 43;
  EXPECT_NE(a, calibration_starts(5000, opt));
}

TEST(Calibration, RandomStaysInRangeAndReachesBothEnds) {
  // n - seqlen = 3 possible starts {0, 1, 2}: the references' randint(0, n - seqlen - 1).
  auto starts = calibration_starts(35, {.nsamples = 3000, .seqlen = 32, .seed = 5});
  std::map<int64_t, int> counts;
  for (int64_t s : starts) ++counts[s];
  ASSERT_EQ(counts.size(), 3u);
  EXPECT_EQ(counts.begin()->first, 0);
  EXPECT_EQ(counts.rbegin()->first, 2);
  for (const auto& [s, c] : counts) EXPECT_NEAR(c, 1000, 120) << "start " << s;

  // The smallest possible input: one token more than a window.
  for (int64_t s : calibration_starts(33, {.nsamples = 10, .seqlen = 32})) EXPECT_EQ(s, 0);
}

TEST(Calibration, Consecutive) {
  CalibSampleOptions opt{.sampler = Sampler::Consecutive, .nsamples = 3, .seqlen = 10};
  EXPECT_EQ(calibration_starts(30, opt), (std::vector<int64_t>{0, 10, 20}));
  EXPECT_EQ(calibration_starts(31, opt), (std::vector<int64_t>{0, 10, 20}));
  std::string msg = input_error_of([&] { calibration_starts(29, opt); });
  EXPECT_NE(msg.find("needs 30 tokens"), std::string::npos) << msg;
  EXPECT_NE(msg.find("only 29"), std::string::npos) << msg;
}

TEST(Calibration, ImpossibleRequests) {
  std::string msg = input_error_of([] { calibration_starts(32, {.nsamples = 4, .seqlen = 32}); });
  EXPECT_NE(msg.find("--seqlen 32"), std::string::npos) << msg;
  EXPECT_NE(msg.find("only 32"), std::string::npos) << msg;
  EXPECT_NE(input_error_of([] { calibration_starts(100, {.nsamples = 0, .seqlen = 8}); }).find("--nsamples 0"),
            std::string::npos);
  EXPECT_NE(input_error_of([] { calibration_starts(100, {.nsamples = 1, .seqlen = 0}); }).find("--seqlen 0"),
            std::string::npos);
}

TEST(Calibration, GatherWindows) {
  std::vector<int32_t> ids(20);
  std::iota(ids.begin(), ids.end(), 100);
  EXPECT_EQ(gather_windows(ids, {3, 0, 17}, 3),
            (std::vector<int32_t>{103, 104, 105, 100, 101, 102, 117, 118, 119}));
  EXPECT_THROW(gather_windows(ids, {18}, 3), InputError);
  EXPECT_THROW(gather_windows(ids, {-1}, 3), InputError);
}

}  // namespace
}  // namespace lopper
