#include "lopper/util/allocator.h"

#include <malloc.h>

#include <cstdlib>
#include <mutex>

namespace lopper {

void tune_allocator() {
  static std::once_flag once;
  std::call_once(once, [] {
    if (std::getenv("LOPPER_NO_MALLOC_TUNING")) return;
    // 1 GiB: activations of any practical batch are reused from the heap instead of mmap'd anew.
    if (!mallopt(M_MMAP_THRESHOLD, 1 << 30)) mallopt(M_MMAP_THRESHOLD, 32 << 20);
    mallopt(M_TRIM_THRESHOLD, 1 << 30);
  });
}

}  // namespace lopper
