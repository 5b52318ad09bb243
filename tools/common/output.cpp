#include "common/output.hpp"

#include "common/color.hpp"

#include <green/hub.hpp>

#include <poll.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>

namespace green::tools {

namespace {
constexpr std::size_t kBatch = 64 * 1024;
constexpr auto kMaxDelay = std::chrono::milliseconds(100);
std::string g_tool = "green";
void (*g_before_diag)() = nullptr;
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
  if (tty_ || buf_.size() >= kBatch)
    flush();
  else
    schedule_flush();
}

void Output::write(std::string_view bytes) {
  if (closed_) return;
  buf_.append(bytes);
  if (buf_.size() >= kBatch)
    flush();
  else if (tty_)
    flush();
  else
    schedule_flush();
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
      const int e = errno;
      if (e == EINTR) continue;
      if (e == EAGAIN || e == EWOULDBLOCK) {
        // Someone else made the shared description non-blocking: wait for
        // room, as the blocking write would have.
        pollfd p{fd_, POLLOUT, 0};
        ::poll(&p, 1, -1);
        continue;
      }
      closed_ = true;
      // The reader leaving (`| head`) ends the run quietly; a full disk or
      // an I/O error loses results, so it is said.
      if (e != EPIPE) {
        error_ = e;
        diag_line(std::string("cannot write stdout: ") + std::strerror(e), Severity::error);
      }
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

std::string human_bytes(std::uint64_t b) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double v = static_cast<double>(b);
  int u = 0;
  while (v >= 1024 && u < 4) {
    v /= 1024;
    ++u;
  }
  return u == 0 ? fmt::format("{} B", b) : fmt::format("{:.1f} {}", v, units[u]);
}

void set_before_diag(void (*fn)()) { g_before_diag = fn; }

void diag_line(std::string_view message, Severity severity) {
  if (g_before_diag) g_before_diag();
  std::string line = g_tool;
  line += ": ";
  if (severity == Severity::info)
    line += message;
  else
    line += paint(message, severity == Severity::error ? Color::red : Color::yellow, color_stderr());
  line += '\n';
  std::fwrite(line.data(), 1, line.size(), stderr);
}

}  // namespace green::tools
