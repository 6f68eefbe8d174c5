// Progress with an ETA on stderr for long work. Redraws at most a few times a second; on a
// non-terminal stderr (CI logs) prints a plain line every few seconds instead of carriage returns.
#pragma once
#include <chrono>
#include <cstdint>
#include <string>

namespace lopper {

class Progress {
 public:
  Progress(std::string label, int64_t total, std::string unit = "");
  ~Progress();
  void advance(int64_t n = 1);
  void set(int64_t done);
  void finish();
  // Globally silence progress output (tests, --quiet).
  static void set_enabled(bool enabled);

 private:
  void draw(bool final);
  std::string label_, unit_;
  int64_t total_, done_ = 0;
  std::chrono::steady_clock::time_point start_, last_draw_;
  bool finished_ = false, tty_;
};

}  // namespace lopper
