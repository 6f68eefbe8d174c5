#include "lopper/export/gguf_tensor_data.h"

#include <ATen/ATen.h>
#include <c10/util/Half.h>

#include <cmath>
#include <cstring>

#include "lopper/util/error.h"

namespace lopper {

namespace {

std::string raw_bytes(const at::Tensor& t) {
  return std::string(static_cast<const char*>(t.data_ptr()), t.numel() * t.element_size());
}

// q8_0 of a contiguous fp32 buffer whose length is a multiple of 32.
std::string quantize_q8_0(const float* x, int64_t n) {
  std::string out(static_cast<size_t>(n / 32) * 34, '\0');
  char* y = out.data();
  for (int64_t b = 0; b < n / 32; ++b, x += 32, y += 34) {
    float amax = 0.0f;
    for (int j = 0; j < 32; ++j) amax = std::max(amax, std::fabs(x[j]));
    const float d = amax / 127.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    c10::Half dh(d);  // round to nearest even, as GGML_FP32_TO_FP16
    std::memcpy(y, &dh.x, 2);
    for (int j = 0; j < 32; ++j) y[2 + j] = static_cast<char>(static_cast<int8_t>(std::roundf(x[j] * id)));
  }
  return out;
}

}  // namespace

std::string ggml_bytes(const at::Tensor& t, GgmlType type) {
  at::Tensor f = t.to(at::kCPU, at::kFloat).contiguous();
  switch (type) {
    case GgmlType::F32: return raw_bytes(f);
    case GgmlType::F16: return raw_bytes(f.to(at::kHalf).contiguous());
    case GgmlType::BF16: return raw_bytes(f.to(at::kBFloat16).contiguous());
    case GgmlType::Q8_0:
      if (f.dim() == 0 || f.size(-1) % 32 != 0)
        throw Error(fmt::format("q8_0: row length {} is not a multiple of 32", f.dim() ? f.size(-1) : 0));
      return quantize_q8_0(f.data_ptr<float>(), f.numel());
  }
  return {};
}

at::Tensor ggml_round_trip(const at::Tensor& t, GgmlType type) {
  at::Tensor f = t.to(at::kCPU, at::kFloat).contiguous();
  switch (type) {
    case GgmlType::F32: return f;
    case GgmlType::F16: return f.to(at::kHalf).to(at::kFloat);
    case GgmlType::BF16: return f.to(at::kBFloat16).to(at::kFloat);
    case GgmlType::Q8_0: {
      std::string q = ggml_bytes(f, type);
      at::Tensor out = at::empty_like(f);
      float* o = out.data_ptr<float>();
      for (size_t b = 0; b < q.size() / 34; ++b) {
        c10::Half d;
        std::memcpy(&d.x, q.data() + b * 34, 2);
        for (int j = 0; j < 32; ++j) o[b * 32 + j] = static_cast<float>(d) * static_cast<int8_t>(q[b * 34 + 2 + j]);
      }
      return out;
    }
  }
  return f;
}

}  // namespace lopper
