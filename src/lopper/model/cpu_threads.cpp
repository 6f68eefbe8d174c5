#include "lopper/model/cpu_threads.h"

#include <ATen/Parallel.h>
#include <dlfcn.h>
#include <sched.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <mutex>
#include <thread>

namespace lopper {

namespace {

std::atomic<int> g_wanted{0};   // threads the load allows now (0: not following the load)
std::atomic<int> g_applied{0};  // what the computing thread last set

// Tasks the kernel has runnable now (running or waiting for a CPU), from /proc/stat.
int procs_running() {
  FILE* f = std::fopen("/proc/stat", "r");
  if (!f) return -1;
  char line[256];
  int n = -1;
  while (std::fgets(line, sizeof line, f))
    if (std::sscanf(line, "procs_running %d", &n) == 1) break;
  std::fclose(f);
  return n;
}

// This process's threads in state R (running or runnable).
int own_running() {
  int n = 0;
  std::error_code ec;
  for (const auto& t : std::filesystem::directory_iterator("/proc/self/task", ec)) {
    FILE* f = std::fopen((t.path() / "stat").c_str(), "r");
    if (!f) continue;
    char buf[512];
    size_t len = std::fread(buf, 1, sizeof buf - 1, f);
    std::fclose(f);
    buf[len] = '\0';
    const char* close = std::strrchr(buf, ')');  // the name may contain spaces and parentheses
    if (close && close[1] == ' ' && close[2] == 'R') ++n;
  }
  return n;
}

// Samples every 250 ms how many runnable tasks belong to other processes and wants the cores they
// leave (at least one). Fewer threads are wanted after two samples in a row, more after four, so a
// short-lived process does not make a run change its mind back and forth.
void follow_load_loop(int usable) {
  int low = 0, high = 0;
  for (;;) {
    std::this_thread::sleep_for(std::chrono::milliseconds(250));
    const int all = procs_running();
    if (all < 0) return;
    const int others = std::max(0, all - own_running());
    const int fits = std::clamp(usable - others, 1, usable);
    const int now = g_wanted.load();
    if (fits < now) {
      high = 0;
      if (++low >= 2) g_wanted = fits, low = 0;
    } else if (fits > now) {
      low = 0;
      if (++high >= 4) g_wanted = fits, high = 0;
    } else {
      low = high = 0;
    }
  }
}

}  // namespace

void configure_cpu_threads() {
  static std::once_flag once;
  std::call_once(once, [] {
    if (std::getenv("OMP_NUM_THREADS") || std::getenv("MKL_NUM_THREADS")) return;
    cpu_set_t set;
    CPU_ZERO(&set);
    if (sched_getaffinity(0, sizeof(set), &set) != 0) return;
    const int usable = CPU_COUNT(&set);
    if (usable > at::get_num_threads()) {
      at::set_num_threads(usable);
      // OpenBLAS's own thread pool would now compete with the OpenMP one: its threads spin after each
      // GEMM while OpenMP runs the next op, and GEMMs called from parallel regions (attention) ran 4x
      // slower. fp32 linears go through oneDNN on the OpenMP threads (ops::linear); the BLAS keeps one.
      if (!std::getenv("OPENBLAS_NUM_THREADS")) {
        using SetThreads = void (*)(int);
        if (auto set_blas_threads = reinterpret_cast<SetThreads>(dlsym(RTLD_DEFAULT, "openblas_set_num_threads")))
          set_blas_threads(1);
      }
    }
    if (usable < 2 || std::getenv("LOPPER_FIXED_THREADS")) return;
    g_wanted = g_applied = at::get_num_threads();
    std::thread(follow_load_loop, at::get_num_threads()).detach();
  });
}

void follow_load() {
  const int want = g_wanted.load(std::memory_order_relaxed);
  if (want == 0 || want == g_applied.load(std::memory_order_relaxed)) return;
  g_applied = want;
  at::set_num_threads(want);
  // A diagnostic (and what the CLI test of this watches): the switches as they happen.
  if (std::getenv("LOPPER_SHOW_THREADS"))
    std::fprintf(stderr, "lopper: now %d thread%s (other processes' load)\n", want, want == 1 ? "" : "s");
}

}  // namespace lopper
