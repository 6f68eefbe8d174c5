#include "lopper/model/device.h"

#include <sys/resource.h>

#ifdef LOPPER_WITH_CUDA
#include <c10/cuda/CUDACachingAllocator.h>
#include <c10/cuda/CUDAFunctions.h>
#endif

namespace lopper {

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
  }
#endif
}

int64_t peak_memory_bytes(const c10::Device& device) {
#ifdef LOPPER_WITH_CUDA
  if (device.is_cuda()) {
    auto stats = c10::cuda::CUDACachingAllocator::getDeviceStats(device.has_index() ? device.index()
                                                                                     : c10::cuda::current_device());
    return stats.allocated_bytes[0].peak;  // index 0: StatType::AGGREGATE (all pool kinds)
  }
#endif
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<int64_t>(u.ru_maxrss) * 1024;  // Linux reports KiB
}

}  // namespace lopper
