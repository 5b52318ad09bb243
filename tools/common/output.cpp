#include "common/output.hpp"

#include "common/color.hpp"

#include <green/hub.hpp>
#include <green/io.hpp>

#include <boost/asio/posix/stream_descriptor.hpp>

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <optional>

namespace green::tools {

namespace {
constexpr std::size_t kBatch = 64 * 1024;
constexpr std::size_t kLimit = 256 * 1024;  // bytes waiting before a producer parks
constexpr auto kMaxDelay = std::chrono::milliseconds(100);
constexpr auto kGiveUp = std::chrono::seconds(1);  // after a stop: a reader this quiet is not coming back
constexpr std::size_t kDiagLimit = 64 * 1024;      // diagnostics waiting for stderr before they are dropped
std::string g_tool = "green";
void (*g_before_diag)() = nullptr;

Output* g_err = nullptr;  // Output::err() once made: it does not report on itself

// The tools' hubs other than the first (serve --threads) run on other
// threads; an Output's buffer belongs to the main thread's hub.
bool on_main_thread() { return ::gettid() == ::getpid(); }

}  // namespace

Output& Output::out() {
  static Output o(STDOUT_FILENO, false, "stdout");
  return o;
}

Output& Output::err() {
  static Output o(STDERR_FILENO, true, "stderr");
  g_err = &o;
  return o;
}

Output::Output(int fd, bool eager, const char* name)
    : fd_(fd), tty_(::isatty(fd) == 1), eager_(eager || tty_), name_(name) {
  room_.set();
  struct stat st;
  if (::fstat(fd, &st) != 0) return;  // not open: the first write reports it
  if (S_ISSOCK(st.st_mode)) {
    socket_ = pollable_ = true;  // MSG_DONTWAIT leaves the shared socket's flags alone
    return;
  }
  if (!S_ISFIFO(st.st_mode) && !tty_) return;  // regular files, /dev/null, /dev/full: plain writes
  // O_NONBLOCK belongs to the open file description, which the shell's
  // terminal or the other writers of the pipe share: setting it on fd 1
  // would hand them EAGAIN (and a crash in a program that does not expect
  // it) if green died before restoring it. A second description of the same
  // pipe or terminal carries the flag for green alone. Without /proc (or
  // with the pipe's reader already gone: ENXIO) the writes stay blocking.
  const int again =
      ::open(("/proc/self/fd/" + std::to_string(fd)).c_str(), O_WRONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
  if (again >= 0) {
    fd_ = again;
    pollable_ = true;
  }
}

void Output::line(std::string_view text) { append(text, true); }

void Output::write(std::string_view bytes) { append(bytes, false); }

void Output::write_nowait(std::string_view bytes) { append(bytes, false, false); }

void Output::append(std::string_view bytes, bool newline, bool may_wait) {
  if (closed_ || failed_) return;
  // A big piece (a fetch --cat body) with nothing waiting before it goes out
  // from where it lies: only what the descriptor does not take is copied.
  if (!newline && bytes.size() >= kBatch && pending() == 0) {
    while (!bytes.empty()) {
      const ssize_t n = socket_ ? ::send(fd_, bytes.data(), bytes.size(), MSG_DONTWAIT | MSG_NOSIGNAL)
                                : ::write(fd_, bytes.data(), bytes.size());
      if (n < 0) {
        if (errno == EINTR) continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) break;
        fail(errno);
        return;
      }
      bytes.remove_prefix(static_cast<std::size_t>(n));
      progress_.set();
    }
    if (bytes.empty()) return;
  }
  if (head_ > 0 && head_ >= pending()) {
    buf_.erase(0, head_);
    head_ = 0;
  }
  buf_.append(bytes);
  if (newline) buf_.push_back('\n');
  if (!green::in_hub()) return flush();
  if (eager_ || pending() >= kBatch) {
    if (try_write()) return;
    urgent_.set();  // the reader is behind: the drainer waits for room
  }
  start_drainer();
  while (may_wait && pending() >= kLimit && !stopping_ && !closed_ && !failed_) {
    room_.clear();
    room_.wait();
  }
}

bool Output::try_write() {
  while (pending() > 0) {
    const char* p = buf_.data() + head_;
    const ssize_t n = socket_ ? ::send(fd_, p, pending(), MSG_DONTWAIT | MSG_NOSIGNAL) : ::write(fd_, p, pending());
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) return false;
      fail(errno);
      return true;
    }
    head_ += static_cast<std::size_t>(n);
    progress_.set();
    if (pending() < kLimit) room_.set();
  }
  buf_.clear();
  head_ = 0;
  return true;
}

void Output::block_until_writable() {
  pollfd p{fd_, POLLOUT, 0};
  while (::poll(&p, 1, -1) < 0 && errno == EINTR) {
  }
}

void Output::start_drainer() {
  if (drainer_ && !drainer_.ready()) return;
  drainer_ = green::spawn([this] { drain(); });
}

void Output::drain() {
  // Registered with the hub only once the reader falls behind; released
  // (never closed) whichever way this greenlet ends.
  std::optional<boost::asio::posix::stream_descriptor> sd;
  struct Release {
    std::optional<boost::asio::posix::stream_descriptor>& sd;
    ~Release() {
      if (sd) sd->release();
    }
  } release{sd};
  while (pending() > 0 && !closed_ && !failed_) {
    if (!eager_ && pending() < kBatch && !urgent_.is_set()) urgent_.wait(kMaxDelay);
    if (try_write()) continue;
    if (!pollable_) {
      block_until_writable();  // a descriptor someone else made non-blocking
      continue;
    }
    if (!sd) sd.emplace(green::io_context(), fd_);
    green::await_op<boost::system::error_code>(
        [&](auto handler) {
          sd->async_wait(boost::asio::posix::stream_descriptor::wait_write, std::move(handler));
        },
        [&] {
          boost::system::error_code ignored;
          sd->cancel(ignored);
        });
  }
  urgent_.clear();
  progress_.set();
}

