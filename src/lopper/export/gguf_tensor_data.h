// Tensor bytes in ggml's storage types: f32 / f16 / bf16 (round to nearest even, as ggml converts)
// and q8_0 (blocks of 32: an f16 scale d = max|x| / 127 and 32 int8 round(x / d), ggml's
// quantize_row_q8_0_ref). The tensor is read row-major; for a torch [out, in] matrix the blocks run
// along `in`, ggml's ne[0].
#pragma once
#include <ATen/core/Tensor.h>

#include <string>

#include "lopper/io/gguf_writer.h"

namespace lopper {

std::string ggml_bytes(const at::Tensor& t, GgmlType type);

// Values a ggml tensor of `type` holds for `t` (dequantized, fp32): what llama.cpp computes with.
at::Tensor ggml_round_trip(const at::Tensor& t, GgmlType type);

}  // namespace lopper
