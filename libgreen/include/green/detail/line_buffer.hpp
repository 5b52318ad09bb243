// The read-ahead buffer of green's byte streams (net::TcpStream,
// net::TlsStream): what read_line() read past the end of a line, served first
// by the stream's later reads.
//
// Nothing here is part of the stable API; the streams hold one by value.
#pragma once

#include <cstddef>
#include <memory>
#include <span>
#include <string>
#include <system_error>

namespace green::detail {

class LineBuffer {
 public:
  LineBuffer() = default;
  LineBuffer(LineBuffer&& other) noexcept;
  LineBuffer& operator=(LineBuffer&& other) noexcept;
  LineBuffer(const LineBuffer&) = delete;
  LineBuffer& operator=(const LineBuffer&) = delete;
  ~LineBuffer();

  /// Bytes read ahead and not consumed yet.
  std::size_t size() const noexcept { return end_ - begin_; }
  bool empty() const noexcept { return begin_ == end_; }

  /// Moves up to buf.size() buffered bytes into `buf`; returns the count.
  std::size_t take(std::span<char> buf) noexcept;

  /// The streams' read_line(max): at most `max` bytes, up to and including
  /// '\n'; "" at end of stream. `read(span, ec)` is the stream's read_some,
  /// called with the buffer's space whenever it is empty (so it must serve
  /// this buffer first, which is empty then); 0 from it ends the line (end
  /// of stream, or `ec` set). Switch point as `read` is.
  template <class Read>
  std::string read_line(std::size_t max, std::error_code& ec, Read&& read) {
    ec.clear();
    std::string line;
    if (max == 0) return line;
    while (!append_line(line, max)) {
      const std::span<char> space = make_room();
      end_ = read(space, ec);
      if (end_ == 0) break;
    }
    return line;
  }

 private:
  // Moves buffered bytes up to the next '\n' (or `max` in all) onto `line`;
  // true when the line is complete.
  bool append_line(std::string& line, std::size_t max);
  // Empties the buffer (allocated on first use) and returns all of it.
  std::span<char> make_room();

  std::unique_ptr<char[]> buf_;
  std::size_t begin_ = 0;
  std::size_t end_ = 0;
};

}  // namespace green::detail
