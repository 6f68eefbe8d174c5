// The thread count follows the machine's load (model/cpu_threads.h): with busy processes on every
// core, a run drops to one thread; a run alone keeps them all.
#include <gtest/gtest.h>
#include <sched.h>

#include <array>
#include <cstdio>
#include <string>

#include "test_paths.h"

namespace lopper {
namespace {

std::string run_shell(const std::string& script) {
  FILE* p = popen(("sh -c '" + script + "' 2>&1").c_str(), "r");
  std::string out;
  std::array<char, 4096> buf;
  size_t n;
  while ((n = fread(buf.data(), 1, buf.size(), p)) > 0) out.append(buf.data(), n);
  pclose(p);
  return out;
}

int usable_cpus() {
  cpu_set_t set;
  CPU_ZERO(&set);
  return sched_getaffinity(0, sizeof(set), &set) == 0 ? CPU_COUNT(&set) : 1;
}

TEST(CliThreads, FewerThreadsWhileOtherProcessesKeepTheCoresBusy) {
  const int cpus = usable_cpus();
  if (cpus < 2) GTEST_SKIP() << "one usable CPU: nothing to follow";
  // ctest runs tests with OMP_NUM_THREADS=1, which turns the following off: the run under test
  // gets the default. `yes` processes keep every core busy until the run ends.
  const std::string eval = std::string("env -u OMP_NUM_THREADS -u LOPPER_FIXED_THREADS LOPPER_SHOW_THREADS=1 ") +
                           LOPPER_CLI_PATH + " eval --model " + test::bundled_model().string() +
                           " --ppl wikitext2 --max-windows 60";
  std::string out = run_shell("pids=; for i in $(seq " + std::to_string(cpus) +
                              "); do yes >/dev/null 2>&1 & pids=\"$pids $!\"; done; " + eval + "; kill $pids");
  EXPECT_NE(out.find("lopper: now 1 thread (other processes' load)"), std::string::npos) << out;
  EXPECT_NE(out.find("ppl wikitext2"), std::string::npos) << out;
}

}  // namespace
}  // namespace lopper
