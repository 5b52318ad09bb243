#include "common/input.hpp"

#include "common/subcommand.hpp"

#include <green/io.hpp>

#include <boost/asio/buffer.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>

namespace green::tools {

namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t' || s.front() == '\r')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.remove_suffix(1);
  return s;
}

bool skipped(std::string_view line) { return line.empty() || line.front() == '#'; }

}  // namespace

struct InputLines::Source {
  std::string name;
  int fd = -1;
  bool owned = false;  // we opened it and close it
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

bool InputLines::open_next() {
  src_.reset();
  if (next_file_ == files_.size()) return false;
  auto src = std::make_unique<Source>();
  src->name = files_[next_file_++];
  if (src->name == "-") {
    src->name = "stdin";  // as diagnostics name it: "stdin:3: ..."
    src->fd = STDIN_FILENO;
  } else {
    src->fd = ::open(src->name.c_str(), O_RDONLY | O_CLOEXEC);
    if (src->fd < 0) throw UsageError("cannot read " + src->name + ": " + std::strerror(errno));
    src->owned = true;
  }
  struct stat st;
  if (::fstat(src->fd, &st) != 0) throw UsageError("cannot read " + src->name + ": " + std::strerror(errno));
  if (S_ISDIR(st.st_mode)) throw UsageError("cannot read " + src->name + ": Is a directory");
  if (!S_ISREG(st.st_mode) && !S_ISBLK(st.st_mode)) {
    int fd = src->fd;
    if (!src->owned) {
      fd = ::open(("/proc/self/fd/" + std::to_string(src->fd)).c_str(), O_RDONLY | O_CLOEXEC);
      if (fd < 0) fd = -1;  // no /proc: fall back to plain (blocking) reads of the shared descriptor
    }
    if (fd >= 0) {
      src->pollable = std::make_unique<boost::asio::posix::stream_descriptor>(green::io_context(), fd);
      src->owned = true;
      src->fd = fd;
    }
  }
  src_ = std::move(src);
  return true;
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
      throw UsageError("cannot read " + src_->name + ": " + ec.message());
    }
    got = n;
  } else {
    ssize_t n;
    do {
      n = ::read(src_->fd, buf_.data() + old, kChunk);
    } while (n < 0 && errno == EINTR);
    if (n < 0) {
      buf_.resize(old);
      throw UsageError("cannot read " + src_->name + ": " + std::strerror(errno));
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
        fill();
        const std::size_t end = buf_.find('\n', pos_);
        if (end != std::string::npos) {
          pos_ = end + 1;
          break;
        }
        pos_ = buf_.size();
      }
      ++src_->lineno;
      overlong_ = true;
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
  try {
    while (next()) ++n;
  } catch (const UsageError&) {
    // An unreadable file counts as nothing.
  }
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
      for (std::string line; std::getline(in, line);)
        if (!skipped(trim(line))) ++total;
      continue;
    }
    struct stat st;
    if (::stat(f.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) return std::nullopt;
    std::ifstream in(f);
    if (!in) return std::nullopt;
    for (std::string line; std::getline(in, line);)
      if (!skipped(trim(line))) ++total;
  }
  return total;
}

}  // namespace green::tools
