#include "lopper/model/cpu_threads.h"

#include <ATen/Parallel.h>
#include <dlfcn.h>
#include <sched.h>

#include <cstdlib>
#include <mutex>

namespace lopper {

void configure_cpu_threads() {
  static std::once_flag once;
  std::call_once(once, [] {
    if (std::getenv("OMP_NUM_THREADS") || std::getenv("MKL_NUM_THREADS")) return;
    cpu_set_t set;
    CPU_ZERO(&set);
    if (sched_getaffinity(0, sizeof(set), &set) != 0) return;
    const int usable = CPU_COUNT(&set);
    if (usable <= at::get_num_threads()) return;
    at::set_num_threads(usable);
    // OpenBLAS's own thread pool would now compete with the OpenMP one: its threads spin after each
    // GEMM while OpenMP runs the next op, and GEMMs called from parallel regions (attention) ran 4x
    // slower. fp32 linears go through oneDNN on the OpenMP threads (ops::linear); the BLAS keeps one.
    if (std::getenv("OPENBLAS_NUM_THREADS")) return;
    using SetThreads = void (*)(int);
    if (auto set_blas_threads = reinterpret_cast<SetThreads>(dlsym(RTLD_DEFAULT, "openblas_set_num_threads")))
      set_blas_threads(1);
  });
}

}  // namespace lopper
