// Device helpers that hide whether this lopper was built with CUDA: waiting for queued GPU work
// (timings), and peak memory (benchmarks, reports).
#pragma once
#include <c10/core/Device.h>

#include <cstdint>
#include <string>

namespace lopper {

// Blocks until all work queued on `device` has finished (no-op on CPU).
void synchronize(const c10::Device& device);

// Starts a new peak-memory measurement window for `device`. CUDA: resets the caching allocator's
// peak. CPU: returns freed heap memory to the system (malloc_trim) and resets the kernel's
// resident-set high-water mark (/proc/self/clear_refs), so the next peak belongs to this window.
void reset_peak_memory(const c10::Device& device);

// Peak bytes since the last reset: CUDA tensor memory held by libtorch's allocator, or on CPU the
// process's peak resident set size (VmHWM; the lifetime maximum where it cannot be reset).
int64_t peak_memory_bytes(const c10::Device& device);

// Bytes that can still be allocated on `device`: free CUDA memory (cudaMemGetInfo), or on CPU the
// kernel's MemAvailable. -1 if unknown.
int64_t available_memory_bytes(const c10::Device& device);

// Bytes in use now: CUDA tensor memory, or the CPU process's resident set size (VmRSS).
int64_t current_memory_bytes(const c10::Device& device);

// A name for the hardware behind `device`, for keys of measurements that only hold there (latency
// tables): "cpu: <CPU model> x<threads>" or "cuda: <GPU name>".
std::string device_name(const c10::Device& device);

}  // namespace lopper
