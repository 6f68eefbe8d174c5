// Device helpers that hide whether this lopper was built with CUDA: waiting for queued GPU work
// (timings), and peak memory (benchmarks, reports).
#pragma once
#include <c10/core/Device.h>

#include <cstdint>

namespace lopper {

// Blocks until all work queued on `device` has finished (no-op on CPU).
void synchronize(const c10::Device& device);

// Starts a new peak-memory measurement window for `device` (CUDA: the caching allocator's peak;
// CPU: nothing to reset, the process high-water mark only grows).
void reset_peak_memory(const c10::Device& device);

// Peak bytes since the last reset: CUDA tensor memory held by libtorch's allocator, or on CPU the
// process's peak resident set size.
int64_t peak_memory_bytes(const c10::Device& device);

}  // namespace lopper
