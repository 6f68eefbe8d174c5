// Derived seeds for training randomness (data order per epoch, dropout masks per step, layer and
// projection): splitmix64 of two values, so that every draw depends only on (seed, position) and a
// resumed or recomputed run draws the same values.
#pragma once
#include <cstdint>

namespace lopper {

inline uint64_t seed_mix(uint64_t a, uint64_t b) {
  uint64_t x = a ^ (b + 0x9e3779b97f4a7c15ULL + (a << 6) + (a >> 2));
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

}  // namespace lopper
