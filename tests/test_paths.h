// Where tests find their assets. ../shared (read-only models, data, goldens) may be absent: tests
// that need it call LOPPER_REQUIRE_SHARED() and skip cleanly.
#pragma once
#include <cstdlib>
#include <filesystem>
#include <string>

#include <gtest/gtest.h>

namespace lopper::test {

inline std::filesystem::path shared_dir() {
  if (const char* env = std::getenv("LOPPER_SHARED_DIR")) return env;
  return LOPPER_SHARED_DIR;
}
inline bool have_shared() { return std::filesystem::exists(shared_dir() / "ASSETS.md"); }
inline std::filesystem::path source_dir() { return LOPPER_SOURCE_DIR; }
inline std::filesystem::path bundled_model() { return source_dir() / "assets/models/stories260k"; }

}  // namespace lopper::test

#define LOPPER_REQUIRE_SHARED()                                                        \
  do {                                                                                 \
    if (!::lopper::test::have_shared())                                                \
      GTEST_SKIP() << "shared assets not found at " << ::lopper::test::shared_dir(); \
  } while (0)
