#include "common/progress.hpp"

#include "common/output.hpp"

#include <unistd.h>

#include <fmt/format.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace green::tools {

bool stderr_is_terminal() { return ::isatty(STDERR_FILENO) == 1; }

namespace {
// The progress line on screen, erased before a diagnostic is written.
Progress* g_shown = nullptr;
}  // namespace

namespace {
bool dumb_terminal() {
  const char* term = std::getenv("TERM");
  return term && std::strcmp(term, "dumb") == 0;
}
}  // namespace

Progress::Progress(std::string item, std::string items, std::string bad, std::string bads, bool enabled)
    : item_(std::move(item)),
      items_(std::move(items)),
      bad_(std::move(bad)),
      bads_(std::move(bads)),
      active_(enabled && stderr_is_terminal() && !dumb_terminal()),
      start_(Clock::now()) {
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

void Progress::update(std::size_t done, std::size_t bad) {
  if (!active_) return;
  done_ = done;
  bad_count_ = bad;
  const auto now = Clock::now();
  if (now - last_draw_ < std::chrono::milliseconds(100)) return;
  last_draw_ = now;
  draw();
}

void Progress::draw() {
  const double secs = std::chrono::duration<double>(Clock::now() - start_).count();
  const double rate = secs > 0 ? static_cast<double>(done_) / secs : 0.0;
  std::string line = "\r\033[K";
  if (total_ && *total_ > 0) {
    const double pct = 100.0 * static_cast<double>(done_) / static_cast<double>(*total_);
    line += fmt::format("{}/{} {} ({:.0f}%)", done_, *total_, *total_ == 1 ? item_ : items_, pct);
  } else {
    line += count_of(done_, item_, items_);
  }
  line += fmt::format("  {:.0f}/s  {}", rate, count_of(bad_count_, bad_, bads_));
  // A terminal held by ^S takes nothing: the line waits for a redraw that
  // finds stderr caught up, and the work never waits for it.
  Output& err = Output::err();
  if (err.pending() > 0) return;
  err.write_nowait(line);
  drawn_ = true;
}

void Progress::finish() {
  if (!active_ || !drawn_) return;
  Output::err().write_nowait("\r\033[K");
  drawn_ = false;
}

}  // namespace green::tools
