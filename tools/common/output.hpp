// Results on stdout, diagnostics on stderr.
#pragma once

#include <green/greenlet.hpp>

#include <fmt/format.h>

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

namespace green::tools {

/// Buffered stdout for result lines. On a terminal every line is written at
/// once; otherwise lines are batched (one write per 64 KiB) but never held
/// longer than 100 ms, so a pipeline sees results as they come. A closed
/// stdout (EPIPE, as with `| head -n 1`) is not an error: closed() turns
/// true, further output is dropped, and on_closed() callbacks run so the tool
/// can stop quietly (run_tool makes the exit status 0).
class Output {
 public:
  /// The process's stdout.
  static Output& out();

  void line(std::string_view text);  // writes text and '\n'
  void write(std::string_view bytes);
  void flush();
  bool closed() const noexcept { return closed_; }
  /// The write error that closed stdout (ENOSPC, EIO, ...; already reported
  /// on stderr), or 0: still open, or closed by its reader (EPIPE, quietly).
  int error() const noexcept { return error_; }
  bool is_terminal() const noexcept { return tty_; }

  /// Called once (on the hub, never switching) when stdout is found closed.
  void on_closed(std::function<void()> fn) { on_closed_ = std::move(fn); }

 private:
  explicit Output(int fd);
  void schedule_flush();
  void write_now(std::string_view bytes);

  int fd_;
  bool tty_;
  bool closed_ = false;
  int error_ = 0;
  std::string buf_;
  green::GreenletRef flusher_;
  std::function<void()> on_closed_;
};

/// The running tool's name, for diagnostics ("green fetch: ...").
void set_tool_name(std::string name);
const std::string& tool_name();

/// "512 B", "1.5 KiB", "3.2 GiB".
std::string human_bytes(std::uint64_t bytes);

enum class Severity { info, warning, error };

/// One diagnostic line on stderr: "green TOOL: message". With colour on
/// stderr (see color.hpp) the message of a warning is yellow and of an error
/// red. A progress line on the terminal is erased first (it redraws itself).
void diag_line(std::string_view message, Severity severity = Severity::info);

/// Called before a diagnostic is written (the progress display erases its line).
void set_before_diag(void (*fn)());

template <class... A>
void diag(fmt::format_string<A...> f, A&&... args) {
  diag_line(fmt::format(f, std::forward<A>(args)...));
}

template <class... A>
void diag_warn(fmt::format_string<A...> f, A&&... args) {
  diag_line(fmt::format(f, std::forward<A>(args)...), Severity::warning);
}

template <class... A>
void diag_error(fmt::format_string<A...> f, A&&... args) {
  diag_line(fmt::format(f, std::forward<A>(args)...), Severity::error);
}

}  // namespace green::tools
