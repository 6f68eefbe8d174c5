// Fuzzes the safetensors header check (parse_safetensors_header, what SafetensorsFile::open runs on
// the mapped file). Input: a whole .safetensors file. An accepted header must describe tensors that
// SafetensorsFile::tensor() can view safely: every byte range inside the data section, sized exactly
// by dtype and shape, no two ranges overlapping, every dimension a valid int64 extent.
#include <c10/core/ScalarType.h>

#include <algorithm>

#include "fuzz_util.h"
#include "lopper/io/safetensors.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  lopper::SafetensorsHeader h;
  if (!lopper::fuzz::expect_lopper_errors([&] { h = lopper::parse_safetensors_header(data, size, "fuzz"); }))
    return 0;
  FUZZ_CHECK(h.data_start >= 8 && h.data_start <= size);
  const size_t data_size = size - h.data_start;
  std::vector<std::pair<size_t, size_t>> ranges;
  for (const auto& e : h.entries) {
    auto type = lopper::safetensors_dtype(e.dtype, e.name);  // accepted, so supported
    // Bytes of the nonzero extents within int64 (libtorch checks that even for empty tensors); a zero
    // extent makes the tensor empty.
    int64_t bytes = static_cast<int64_t>(c10::elementSize(type));
    bool empty = false;
    for (int64_t d : e.shape) {
      FUZZ_CHECK(d >= 0);
      if (d > 0) FUZZ_CHECK(!__builtin_mul_overflow(bytes, d, &bytes));
      empty = empty || d == 0;
    }
    if (empty) bytes = 0;
    FUZZ_CHECK(e.begin <= e.end && e.end <= data_size);
    FUZZ_CHECK(e.end - e.begin == static_cast<uint64_t>(bytes));
    ranges.emplace_back(e.begin, e.end);
  }
  std::sort(ranges.begin(), ranges.end());
  for (size_t i = 1; i < ranges.size(); ++i) FUZZ_CHECK(ranges[i].first >= ranges[i - 1].second);
  return 0;
}
