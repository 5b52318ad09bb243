#include "common/progress.hpp"

#include "common/output.hpp"

#include <unistd.h>

#include <chrono>
#include <cstdio>

namespace green::tools {

bool stderr_is_terminal() { return ::isatty(STDERR_FILENO) == 1; }

namespace {
// The progress line on screen, erased before a diagnostic is written.
Progress* g_shown = nullptr;
}  // namespace

Progress::Progress(std::string what, bool enabled)
    : what_(std::move(what)), active_(enabled && stderr_is_terminal()), start_(Clock::now()) {
  if (active_) {
    g_shown = this;
    set_before_diag([] {
      if (g_shown) g_shown->finish();
    });
  }
}

Progress::~Progress() {
  finish();
  if (g_shown == this) {
    g_shown = nullptr;
    set_before_diag(nullptr);
  }
}

void Progress::update(std::size_t done, std::size_t errors) {
  if (!active_) return;
  done_ = done;
  errors_ = errors;
  const auto now = Clock::now();
  if (now - last_draw_ < std::chrono::milliseconds(100)) return;
  last_draw_ = now;
  draw();
}

void Progress::draw() {
  const double secs = std::chrono::duration<double>(Clock::now() - start_).count();
  const double rate = secs > 0 ? static_cast<double>(done_) / secs : 0.0;
  char line[256];
  if (total_ && *total_ > 0) {
    const double pct = 100.0 * static_cast<double>(done_) / static_cast<double>(*total_);
    std::snprintf(line, sizeof line, "\r\033[K%zu/%zu %s (%.0f%%)  %.0f/s  %zu errors", done_, *total_, what_.c_str(),
                  pct, rate, errors_);
  } else {
    std::snprintf(line, sizeof line, "\r\033[K%zu %s  %.0f/s  %zu errors", done_, what_.c_str(), rate, errors_);
  }
  std::fputs(line, stderr);
  std::fflush(stderr);
  drawn_ = true;
}

void Progress::finish() {
  if (!active_ || !drawn_) return;
  std::fputs("\r\033[K", stderr);
  std::fflush(stderr);
  drawn_ = false;
}

}  // namespace green::tools
