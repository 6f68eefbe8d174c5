// Shared by the prune tests: run a job that must fail and return its one-line error.
#pragma once
#include <gtest/gtest.h>

#include <filesystem>
#include <string>

#include "lopper/prune/prune_command.h"
#include "lopper/util/error.h"

namespace lopper::test {

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
