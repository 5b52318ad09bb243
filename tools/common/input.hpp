// Input lines for every tool: files named on the command line, or stdin
// when none is given or one is "-". Streamed, never loaded whole.
#pragma once

#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace green::tools {

struct InputLine {
  std::string text;    // trimmed of surrounding whitespace and CR
  std::string source;  // the file name, or "stdin"
  std::size_t lineno;  // 1-based, counting every line of that source
};

/// Reads the inputs in order, one line at a time. Blank lines and lines
/// starting with '#' are skipped, a UTF-8 byte-order mark at the start of
/// each input too. Pipes and terminals are read cooperatively on the hub
/// (other greenlets run while the input is quiet); regular files (which
/// epoll rejects) with plain reads. A final line without a newline counts.
/// Lines longer than 1 MiB are cut there (the rest of the line is skipped)
/// and marked by `overlong`. An input that cannot be opened or read is
/// reported on stderr ("cannot read FILE: reason") and the next one is
/// read, as cat and grep do; unreadable() counts them.
class InputLines {
 public:
  explicit InputLines(std::vector<std::string> files);
  ~InputLines();
  InputLines(const InputLines&) = delete;
  InputLines& operator=(const InputLines&) = delete;

  /// The next line, or nothing at the end of the last input. Switch point.
  std::optional<InputLine> next();

  /// Inputs that could not be opened or read to the end (each reported):
  /// a tool exits 2 when there were any.
  std::size_t unreadable() const noexcept { return unreadable_; }

  /// True when the line just returned was cut at the length limit.
  bool overlong() const noexcept { return overlong_; }

  /// Whether every input is a regular file (so a total can be counted up
  /// front) and the total of non-blank, non-comment lines in them. Reads
  /// the files once; call before next().
  std::optional<std::size_t> count_if_files() const;

  /// After a stop: the lines next() would still have returned, when every
  /// input left is a regular file; nothing when one is a pipe or terminal
  /// (its rest is unknown). Reads the rest of the files; no switch point.
  std::optional<std::size_t> count_rest();

  static constexpr std::size_t kMaxLine = 1 << 20;

 private:
  struct Source;
  // Opens one input into `src`; the reason when it cannot be read.
  static std::string open_source(Source& src, const std::string& name);
  bool open_next();
  bool fill();
  void skip_source(const std::string& why);

  std::vector<std::string> files_;
  std::size_t next_file_ = 0;
  std::unique_ptr<Source> src_;
  std::string buf_;
  std::size_t pos_ = 0;
  bool overlong_ = false;
  std::size_t unreadable_ = 0;
  bool counting_ = false;  // count_rest(): the files left after a stop are not reported
};

/// `text` without a UTF-8 byte-order mark at its start.
std::string_view without_bom(std::string_view text);

/// Reads all of stdin, before the hub runs (a crontab given as `--tab -`):
/// waits with poll() when a shell left stdin non-blocking. Throws
/// UsageError("cannot read stdin: reason").
std::string read_all_stdin();

}  // namespace green::tools
