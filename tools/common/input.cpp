#include "common/input.hpp"

#include "common/output.hpp"
#include "common/subcommand.hpp"

#include <green/hub.hpp>
#include <green/io.hpp>

#include <boost/asio/buffer.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>

#include <fcntl.h>
#include <poll.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>

namespace green::tools {

std::string_view without_bom(std::string_view text) {
  if (text.starts_with("\xEF\xBB\xBF")) text.remove_prefix(3);
  return text;
}

std::string read_all_stdin() {
  const int flags = ::fcntl(STDIN_FILENO, F_GETFL);
  if (flags < 0 || (flags & O_ACCMODE) == O_WRONLY)
    throw UsageError(std::string("cannot read stdin: ") + std::strerror(EBADF));
  std::string text;
  char chunk[64 * 1024];
  for (;;) {
    const ssize_t n = ::read(STDIN_FILENO, chunk, sizeof chunk);
    if (n > 0) {
      text.append(chunk, static_cast<std::size_t>(n));
    } else if (n == 0) {
      return text;
    } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
      pollfd p{STDIN_FILENO, POLLIN, 0};
      ::poll(&p, 1, -1);
    } else if (errno != EINTR) {
      throw UsageError(std::string("cannot read stdin: ") + std::strerror(errno));
    }
  }
}

namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t' || s.front() == '\r')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.remove_suffix(1);
  return s;
}

bool skipped(std::string_view line) { return line.empty() || line.front() == '#'; }

// Lines of a whole file that next() would return.
std::size_t count_lines(std::istream& in) {
  std::size_t total = 0;
  bool first = true;
  for (std::string line; std::getline(in, line); first = false)
    if (!skipped(trim(first ? without_bom(line) : line))) ++total;
  return total;
}

}  // namespace

struct InputLines::Source {
  std::string name;
  int fd = -1;
  bool owned = false;   // we opened it and close it
  bool shared = false;  // stdin's own description, not a regular file: wait_read() before each read
  bool eof = false;
  std::size_t lineno = 0;
  // Pipes, terminals and sockets are waited on through the hub. Asio sets
  // O_NONBLOCK on the descriptor, which is shared by everything that holds
  // the same open file: so stdin is reopened through /proc first, and the
  // shell's terminal or the upstream pipe never sees the flag.
  std::unique_ptr<boost::asio::posix::stream_descriptor> pollable;

  ~Source() {
    if (pollable) {
      boost::system::error_code ignored;
      pollable->close(ignored);  // closes fd
    } else if (owned && fd >= 0) {
      ::close(fd);
    }
  }
};

InputLines::InputLines(std::vector<std::string> files) : files_(std::move(files)) {
  if (files_.empty()) files_.push_back("-");
}

InputLines::~InputLines() = default;

std::string InputLines::open_source(Source& src, const std::string& name) {
  src.name = name;
  if (name == "-") {
    src.name = "stdin";  // as diagnostics name it: "stdin:3: ..."
    src.fd = STDIN_FILENO;
    // main() puts a write-only /dev/null on a stdin the shell closed (`<&-`)
    // so that no other open lands on fd 0: it must read as closed.
    const int flags = ::fcntl(STDIN_FILENO, F_GETFL);
    if (flags < 0 || (flags & O_ACCMODE) == O_WRONLY) return std::strerror(EBADF);
  } else {
    src.fd = ::open(name.c_str(), O_RDONLY | O_CLOEXEC);
    if (src.fd < 0) return std::strerror(errno);
    src.owned = true;
  }
  struct stat st;
  if (::fstat(src.fd, &st) != 0) return std::strerror(errno);
  if (S_ISDIR(st.st_mode)) return std::strerror(EISDIR);
  if (S_ISREG(st.st_mode) || S_ISBLK(st.st_mode)) return {};
  int fd = src.fd;
  if (!src.owned) fd = ::open(("/proc/self/fd/" + std::to_string(src.fd)).c_str(), O_RDONLY | O_CLOEXEC);
  if (fd >= 0) {
    src.pollable = std::make_unique<boost::asio::posix::stream_descriptor>(green::io_context(), fd);
    src.owned = true;
    src.fd = fd;
  } else {
    // No second description (no /proc, or a socket: ENXIO): the shared one,
    // waited on through the hub, whatever its O_NONBLOCK says.
    src.shared = true;
  }
  return {};
}

bool InputLines::open_next() {
  src_.reset();
  while (next_file_ < files_.size()) {
    auto src = std::make_unique<Source>();
    const std::string& name = files_[next_file_++];
    const std::string why = open_source(*src, name);
    if (why.empty()) {
      src_ = std::move(src);
      return true;
    }
    src_ = std::move(src);
    skip_source(why);
  }
  return false;
}

void InputLines::skip_source(const std::string& why) {
  ++unreadable_;
  if (!counting_) diag_error("cannot read {}: {}", printable(src_->name), why);
  src_.reset();
  buf_.clear();
  pos_ = 0;
}

