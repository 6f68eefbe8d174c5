#include "lopper/model/device.h"

#include <malloc.h>
#include <sys/resource.h>

#include <ATen/Parallel.h>

#include <cstdio>
#include <cstring>
#include <fstream>
#include <string>

#ifdef LOPPER_WITH_CUDA
#include <c10/cuda/CUDACachingAllocator.h>
#include <c10/cuda/CUDAFunctions.h>
#include <cuda_runtime_api.h>
#endif

#include <fmt/format.h>

namespace lopper {

namespace {

// A "VmXXX:   1234 kB" field of /proc/self/status in bytes; -1 if unreadable.
int64_t proc_status_bytes(const char* field) {
  FILE* f = std::fopen("/proc/self/status", "r");
  if (!f) return -1;
  char line[256];
  int64_t out = -1;
  const size_t n = std::strlen(field);
  while (std::fgets(line, sizeof line, f)) {
    if (std::strncmp(line, field, n) == 0 && line[n] == ':') {
      long long kb = 0;
      if (std::sscanf(line + n + 1, "%lld", &kb) == 1) out = static_cast<int64_t>(kb) * 1024;
      break;
    }
  }
  std::fclose(f);
  return out;
}

}  // namespace

void synchronize(const c10::Device& device) {
#ifdef LOPPER_WITH_CUDA
  if (device.is_cuda()) c10::cuda::device_synchronize();
#endif
}

void reset_peak_memory(const c10::Device& device) {
#ifdef LOPPER_WITH_CUDA
  if (device.is_cuda()) {
    synchronize(device);
    c10::cuda::CUDACachingAllocator::resetPeakStats(device.has_index() ? device.index() : c10::cuda::current_device());
    return;
  }
#endif
  malloc_trim(0);
  if (FILE* f = std::fopen("/proc/self/clear_refs", "w")) {
    std::fputs("5", f);  // 5: reset the peak resident set size (Linux >= 4.0)
    std::fclose(f);
  }
}

int64_t peak_memory_bytes(const c10::Device& device) {
#ifdef LOPPER_WITH_CUDA
  if (device.is_cuda()) {
    auto stats = c10::cuda::CUDACachingAllocator::getDeviceStats(device.has_index() ? device.index()
                                                                                     : c10::cuda::current_device());
    return stats.allocated_bytes[0].peak;  // index 0: StatType::AGGREGATE (all pool kinds)
  }
#endif
  if (int64_t hwm = proc_status_bytes("VmHWM"); hwm >= 0) return hwm;
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<int64_t>(u.ru_maxrss) * 1024;  // Linux reports KiB
}

int64_t current_memory_bytes(const c10::Device& device) {
#ifdef LOPPER_WITH_CUDA
  if (device.is_cuda()) {
    auto stats = c10::cuda::CUDACachingAllocator::getDeviceStats(device.has_index() ? device.index()
                                                                                     : c10::cuda::current_device());
    return stats.allocated_bytes[0].current;
  }
#endif
  return proc_status_bytes("VmRSS");
}

int64_t available_memory_bytes(const c10::Device& device) {
#ifdef LOPPER_WITH_CUDA
  if (device.is_cuda()) {
    const auto prev = c10::cuda::current_device();
    c10::cuda::set_device(device.has_index() ? device.index() : prev);
    size_t free_bytes = 0, total_bytes = 0;
    const bool ok = cudaMemGetInfo(&free_bytes, &total_bytes) == cudaSuccess;
    c10::cuda::set_device(prev);
    return ok ? static_cast<int64_t>(free_bytes) : -1;
  }
#endif
  FILE* f = std::fopen("/proc/meminfo", "r");
  if (!f) return -1;
  char line[256];
  int64_t out = -1;
  while (std::fgets(line, sizeof line, f)) {
    long long kb = 0;
    if (std::sscanf(line, "MemAvailable: %lld kB", &kb) == 1) {
      out = static_cast<int64_t>(kb) * 1024;
      break;
    }
  }
  std::fclose(f);
  return out;
}

std::string device_name(const c10::Device& device) {
#ifdef LOPPER_WITH_CUDA
  if (device.is_cuda()) {
    cudaDeviceProp prop{};
    const int index = device.has_index() ? device.index() : c10::cuda::current_device();
    if (cudaGetDeviceProperties(&prop, index) == cudaSuccess) return fmt::format("cuda: {}", prop.name);
    return "cuda: unknown";
  }
#endif
  std::string model = "unknown";
  std::ifstream in("/proc/cpuinfo");
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("model name", 0) == 0) {
      auto colon = line.find(':');
      if (colon != std::string::npos) model = line.substr(line.find_first_not_of(" \t", colon + 1));
      break;
    }
  }
  return fmt::format("cpu: {} x{}", model, at::get_num_threads());
}

}  // namespace lopper
