#include "fd_watch.hpp"

#include <green/io.hpp>

#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/system/system_error.hpp>

#include <unistd.h>

namespace green::detail {

using boost::asio::posix::stream_descriptor;

struct FdWatch::State {
  State(int f, Handler h, bool own, std::weak_ptr<void> keep)
      : sd(green::io_context()), fd(f), owned(own), fn(std::move(h)), keep_alive(std::move(keep)) {}
  stream_descriptor sd;
  int fd;
  bool owned;
  bool closed = false;
  bool want_read = false;
  bool want_write = false;
  bool reading = false;  // a read wait is pending
  bool writing = false;
  bool calling = false;  // inside fn: it may close the watch, but fn stays until it returns
  Handler fn;
  std::weak_ptr<void> keep_alive;

  void close() noexcept {
    if (closed) return;
    closed = true;
    boost::system::error_code ignored;
    sd.cancel(ignored);
    sd.release();
    if (owned) ::close(fd);
    // What fn captured may own this state's owner: let go of it now, unless
    // fn is running (it is dropped when it returns).
    if (!calling) fn = nullptr;
  }

  static void arm(const std::shared_ptr<State>& st) {
    if (st->want_read && !st->reading) wait(st, true);
    if (st->want_write && !st->writing) wait(st, false);
  }

  static void wait(const std::shared_ptr<State>& st, bool read) {
    (read ? st->reading : st->writing) = true;
    st->sd.async_wait(read ? stream_descriptor::wait_read : stream_descriptor::wait_write,
                      [st, keep = st->keep_alive.lock(), read](const boost::system::error_code& ec) {
                        (read ? st->reading : st->writing) = false;
                        if (ec || st->closed) return;
                        if (!(read ? st->want_read : st->want_write)) return;
                        st->calling = true;
                        st->fn(read, st->closed);
                        st->calling = false;
                        if (st->closed) {
                          st->fn = nullptr;
                          return;
                        }
                        try {
                          arm(st);
                        } catch (...) {
                          // Out of memory: the library's own timeouts end
                          // what waited on this descriptor.
                        }
                      });
  }
};

FdWatch::FdWatch(int fd, Handler on_ready, bool own_fd, std::weak_ptr<void> keep_alive) {
  try {
    st_ = std::make_shared<State>(fd, std::move(on_ready), own_fd, std::move(keep_alive));
  } catch (...) {
    if (own_fd) ::close(fd);
    throw;
  }
  boost::system::error_code ec;
  st_->sd.assign(fd, ec);
  if (ec) {
    if (own_fd) ::close(fd);
    st_->closed = true;
    st_.reset();
    throw boost::system::system_error(ec, "green: watching descriptor " + std::to_string(fd));
  }
}

FdWatch& FdWatch::operator=(FdWatch&& o) noexcept {
  if (this != &o) {
    close();
    st_ = std::move(o.st_);
  }
  return *this;
}

FdWatch::~FdWatch() { close(); }

void FdWatch::want(bool read, bool write) {
  st_->want_read = read;
  st_->want_write = write;
  if (!st_->closed) State::arm(st_);
}

int FdWatch::fd() const noexcept { return st_ && !st_->closed ? st_->fd : -1; }

void FdWatch::close() noexcept {
  if (st_) st_->close();
}

}  // namespace green::detail
