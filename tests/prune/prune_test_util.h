// Shared by the prune tests: a calibrated job on testbed-15m, and running a job that must fail.
#pragma once
#include <gtest/gtest.h>

#include <filesystem>
#include <string>

#include "lopper/prune/prune_command.h"
#include "lopper/util/error.h"
#include "test_paths.h"

namespace lopper::test {

// A prune job on testbed-15m in fp32, calibrated on `dataset` from ../shared/data; no evaluation.
inline PruneRequest testbed_request(const std::string& method, const std::string& dataset, int64_t nsamples,
                                    int64_t seqlen, int64_t micro_batch) {
  PruneRequest req;
  req.model_dir = shared_dir() / "models/testbed-15m";
  req.load = {"cpu", "f32"};
  req.method = method;
  req.calib.dataset = dataset;
  req.calib.nsamples = nsamples;
  req.calib.seqlen = seqlen;
  req.calib.data_dir = shared_dir() / "data";
  req.depth.micro_batch = micro_batch;
  req.eval_ppl.clear();
  return req;
}

// Runs the job expecting an InputError; checks that no output directory was left behind.
inline std::string prune_error_of(const PruneRequest& r) {
  try {
    run_prune(r);
  } catch (const InputError& e) {
    EXPECT_FALSE(std::filesystem::exists(r.out_dir)) << "no output on error";
    return e.what();
  }
  ADD_FAILURE() << "no error";
  return "";
}

}  // namespace lopper::test
