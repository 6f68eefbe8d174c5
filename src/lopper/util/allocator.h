// Process-wide malloc tuning for tensor workloads. libtorch's CPU allocator gets large blocks from
// malloc; glibc hands blocks above its mmap threshold straight back to the kernel on free, so every
// forward pass page-faults its activations in again. On the VMs we measure on, that made
// perplexity evaluation ~10x slower (most time in the kernel). Raising the mmap threshold and the
// trim threshold keeps freed blocks in the heap for reuse. Peak RSS stays at the high-water mark.
#pragma once

namespace lopper {

// Idempotent; called by Model::load and the CLI. Set LOPPER_NO_MALLOC_TUNING=1 to skip.
void tune_allocator();

}  // namespace lopper
