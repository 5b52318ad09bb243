// A one-line progress display on stderr, only when stderr is a terminal.
#pragma once

#include <green/detail/core.hpp>

#include <cstddef>
#include <optional>
#include <string>

namespace green::tools {

class Progress {
 public:
  /// `item` and `items` name what is counted ("URL", "URLs"); `bad` and
  /// `bads` name the second count, which must be what the tool's summary
  /// counts under that name ("error": fetch's ERR lines, not its 404s). Draws only if
  /// `enabled`, stderr is a terminal and TERM is not "dumb" (which cannot
  /// erase a line).
  Progress(std::string item, std::string items, std::string bad, std::string bads, bool enabled);
  ~Progress();
  Progress(const Progress&) = delete;
  Progress& operator=(const Progress&) = delete;

  bool active() const noexcept { return active_; }
  void set_total(std::optional<std::size_t> total) { total_ = total; }
  /// Cheap to call per item: redraws at most 10 times a second.
  void update(std::size_t done, std::size_t bad);
  /// Erases the line (before the summary is printed).
  void finish();

 private:
  void draw();
  std::string item_, items_, bad_, bads_;
  bool active_;
  std::optional<std::size_t> total_;
  std::size_t done_ = 0;
  std::size_t bad_count_ = 0;
  Clock::time_point start_;
  Clock::time_point last_draw_{};
  bool drawn_ = false;
};

/// Whether stderr is a terminal (progress bars and colour default on).
bool stderr_is_terminal();

}  // namespace green::tools