bool InputLines::fill() {
  if (pos_ > 0) {
    buf_.erase(0, pos_);
    pos_ = 0;
  }
  const std::size_t old = buf_.size();
  constexpr std::size_t kChunk = 64 * 1024;
  buf_.resize(old + kChunk);
  std::size_t got = 0;
  if (src_->pollable) {
    auto& sd = *src_->pollable;
    auto [ec, n] = green::await_op<boost::system::error_code, std::size_t>(
        [&](auto handler) { sd.async_read_some(boost::asio::buffer(buf_.data() + old, kChunk), std::move(handler)); },
        [&] {
          boost::system::error_code ignored;
          sd.cancel(ignored);
        });
    if (ec == boost::asio::error::eof) {
      src_->eof = true;
    } else if (ec) {
      buf_.resize(old);
      skip_source(ec.message());
      return false;
    }
    got = n;
  } else {
    ssize_t n;
    for (;;) {
      if (src_->shared && green::in_hub()) green::wait_read(src_->fd);
      n = ::read(src_->fd, buf_.data() + old, kChunk);
      if (n >= 0 || errno == EINTR) {
        if (n >= 0) break;
        continue;
      }
      if (errno != EAGAIN && errno != EWOULDBLOCK) break;
      if (!green::in_hub()) {
        pollfd p{src_->fd, POLLIN, 0};
        ::poll(&p, 1, -1);
      }
    }
    if (n < 0) {
      const int err = errno;
      buf_.resize(old);
      skip_source(std::strerror(err));
      return false;
    }
    if (n == 0) src_->eof = true;
    got = static_cast<std::size_t>(n);
  }
  buf_.resize(old + got);
  return got > 0;
}

std::optional<InputLine> InputLines::next() {
  for (;;) {
    if (!src_ && !open_next()) return std::nullopt;
    const std::size_t nl = buf_.find('\n', pos_);
    std::string_view raw;
    bool have = false;
    overlong_ = false;
    if (nl != std::string::npos) {
      raw = std::string_view(buf_).substr(pos_, nl - pos_);
      pos_ = nl + 1;
      have = true;
    } else if (buf_.size() - pos_ >= kMaxLine) {
      // Cut an overlong line and skip the rest of it.
      raw = std::string_view(buf_).substr(pos_, kMaxLine);
      std::string cut(raw);
      pos_ = buf_.size();
      for (;;) {
        if (src_->eof) break;
        if (!fill() && !src_) break;
        const std::size_t end = buf_.find('\n', pos_);
        if (end != std::string::npos) {
          pos_ = end + 1;
          break;
        }
        pos_ = buf_.size();
      }
      if (!src_) continue;  // it could not be read to the end: the error said so
      ++src_->lineno;
      overlong_ = true;
      if (src_->lineno == 1) cut = std::string(without_bom(cut));
      return InputLine{std::move(cut), src_->name, src_->lineno};
    } else if (src_->eof) {
      if (pos_ < buf_.size()) {
        raw = std::string_view(buf_).substr(pos_);
        pos_ = buf_.size();
        have = true;
      } else {
        buf_.clear();
        pos_ = 0;
        src_.reset();
        continue;
      }
    } else {
      fill();
      continue;
    }
    if (have) {
      ++src_->lineno;
      if (src_->lineno == 1) raw = without_bom(raw);
      const std::string_view line = trim(raw);
      if (skipped(line)) continue;
      return InputLine{std::string(line), src_->name, src_->lineno};
    }
  }
}

std::optional<std::size_t> InputLines::count_rest() {
  if (src_ && src_->pollable) return std::nullopt;
  for (std::size_t i = next_file_; i < files_.size(); ++i) {
    struct stat st;
    const bool regular = files_[i] == "-" ? ::fstat(STDIN_FILENO, &st) == 0 : ::stat(files_[i].c_str(), &st) == 0;
    if (!regular || !S_ISREG(st.st_mode)) return std::nullopt;
  }
  std::size_t n = 0;
  counting_ = true;  // an unreadable file counts as nothing
  while (next()) ++n;
  return n;
}

std::optional<std::size_t> InputLines::count_if_files() const {
  std::size_t total = 0;
  for (const std::string& f : files_) {
    if (f == "-") {
      struct stat st;
      if (::fstat(STDIN_FILENO, &st) != 0 || !S_ISREG(st.st_mode)) return std::nullopt;
      // Count from a second description so stdin's own offset is untouched.
      std::ifstream in("/proc/self/fd/0");
      if (!in) return std::nullopt;
      total += count_lines(in);
      continue;
    }
    struct stat st;
    if (::stat(f.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) return std::nullopt;
    std::ifstream in(f);
    if (!in) return std::nullopt;
    total += count_lines(in);
  }
  return total;
}

}  // namespace green::tools
