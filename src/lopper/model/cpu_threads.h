// libtorch sizes its intra-op thread pool from cpuinfo's count of physical cores, which on some VMs
// (the 2-core Zen 5 machines lopper is tested on) comes back as 1 although 2 cores are usable: every
// elementwise op, oneDNN GEMM and parallel loop then runs on one core.
#pragma once

namespace lopper {

// Raises libtorch's intra-op threads to the CPUs this process may run on, unless the user chose a
// count (OMP_NUM_THREADS, MKL_NUM_THREADS) or libtorch already uses at least that many; when it does,
// OpenBLAS (if that is the BLAS) is set to one thread unless OPENBLAS_NUM_THREADS is set. Idempotent;
// Model::load calls it for CPU models.
//
// It also starts following the machine's load (unless a count was chosen, or LOPPER_FIXED_THREADS is
// set): OpenMP's threads spin between parallel regions, so when another busy process shares the cores
// each run's spinning threads take the cores the other needs (two runs of one eval on 2 cores took
// 2.3x the one-thread time each). A background thread watches how many tasks of other processes are
// runnable and lowers the wanted thread count to the cores they leave (at least one), raising it again
// when they go; README "A busy machine" has the measurements.
void configure_cpu_threads();

// Applies the thread count the load allows now. Called by the computing thread between pieces of
// work (Model::run_layer): OpenMP's team size is a setting of the thread that starts the regions.
void follow_load();

}  // namespace lopper
