// Shared by the fuzz targets (fuzz_<name>.cpp). A target feeds one input to a parser; errors that
// the parser's contract promises for bad input (lopper::Error and its InputError / UnsupportedError)
// are the correct outcome and are swallowed. Everything else is a finding: a sanitizer report, a
// crash, an uncaught exception of another type (libFuzzer reports it as a deadly signal once
// std::terminate aborts), or a broken invariant checked with FUZZ_CHECK.
#pragma once
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>

#include "lopper/util/error.h"
#include "lopper/util/fs.h"

namespace lopper::fuzz {

// Runs fn(); returns false when it threw one of lopper's errors.
template <typename Fn>
bool expect_lopper_errors(Fn&& fn) {
  try {
    fn();
    return true;
  } catch (const lopper::Error&) {
    return false;
  }
}

// An invariant that holds for every input the parser accepted; abort() makes libFuzzer keep the input.
#define FUZZ_CHECK(cond)                                                               \
  do {                                                                                 \
    if (!(cond)) {                                                                     \
      std::fprintf(stderr, "%s:%d: FUZZ_CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
      std::abort();                                                                    \
    }                                                                                  \
  } while (0)

inline std::string_view as_text(const uint8_t* data, size_t size) {
  return {reinterpret_cast<const char*>(data), size};
}

// A private scratch directory for parsers whose entry point takes a path: in /dev/shm (RAM) when it
// exists, one per process so that fuzzers can run side by side; removed at exit. The path is never
// destroyed: the atexit handler runs after function-local statics constructed later are gone.
inline const std::filesystem::path& scratch_dir() {
  static const std::filesystem::path* dir = [] {
    std::error_code ec;
    std::filesystem::path base = std::filesystem::is_directory("/dev/shm", ec)
                                     ? std::filesystem::path("/dev/shm")
                                     : std::filesystem::temp_directory_path();
    auto* d = new std::filesystem::path(base / ("lopper-fuzz-" + std::to_string(::getpid())));
    std::filesystem::create_directories(*d);
    std::atexit([] { lopper::remove_tree(scratch_dir()); });
    return d;
  }();
  return *dir;
}

// Writes `bytes` to scratch_dir()/name (replacing it) and returns the path.
inline std::filesystem::path write_scratch(const std::string& name, std::string_view bytes) {
  auto path = scratch_dir() / name;
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  out.close();
  if (!out) {
    std::fprintf(stderr, "fuzz: cannot write %s\n", path.c_str());
    std::abort();
  }
  return path;
}

}  // namespace lopper::fuzz
