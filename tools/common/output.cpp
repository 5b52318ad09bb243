#include "common/output.hpp"

#include <green/hub.hpp>

#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>

namespace green::tools {

namespace {
constexpr std::size_t kBatch = 64 * 1024;
constexpr auto kMaxDelay = std::chrono::milliseconds(100);
std::string g_tool = "green";
}  // namespace

Output& Output::out() {
  static Output o(STDOUT_FILENO);
  return o;
}

Output::Output(int fd) : fd_(fd), tty_(::isatty(fd) == 1) {}

void Output::line(std::string_view text) {
  if (closed_) return;
  buf_.append(text);
  buf_.push_back('\n');
  if (tty_ || buf_.size() >= kBatch) flush();
  else schedule_flush();
}

void Output::write(std::string_view bytes) {
  if (closed_) return;
  buf_.append(bytes);
  if (buf_.size() >= kBatch) flush();
  else if (tty_) flush();
  else schedule_flush();
}

void Output::schedule_flush() {
  // One greenlet per batch window writes whatever is pending when it wakes.
  if (flusher_ && !flusher_.ready()) return;
  if (!green::in_hub()) return flush();
  flusher_ = green::spawn([this] {
    green::sleep(kMaxDelay);
    flush();
  });
}

void Output::flush() {
  if (buf_.empty() || closed_) {
    buf_.clear();
    return;
  }
  write_now(buf_);
  buf_.clear();
}

void Output::write_now(std::string_view bytes) {
  // A blocking write: stdout is shared with the shell or the next program in
  // the pipeline, so it is never switched to non-blocking mode. A slow reader
  // downstream therefore paces the whole tool, which is the backpressure a
  // pipeline expects.
  while (!bytes.empty()) {
    const ssize_t n = ::write(fd_, bytes.data(), bytes.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      closed_ = true;  // EPIPE (the reader left) or any other write error
      if (on_closed_) {
        auto fn = std::move(on_closed_);
        on_closed_ = nullptr;
        fn();
      }
      return;
    }
    bytes.remove_prefix(static_cast<std::size_t>(n));
  }
}

void set_tool_name(std::string name) { g_tool = "green " + std::move(name); }
const std::string& tool_name() { return g_tool; }

void diag_line(std::string_view message) {
  std::string line = g_tool;
  line += ": ";
  line += message;
  line += '\n';
  std::fwrite(line.data(), 1, line.size(), stderr);
}

}  // namespace green::tools
