// Fuzzes the GGUF reader of the export tests (tests/export/gguf_read.h), which reads both the files
// lopper writes and those llama.cpp writes. Input: a GGUF file. Its contract is std::runtime_error
// for a malformed file; anything else (another exception type, a sanitizer report) is a finding.
#include <stdexcept>

#include "export/gguf_read.h"
#include "fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  lopper::test::GgufFile f;
  try {
    f = lopper::test::parse_gguf(std::string(lopper::fuzz::as_text(data, size)));
  } catch (const std::runtime_error&) {
    return 0;
  }
  FUZZ_CHECK(f.tensors.size() <= f.tensor_order.size() && f.kv.size() == f.kv_type.size());
  FUZZ_CHECK(f.data_start >= 24 && f.bytes.size() == size);
  return 0;
}
