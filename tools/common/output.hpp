// Results on stdout, diagnostics on stderr.
#pragma once

#include <green/event.hpp>
#include <green/greenlet.hpp>

#include <fmt/format.h>

#include <atomic>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

namespace green::tools {

/// Buffered stdout for results that never blocks the hub.
///
/// A pipe or terminal is written without blocking (through a second open
/// description of it, so the shell's terminal and the other processes on the
/// pipe never see O_NONBLOCK; a socket with MSG_DONTWAIT) and, when the reader
/// is slow, waited on by the hub: a writer greenlet drains the buffer, and a
/// producer that finds more than 256 KiB waiting parks until there is room, so
/// back-pressure reaches the greenlet that makes the output while timers,
/// signals and the network still run. A regular file (which epoll rejects) is
/// written with plain writes.
///
/// On a terminal lines go out at once; otherwise they are batched (one write
/// per 64 KiB) but never held longer than 100 ms.
///
/// A reader that left (EPIPE, as with `| head -n 1`) is not an error:
/// closed() turns true and further output is dropped. Any other write error
/// (ENOSPC, EIO: `> /dev/full`) is reported once on stderr and failed() turns
/// true. Either way the on_closed() callback runs, so the tool can stop
/// (run_tool ends quietly with 0 after EPIPE, with 1 after an error).
class Output {
 public:
  /// The process's stdout.
  static Output& out();
  /// The process's stderr, for what a tool passes on from others (cron's
  /// jobs): written at once, as stderr is, but a reader that is behind parks
  /// the writer instead of the whole hub. Its errors are not reported (there
  /// is nowhere to). Diagnostics (diag_line) queue behind what it holds, so
  /// the order stays.
  static Output& err();

  /// Appends text and '\n'. Inside a greenlet this may park while the
  /// reader is behind (never after stop_waiting()). Switch point.
  void line(std::string_view text);
  /// Appends bytes, as line() does.
  void write(std::string_view bytes);
  /// Appends bytes without ever parking, however far behind the reader is
  /// (a diagnostic must not be a switch point). Outside a hub it writes them
  /// as write() does.
  void write_nowait(std::string_view bytes);
  /// Bytes waiting for the reader.
  std::size_t pending() const noexcept { return buf_.size() - head_; }
  /// Waits until everything is written, or stdout closed or failed. After
  /// stop_waiting(), a reader that takes nothing for a second is given up
  /// on: what is left is dropped and its size reported on stderr. Switch
  /// point.
  void flush();
  /// flush() at the end of a run, giving up on a reader that takes nothing
  /// for a second whether or not the run was stopped (stderr: a summary is
  /// not worth hanging for). Switch point.
  void flush_at_exit();

  /// A diagnostic (a whole line) for stderr that never blocks and never
  /// switches, from any thread: queued behind what waits (bounded: beyond
  /// 64 KiB waiting it is dropped and counted, unless `keep`, as a summary
  /// is); on a thread other than the main one it is written at once or
  /// dropped and counted. A note of how many were dropped comes with the
  /// next one that fits and at flush_at_exit().
  void diag(std::string_view line, bool keep = false);

  /// The reader left (EPIPE).
  bool closed() const noexcept { return closed_; }
  /// A write error other than a closed pipe; already reported on stderr.
  bool failed() const noexcept { return failed_; }
  /// The errno of that error, or 0.
  int error() const noexcept { return error_; }
  bool is_terminal() const noexcept { return tty_; }

  /// Called once (never switching) when stdout is found closed or failing.
  void on_closed(std::function<void()> fn) { on_closed_ = std::move(fn); }

  /// The run is stopping (SIGINT, SIGTERM): writers no longer wait for room
  /// and flush() gives up on a reader that does not read.
  void stop_waiting() noexcept;

 private:
  Output(int fd, bool eager, const char* name);
  void append(std::string_view bytes, bool newline, bool may_wait = true);
  bool try_write();  // false: the descriptor would block
  void block_until_writable();
  void drain();
  void start_drainer();
  void fail(int err);
  void give_up();
  void flush_until(bool give_up_when_stuck);
  void note_dropped(bool force);

  int fd_;
  bool tty_;
  bool eager_;             // write at once (a terminal, stderr), else batch
  const char* name_;       // "stdout", for what it reports
  bool pollable_ = false;  // EAGAIN is possible and the hub can wait for room
  bool socket_ = false;    // written with send(MSG_DONTWAIT)
  bool closed_ = false;
  bool failed_ = false;
  int error_ = 0;
  bool stopping_ = false;
  std::string buf_;
  std::size_t head_ = 0;  // bytes of buf_ already written
  green::GreenletRef drainer_;
  green::Event urgent_;    // write now (terminal, a full batch, flush)
  green::Event room_;      // set while producers may append
  green::Event progress_;  // set by every write that made progress, and at the end
  std::function<void()> on_closed_;
  std::size_t dropped_ = 0;                       // diagnostics dropped on the main thread
  std::atomic<std::size_t> dropped_elsewhere_{0};  // ... and on the others (serve --threads)
};

/// The running tool's name, for diagnostics ("green fetch: ...").
void set_tool_name(std::string name);
const std::string& tool_name();

/// "512 B", "1.5 KiB", "3.2 GiB".
std::string human_bytes(std::uint64_t bytes);

/// "1 URL", "2 URLs"; "1 query", "3 queries" with the plural given.
std::string count_of(std::uint64_t n, std::string_view one, std::string_view many = {});

/// Input as a diagnostic may show it: control bytes (C0, DEL, C1), bytes
/// that are not UTF-8 and the backslash as \xNN, so a line can neither move
/// the cursor nor set a terminal's title; cut after `max` bytes with "...".
std::string printable(std::string_view input, std::size_t max = 200);

enum class Severity { info, warning, error };

/// One diagnostic line on stderr: "green TOOL: message". With colour on
/// stderr (see color.hpp) the message of a warning is yellow and of an error
/// red. A progress line on the terminal is erased first (it redraws itself).
/// Never blocks (Output::diag): a stderr nobody reads cannot stall the
/// work; `keep` (a summary) is queued even past the bound.
void diag_line(std::string_view message, Severity severity = Severity::info, bool keep = false);

/// Called before a diagnostic is written (the progress display erases its line).
void set_before_diag(void (*fn)());

template <class... A>
void diag(fmt::format_string<A...> f, A&&... args) {
  diag_line(fmt::format(f, std::forward<A>(args)...));
}

/// A summary line: as diag(), but never dropped for a full buffer (it still
/// waits at most flush_at_exit()'s second for a reader that does not read).
template <class... A>
void diag_summary(fmt::format_string<A...> f, A&&... args) {
  diag_line(fmt::format(f, std::forward<A>(args)...), Severity::info, true);
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
