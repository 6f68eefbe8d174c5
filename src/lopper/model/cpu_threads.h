// libtorch sizes its intra-op thread pool from cpuinfo's count of physical cores, which on some VMs
// (the 2-core Zen 5 machines lopper is tested on) comes back as 1 although 2 cores are usable: every
// elementwise op, oneDNN GEMM and parallel loop then runs on one core.
#pragma once

namespace lopper {

// Raises libtorch's intra-op threads to the CPUs this process may run on, unless the user chose a
// count (OMP_NUM_THREADS, MKL_NUM_THREADS) or libtorch already uses at least that many; when it does,
// OpenBLAS (if that is the BLAS) is set to one thread unless OPENBLAS_NUM_THREADS is set. Idempotent;
// Model::load calls it for CPU models.
void configure_cpu_threads();

}  // namespace lopper