void Output::flush() { flush_until(false); }

void Output::flush_at_exit() {
  note_dropped(true);
  flush_until(true);
}

void Output::flush_until(bool give_up_when_stuck) {
  if (!green::in_hub() || !pollable_) {
    while (pending() > 0 && !closed_ && !failed_)
      if (!try_write()) block_until_writable();
    return;
  }
  while (pending() > 0 && !closed_ && !failed_) {
    urgent_.set();
    start_drainer();
    progress_.clear();
    if (!stopping_ && !give_up_when_stuck) {
      progress_.wait();
    } else if (!progress_.wait(kGiveUp)) {
      give_up();
      return;
    }
  }
}

void Output::diag(std::string_view line, bool keep) {
  if (!on_main_thread()) {
    // No buffer to share with the main hub: the whole line in one write (a
    // pipe takes a line this short whole or not at all), or dropped.
    ssize_t n;
    do {
      n = socket_ ? ::send(fd_, line.data(), line.size(), MSG_DONTWAIT | MSG_NOSIGNAL)
                  : ::write(fd_, line.data(), line.size());
    } while (n < 0 && errno == EINTR);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) ++dropped_elsewhere_;
    return;
  }
  if (closed_ || failed_) return;  // given up on: nobody to tell
  if (!keep && green::in_hub() && pending() + line.size() > kDiagLimit) {
    ++dropped_;
    return;
  }
  note_dropped(false);
  append(line, false, false);
}

void Output::note_dropped(bool force) {
  const std::size_t n = dropped_ + dropped_elsewhere_.exchange(0);
  dropped_ = 0;
  if (n == 0 || closed_ || failed_) return;
  const std::string note =
      fmt::format("{}: {} dropped: {} was not read fast enough\n", g_tool, count_of(n, "diagnostic line"), name_);
  if (!force && pending() + note.size() > kDiagLimit) {
    dropped_ = n;
    return;
  }
  append(note, false, false);
}

void Output::stop_waiting() noexcept {
  stopping_ = true;
  room_.set();
  progress_.set();  // a flush() already waiting starts its give-up clock now
}

void Output::give_up() {
  const std::size_t left = pending();
  buf_.clear();
  head_ = 0;
  failed_ = true;  // drop what comes; not closed(): the summary is still wanted
  if (drainer_ && !drainer_.ready()) drainer_.kill();
  if (this != g_err) diag_warn("{} of output not written: {} is not being read", human_bytes(left), name_);
}

void Output::fail(int err) {
  if (err == EPIPE) {
    closed_ = true;  // the reader left: quietly
  } else {
    failed_ = true;
    error_ = err;
    if (this != g_err) diag_error("cannot write {}: {}", name_, std::strerror(err));
  }
  buf_.clear();
  head_ = 0;
  room_.set();
  progress_.set();
  if (on_closed_) {
    auto fn = std::move(on_closed_);
    on_closed_ = nullptr;
    fn();
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

std::string count_of(std::uint64_t n, std::string_view one, std::string_view many) {
  if (n == 1) return fmt::format("1 {}", one);
  if (many.empty()) return fmt::format("{} {}s", n, one);
  return fmt::format("{} {}", n, many);
}

std::string printable(std::string_view s, std::size_t max) {
  std::string out;
  std::size_t i = 0;
  while (i < s.size()) {
    if (out.size() >= max) {
      out += "...";
      break;
    }
    const auto c = static_cast<unsigned char>(s[i]);
    // A well-formed UTF-8 sequence stays as it is (names and URLs in other
    // scripts read as typed), except U+0080..U+009F: C1 controls, which some
    // terminals obey (U+009B is a CSI).
    const std::size_t len = c < 0x80 ? 1 : (c & 0xe0) == 0xc0 ? 2 : (c & 0xf0) == 0xe0 ? 3 : (c & 0xf8) == 0xf0 && c <= 0xf4 ? 4 : 0;
    bool keep = len > 0 && i + len <= s.size();
    for (std::size_t k = 1; keep && k < len; ++k) keep = (static_cast<unsigned char>(s[i + k]) & 0xc0) == 0x80;
    if (keep && len == 1) keep = c >= 0x20 && c != 0x7f && c != '\\';
    if (keep && len == 2) keep = c >= 0xc2 && !(c == 0xc2 && static_cast<unsigned char>(s[i + 1]) < 0xa0);
    if (keep) {
      out.append(s.substr(i, len));
      i += len;
    } else {
      out += fmt::format("\\x{:02x}", c);
      ++i;
    }
  }
  return out;
}

void set_before_diag(void (*fn)()) { g_before_diag = fn; }

void diag_line(std::string_view message, Severity severity, bool keep) {
  if (g_before_diag && on_main_thread()) g_before_diag();
  std::string line = g_tool;
  line += ": ";
  if (severity == Severity::info)
    line += message;
  else
    line += paint(message, severity == Severity::error ? Color::red : Color::yellow, color_stderr());
  line += '\n';
  Output::err().diag(line, keep);
}

}  // namespace green::tools
