#include "lopper/util/progress.h"

#include <exception>

#include <fmt/format.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>

namespace lopper {

namespace {
std::atomic<bool> g_enabled{true};

std::string format_duration(double s) {
  if (s < 0 || s > 1e7) return "?";
  int t = static_cast<int>(s + 0.5);
  if (t >= 3600) return fmt::format("{}h{:02}m", t / 3600, (t / 60) % 60);
  if (t >= 60) return fmt::format("{}m{:02}s", t / 60, t % 60);
  return fmt::format("{}s", t);
}
}  // namespace

void Progress::set_enabled(bool enabled) { g_enabled = enabled; }

Progress::Progress(std::string label, int64_t total, std::string unit)
    : label_(std::move(label)), unit_(std::move(unit)), total_(total) {
  start_ = last_draw_ = std::chrono::steady_clock::now();
  tty_ = ::isatty(STDERR_FILENO);
}

Progress::~Progress() {
  // Unwinding from an error: no "done" line (the error is the message); clear a half-drawn bar.
  if (std::uncaught_exceptions() > 0 && !finished_) {
    finished_ = true;
    if (g_enabled && tty_) std::fprintf(stderr, "\r\033[K");
    return;
  }
  finish();
}

void Progress::advance(int64_t n) { set(done_ + n); }

void Progress::set(int64_t done) {
  done_ = done;
  auto now = std::chrono::steady_clock::now();
  double since = std::chrono::duration<double>(now - last_draw_).count();
  if (since >= (tty_ ? 0.25 : 5.0)) {
    last_draw_ = now;
    draw(false);
  }
}

void Progress::finish() {
  if (finished_) return;
  finished_ = true;
  draw(true);
}

void Progress::draw(bool final) {
  if (!g_enabled) return;
  double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  double frac = total_ > 0 ? static_cast<double>(done_) / static_cast<double>(total_) : 1.0;
  double eta = frac > 0 ? elapsed * (1.0 - frac) / frac : -1;
  std::string unit = unit_.empty() ? "" : " " + unit_;
  std::string line = final ? fmt::format("{}: {}/{}{} done in {}", label_, done_, total_, unit,
                                         format_duration(elapsed))
                           : fmt::format("{}: {}/{}{} {:3.0f}% elapsed {} ETA {}", label_, done_,
                                         total_, unit, 100 * frac, format_duration(elapsed),
                                         format_duration(eta));
  if (tty_)
    std::fprintf(stderr, "\r\033[K%s%s", line.c_str(), final ? "\n" : "");
  else
    std::fprintf(stderr, "%s\n", line.c_str());
  std::fflush(stderr);
}

}  // namespace lopper
