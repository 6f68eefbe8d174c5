// What the search-method tests run on: testbed-15m in fp32 and 4 windows of 24 TinyStories tokens
// (small enough that plain full-recompute versions of the methods stay fast). Loaded once per suite.
#pragma once
#include <filesystem>
#include <memory>

#include "lopper/calib/calibration.h"
#include "lopper/model/model.h"
#include "lopper/tokenizer/tokenizer.h"
#include "lopper/util/progress.h"
#include "test_paths.h"

namespace lopper::test {

struct TestbedSearchData {
  Model model;
  CalibData calib;
};

// nullptr when ../shared is missing (the tests then skip with LOPPER_REQUIRE_SHARED).
inline std::unique_ptr<TestbedSearchData> load_testbed_search_data() {
  auto dir = shared_dir() / "models/testbed-15m";
  if (!std::filesystem::exists(dir)) return nullptr;
  Progress::set_enabled(false);
  CalibOptions c;
  c.dataset = "tinystories";
  c.nsamples = 4;
  c.seqlen = 24;
  c.data_dir = shared_dir() / "data";
  auto model = Model::load(dir, {"cpu", "f32"});
  auto calib = load_calibration(Tokenizer::from_dir(dir), c, 1024);
  return std::make_unique<TestbedSearchData>(TestbedSearchData{std::move(model), std::move(calib)});
}

}  // namespace lopper::test
