#include <green/detail/line_buffer.hpp>

#include <algorithm>
#include <cstring>
#include <utility>

namespace green::detail {

namespace {

constexpr std::size_t kSize = 16 * 1024;

}  // namespace

LineBuffer::LineBuffer(LineBuffer&& other) noexcept
    : buf_(std::move(other.buf_)), begin_(std::exchange(other.begin_, 0)), end_(std::exchange(other.end_, 0)) {}

LineBuffer& LineBuffer::operator=(LineBuffer&& other) noexcept {
  buf_ = std::move(other.buf_);
  begin_ = std::exchange(other.begin_, 0);
  end_ = std::exchange(other.end_, 0);
  return *this;
}

LineBuffer::~LineBuffer() = default;

std::size_t LineBuffer::take(std::span<char> buf) noexcept {
  const std::size_t n = std::min(buf.size(), size());
  if (n != 0) std::memcpy(buf.data(), buf_.get() + begin_, n);
  begin_ += n;
  return n;
}

bool LineBuffer::append_line(std::string& line, std::size_t max) {
  if (empty()) return false;
  const char* start = buf_.get() + begin_;
  const std::size_t avail = std::min(size(), max - line.size());
  const void* nl = std::memchr(start, '\n', avail);
  const std::size_t n = nl ? static_cast<std::size_t>(static_cast<const char*>(nl) - start) + 1 : avail;
  line.append(start, n);
  begin_ += n;
  return line.size() == max || line.back() == '\n';
}

std::span<char> LineBuffer::make_room() {
  // Not zeroed: only the pages reads reach become resident (a line-reading
  // connection that gets short lines keeps one of the four).
  if (!buf_) buf_ = std::make_unique_for_overwrite<char[]>(kSize);
  begin_ = end_ = 0;
  return {buf_.get(), kSize};
}

}  // namespace green::detail
