// green::net streams and UDP sockets.
//
// The fast path of every read and write is the plain non-blocking system
// call on the socket; only EAGAIN parks the greenlet, on an Asio operation
// run with green::yield (async_read_some for reads, so the reactor performs the read
// when the socket becomes readable and the completion carries the data;
// async_wait(wait_write) for the rare full send buffer). Mixing our own
// recv/send with Asio's reactor is safe because both run on the hub's thread
// and Asio re-checks readiness when an operation is queued.
#include "hub_impl.hpp"

#include <green/hub.hpp>
#include <green/io.hpp>
#include <green/net.hpp>
#include <green/timeout.hpp>
#include <green/yield.hpp>

#include <boost/asio/buffer.hpp>
#include <boost/asio/detail/reactor.hpp>
#include <boost/asio/detail/reactor_op.hpp>
#include <boost/asio/ip/address.hpp>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <string>
#include <utility>

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/resource.h>
#include <sys/sendfile.h>
#include <sys/socket.h>

namespace green::net {

namespace {

// Reads that found data without parking before read_some yields once. A
// yield costs one switch and no system call; 16 reads of a busy socket are
// up to 256 KiB, so the other greenlets (say, the writers that must drain
// what this reader produces) run at least that often.
constexpr unsigned kYieldEvery = 16;

std::error_code sys_error(int e) { return {e, std::system_category()}; }

std::error_code to_std(const boost::system::error_code& ec) { return ec; }

// try_read()'s EAGAIN. Comparing with an errc goes through two virtual
// category calls even for a clear code, once per read on the hot path.
bool would_block(const std::error_code& ec) noexcept { return ec && ec == std::errc::operation_would_block; }

[[noreturn]] void throw_error(const std::error_code& ec, const std::string& what) { throw std::system_error(ec, what); }

// Waits until `sock` is readable or writable (`what`), reading and writing
// nothing. An async_wait re-arms the descriptor's epoll registration, so
// readiness that arrived before the wait is not missed.
template <class Socket>
boost::system::error_code await_ready(Socket& sock, typename Socket::wait_type what) {
  boost::system::error_code ec;
  sock.async_wait(what, green::yield[ec]);
  return ec;
}

}  // namespace

std::size_t raise_open_files_limit() noexcept {
  rlimit rl{};
  if (::getrlimit(RLIMIT_NOFILE, &rl) != 0) return 0;
  if (rl.rlim_cur < rl.rlim_max) {
    rlimit want = rl;
    want.rlim_cur = rl.rlim_max;
    if (::setrlimit(RLIMIT_NOFILE, &want) == 0) rl = want;
  }
  return static_cast<std::size_t>(rl.rlim_cur);
}

void ignore_sigpipe() noexcept {
  struct sigaction sa {};
  sa.sa_handler = SIG_IGN;
  sigemptyset(&sa.sa_mask);
  ::sigaction(SIGPIPE, &sa, nullptr);
}

address parse_address(std::string_view host, std::error_code& ec) noexcept {
  ec.clear();
  if (host.empty() || host == "*") return boost::asio::ip::address_v4::any();
  if (host == "localhost") return boost::asio::ip::address_v4::loopback();
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  boost::system::error_code bec;
  address a = boost::asio::ip::make_address(std::string(host), bec);
  if (bec) ec = to_std(boost::asio::error::host_not_found);
  return a;
}

address parse_address(std::string_view host) {
  std::error_code ec;
  address a = parse_address(host, ec);
  if (ec) {
    throw_error(ec, "cannot use host '" + std::string(host) +
                        "': only numeric IPv4/IPv6 addresses and localhost are supported");
  }
  return a;
}

std::string to_string(const Tcp::endpoint& ep) {
  const auto a = ep.address();
  std::string s = a.is_v6() ? "[" + a.to_string() + "]" : a.to_string();
  return s + ":" + std::to_string(ep.port());
}

std::string to_string(const Udp::endpoint& ep) { return to_string(Tcp::endpoint(ep.address(), ep.port())); }

// ---- TcpStream ---------------------------------------------------------------

// Read readiness without a system call per wait.
//
// An Asio async_wait(wait_read) re-arms the descriptor with epoll_ctl on every
// call (Asio cannot know whether readiness was missed since the last one), so
// a request/response round trip cost three system calls (epoll_ctl, recv,
// send), as many as plain Asio's (a speculative recv that finds nothing, recv,
// send). Instead, the first wait_readable() puts two watches into the queues
// of Asio's epoll reactor for the socket and leaves them there: the socket is
// registered edge-triggered once, and the reactor calls a watch's perform() on
// every event for its queue; perform() marks the stream and wakes its waiter
// but reports "not done", so the watch stays queued. The read watch sees data
// and end of stream; the error watch sees EPOLLERR/EPOLLHUP (a reset).
//
// The stream clears its readable mark only when a recv proves the socket
// empty: EAGAIN, or a read whose TCP_INQ hint says no byte and no FIN is left
// (the kernel reports a FIN as one byte), with no reset seen. Any byte that
// arrives later raises a new edge. A round trip is then recv + send.
//
// The watches must leave the queues before any Asio read operation on the
// socket (they would sit in front of it forever): read_some() and socket()
// drop them. They point at the stream's ReadState, never at a greenlet's
// stack, so a Timeout or kill during the wait has nothing to cancel.
namespace {

struct Watch;

struct ReadState {
  Watch* read_watch = nullptr;  // queued in the reactor, or null
  Watch* error_watch = nullptr;
  green::detail::GreenletBase* waiter = nullptr;  // parked in wait_readable()
  bool readable = false;                          // not proven empty since the last event
  bool reset = false;                             // EPOLLERR/EPOLLHUP seen: never trust a hint again
  bool inq = false;                               // TCP_INQ is on: reads report what is left
};

struct Watch : boost::asio::detail::reactor_op {
  Watch(ReadState* s, bool error)
      : reactor_op(boost::system::error_code(), &Watch::perform_fn, &Watch::complete_fn), state(s), for_errors(error) {
    cancellation_key_ = this;
  }
  static void notify(ReadState* s) noexcept {
    s->readable = true;
    if (green::detail::GreenletBase* g = std::exchange(s->waiter, nullptr)) green::detail::wake(g);
  }
  // Called by the reactor on each event for this queue, and once from inside
  // start_op (a speculative try, before `armed`), which says nothing.
  static status perform_fn(reactor_op* base) {
    auto* w = static_cast<Watch*>(base);
    if (ReadState* s = w->state; s && w->armed) {
      if (w->for_errors) s->reset = true;
      notify(s);
    }
    return not_done;
  }
  // Runs only when the watch leaves its queue: cancelled, socket closed or
  // not registered (owner set), or the io_context destroyed (owner null).
  static void complete_fn(void* owner, boost::asio::detail::operation* base, const boost::system::error_code&,
                          std::size_t) {
    auto* w = static_cast<Watch*>(base);
    if (ReadState* s = w->state) {
      (w->for_errors ? s->error_watch : s->read_watch) = nullptr;
      if (owner) notify(s);  // the waiter tries to read and sees what happened
    }
    delete w;
  }
  ReadState* state;  // null once the stream let go of the watch
  bool for_errors;
  bool armed = false;
};

// The reactor registration of an Asio socket (a protected member of
// basic_socket, reached through a derived class).
struct SocketAccess : Tcp::socket {
  static auto& impl(Tcp::socket& s) { return (s.*(&SocketAccess::impl_)).get_implementation(); }
};

}  // namespace

struct TcpStream::Impl {
  explicit Impl(Tcp::socket s) : sock(std::move(s)) {}
  Impl(const Impl&) = delete;
  Impl& operator=(const Impl&) = delete;
  ~Impl() { release_watches(false); }

  using Reactor = boost::asio::detail::reactor;

  // Lets go of the watches; with `cancel`, also takes them out of the
  // reactor's queues (closing the socket does that by itself).
  void release_watches(bool cancel) noexcept {
    for (auto [slot, queue] :
         {std::pair{&rs.read_watch, int(Reactor::read_op)}, {&rs.error_watch, int(Reactor::except_op)}}) {
      Watch* w = std::exchange(*slot, nullptr);
      if (!w) continue;
      w->state = nullptr;
      if (cancel && sock.is_open()) {
        auto& si = SocketAccess::impl(sock);
        reactor().cancel_ops_by_key(si.socket_, si.reactor_data_, queue, w);
      }
    }
  }

  // Queues the watches. Readiness that came before them was missed, so one
  // peek says whether there is something to read now; whatever arrives after
  // it raises a new edge, which the watches see.
  void start_watches() {
    auto& si = SocketAccess::impl(sock);
    if (!rs.inq) {
      const int on = 1;
      rs.inq = ::setsockopt(si.socket_, SOL_TCP, TCP_INQ, &on, sizeof on) == 0;
    }
    auto start = [&](Watch*& slot, int queue, bool for_errors) {
      auto* w = new Watch(&rs, for_errors);
      slot = w;
      reactor().start_op(queue, si.socket_, si.reactor_data_, w, false, true);
      w->armed = true;
    };
    if (!rs.read_watch) start(rs.read_watch, Reactor::read_op, false);
    if (!rs.error_watch) start(rs.error_watch, Reactor::except_op, true);
    char c;
    ssize_t n;
    do {
      n = ::recv(si.socket_, &c, 1, MSG_PEEK | MSG_DONTWAIT);
    } while (n < 0 && errno == EINTR);
    rs.readable = !(n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK));
  }

  Reactor& reactor() { return boost::asio::use_service<Reactor>(sock.get_executor().context()); }

  Tcp::socket sock;
  ReadState rs;
};

TcpStream::TcpStream() = default;
TcpStream::TcpStream(Tcp::socket socket, Tcp::endpoint peer)
    : impl_(std::make_unique<Impl>(std::move(socket))), peer_(peer) {}
TcpStream::TcpStream(TcpStream&&) noexcept = default;
TcpStream& TcpStream::operator=(TcpStream&&) noexcept = default;
TcpStream::~TcpStream() { close(); }

bool TcpStream::is_open() const noexcept { return impl_ && impl_->sock.is_open(); }

int TcpStream::native_handle() noexcept { return is_open() ? impl_->sock.native_handle() : -1; }

Tcp::socket& TcpStream::socket() {
  if (!impl_) throw std::logic_error("green::net::TcpStream::socket() on a stream that was never opened");
  impl_->release_watches(true);  // Asio reads through it now
  return impl_->sock;
}

void TcpStream::close() noexcept {
  if (!impl_) return;
  impl_->release_watches(false);
  if (green::detail::GreenletBase* g = std::exchange(impl_->rs.waiter, nullptr)) green::detail::wake(g);
  boost::system::error_code ignored;
  impl_->sock.close(ignored);
}

Tcp::endpoint TcpStream::local_endpoint(std::error_code& ec) const noexcept {
  ec.clear();
  if (!is_open()) {
    ec = sys_error(EBADF);
    return {};
  }
  boost::system::error_code bec;
  auto ep = impl_->sock.local_endpoint(bec);
  ec = to_std(bec);
  return ep;
}

void TcpStream::set_nodelay(bool on, std::error_code& ec) noexcept {
  ec.clear();
  if (!is_open()) {
    ec = sys_error(EBADF);
    return;
  }
  boost::system::error_code bec;
  impl_->sock.set_option(Tcp::no_delay(on), bec);
  ec = to_std(bec);
}

TcpStream TcpStream::connect(const Tcp::endpoint& ep, Duration timeout, std::error_code& ec) {
  ec.clear();
  Tcp::socket s(green::io_context());
  boost::system::error_code bec;
  s.open(ep.protocol(), bec);
  if (bec) {
    ec = to_std(bec);
    return {};
  }
  if (!green::try_with_timeout(timeout, [&] { s.async_connect(ep, green::yield[bec]); })) {
    ec = std::make_error_code(std::errc::timed_out);
    return {};
  }
  if (bec) {
    ec = to_std(bec);
    return {};
  }
  return TcpStream(std::move(s), ep);
}

TcpStream TcpStream::connect(const Tcp::endpoint& ep, Duration timeout) {
  std::error_code ec;
  TcpStream s = connect(ep, timeout, ec);
  if (ec) throw_error(ec, "connect to " + to_string(ep));
  return s;
}

TcpStream TcpStream::connect(std::string_view host, std::uint16_t port, Duration timeout, std::error_code& ec) {
  // As gevent's create_connection: every address in turn, the last error wins.
  const auto deadline = detail::deadline_after(timeout);
  const std::vector<address> addrs = resolve(host, resolve_options(), ec);
  for (const address& a : addrs) {
    const Duration left = deadline == detail::no_deadline ? forever : deadline - Clock::now();
    if (left <= Duration::zero()) {
      ec = std::make_error_code(std::errc::timed_out);
      break;
    }
    TcpStream s = connect(Tcp::endpoint(a, port), left, ec);
    if (!ec) return s;
  }
  return {};
}

TcpStream TcpStream::connect(std::string_view host, std::uint16_t port, Duration timeout) {
  std::error_code ec;
  TcpStream s = connect(host, port, timeout, ec);
  if (ec) throw_error(ec, "connect to " + std::string(host) + " port " + std::to_string(port));
  return s;
}

// What read_some and read_shared do before they would wait: buffered bytes,
// errors, end of stream, the yield that keeps a flooding peer from starving
// the others, and a recv on a streaming socket. nullopt: the caller waits.
std::optional<std::size_t> TcpStream::read_without_waiting(std::span<char> buf, std::error_code& ec) {
  ec.clear();
  if (buf.empty()) return 0;
  if (!rbuf_.empty()) return rbuf_.take(buf);
  if (!is_open()) {
    ec = sys_error(EBADF);
    return 0;
  }
  green::detail::check_interrupt();
  // Nothing follows a FIN. Asio also marks a socket that returned end of
  // stream as exhausted and would wait for an epoll edge that never comes.
  if (eof_) return 0;
  if (++streak_ >= kYieldEvery) {
    streak_ = 0;
    green::sleep(Duration::zero());
    if (!is_open()) {
      ec = std::make_error_code(std::errc::operation_canceled);
      return 0;
    }
  }
  // Request/response traffic (the last read waited and did not fill the
  // buffer) goes straight to the wait: read_some's async_read_some makes its
  // own speculative recv, which finds data that is already there (one recv
  // per read, as with plain Asio), and read_shared wastes no recv on an empty
  // socket. Streaming traffic (buffers come back full) tries recv first and
  // skips the trip through the hub.
  if (!async_mode_) {
    const std::size_t n = try_read(buf, ec);
    if (!would_block(ec)) return n;
    ec.clear();
  }
  streak_ = 0;
  return std::nullopt;
}

std::size_t TcpStream::read_some(std::span<char> buf, std::error_code& ec) {
  if (const auto n = read_without_waiting(buf, ec)) return *n;
  impl_->release_watches(true);
  boost::system::error_code bec;
  const std::size_t n = impl_->sock.async_read_some(boost::asio::buffer(buf.data(), buf.size()), green::yield[bec]);
  async_mode_ = n < buf.size();
  if (bec == boost::asio::error::eof) {
    eof_ = true;
    return 0;
  }
  if (bec) ec = to_std(bec);
  return n;
}

std::size_t TcpStream::read_some(std::span<char> buf) {
  std::error_code ec;
  const std::size_t n = read_some(buf, ec);
  if (ec) throw_error(ec, "read from " + to_string(peer_));
  return n;
}

std::size_t TcpStream::read_shared(std::span<char> buf, std::error_code& ec) { return read_shared(buf, forever, ec); }

std::size_t TcpStream::read_shared(std::span<char> buf, Duration idle, std::error_code& ec) {
  if (const auto n = read_without_waiting(buf, ec)) return *n;
  // The wait reads nothing, the recv after it has no switch point before the
  // return.
  for (;;) {
    // The idle limit is armed around the wait only: a Timeout per read (armed
    // and cancelled even when the bytes are already there) cost streaming echo
    // most of its throughput.
    if (idle == forever) {
      wait_readable(ec);
    } else if (!green::try_with_timeout(idle, [&] { wait_readable(ec); })) {
      ec = std::make_error_code(std::errc::timed_out);
      return 0;
    }
    if (ec) return 0;
    const std::size_t n = try_read(buf, ec);
    if (would_block(ec)) continue;  // woken without data
    async_mode_ = n < buf.size();
    return n;
  }
}

std::size_t TcpStream::read_shared(std::span<char> buf) {
  std::error_code ec;
  const std::size_t n = read_shared(buf, ec);
  if (ec) throw_error(ec, "read from " + to_string(peer_));
  return n;
}

std::size_t TcpStream::try_read(std::span<char> buf, std::error_code& ec) noexcept {
  ec.clear();
  if (buf.empty()) return 0;
  if (!rbuf_.empty()) return rbuf_.take(buf);
  if (!is_open()) {
    ec = sys_error(EBADF);
    return 0;
  }
  if (eof_) return 0;
  ReadState& rs = impl_->rs;
  for (;;) {
    ssize_t n;
    int left = -1;  // bytes still queued after this read (a FIN counts as one), when known
    if (rs.inq) {
      iovec iov{buf.data(), buf.size()};
      alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))];
      msghdr msg{};
      msg.msg_iov = &iov;
      msg.msg_iovlen = 1;
      msg.msg_control = control;
      msg.msg_controllen = sizeof control;
      n = ::recvmsg(impl_->sock.native_handle(), &msg, 0);
      if (n > 0) {
        for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
          if (c->cmsg_level == SOL_TCP && c->cmsg_type == TCP_CM_INQ) std::memcpy(&left, CMSG_DATA(c), sizeof left);
        }
      }
    } else {
      n = ::recv(impl_->sock.native_handle(), buf.data(), buf.size(), 0);
    }
    if (n == 0) eof_ = true;
    if (n >= 0) {
      if (left == 0 && !rs.reset) rs.readable = false;
      return static_cast<std::size_t>(n);
    }
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
      rs.readable = false;
      ec = std::make_error_code(std::errc::operation_would_block);
    } else {
      ec = sys_error(errno);
    }
    return 0;
  }
}

bool TcpStream::wait_readable(std::error_code& ec) {
  ec.clear();
  if (!rbuf_.empty()) return false;
  if (!is_open()) {
    ec = sys_error(EBADF);
    return false;
  }
  green::detail::check_interrupt();
  if (eof_) return false;
  streak_ = 0;
  ReadState& rs = impl_->rs;
  if (!rs.read_watch || !rs.error_watch) impl_->start_watches();
  if (rs.readable) return false;
  green::detail::GreenletBase* self = green::detail::current();
  green::detail::IoRef io;
  while (!rs.readable && is_open()) {
    rs.waiter = self;
    green::detail::park();
    green::detail::Hub::get()->prefetch_next();
    if (rs.waiter == self) rs.waiter = nullptr;  // woken by an interrupt
    green::detail::check_interrupt();
  }
  if (!is_open()) ec = to_std(boost::asio::error::operation_aborted);
  return true;
}

void TcpStream::wait_readable() {
  std::error_code ec;
  wait_readable(ec);
  if (ec) throw_error(ec, "wait for " + to_string(peer_));
}

std::string TcpStream::read_line(std::size_t max, std::error_code& ec) {
  return rbuf_.read_line(max, ec, [this](std::span<char> space, std::error_code& e) { return read_some(space, e); });
}

std::string TcpStream::read_line(std::size_t max) {
  std::error_code ec;
  std::string line = read_line(max, ec);
  if (ec) throw_error(ec, "read from " + to_string(peer_));
  return line;
}

std::size_t TcpStream::try_write(std::string_view data, std::error_code& ec) noexcept {
  ec.clear();
  if (!is_open()) {
    ec = sys_error(EBADF);
    return 0;
  }
  for (;;) {
    const ssize_t n = ::send(impl_->sock.native_handle(), data.data(), data.size(), MSG_NOSIGNAL);
    if (n >= 0) return static_cast<std::size_t>(n);
    if (errno == EINTR) continue;
    if (errno != EAGAIN && errno != EWOULDBLOCK) ec = sys_error(errno);
    return 0;
  }
}

void TcpStream::write_all(std::string_view data, std::error_code& ec) {
  ec.clear();
  green::detail::check_interrupt();
  while (!data.empty()) {
    const std::size_t n = try_write(data, ec);
    if (ec) return;
    data.remove_prefix(n);
    if (data.empty()) return;
    if (auto bec = await_ready(impl_->sock, Tcp::socket::wait_write)) {
      ec = to_std(bec);
      return;
    }
  }
}

std::uint64_t TcpStream::send_file(int file_fd, std::uint64_t offset, std::uint64_t count, std::error_code& ec,
                                   Duration stall) {
  ec.clear();
  if (!is_open()) {
    ec = sys_error(EBADF);
    return 0;
  }
  green::detail::check_interrupt();
  // Chunks of at most 1 MiB, and a yield after 8 of them in a row that did
  // not park: a reader on loopback drains as fast as the kernel copies, and
  // the socket might never report a full buffer.
  constexpr std::uint64_t kChunk = 1 << 20;
  constexpr unsigned kChunksBeforeYield = 8;
  std::uint64_t sent = 0;
  unsigned streak = 0;
  // A body of more than one chunk is sent corked (nginx's tcp_nopush): each
  // sendfile call otherwise ends by pushing out its last, partly filled
  // segment. Uncorked when the body is done, or abandoned (kill, error), so
  // nothing waits for the kernel's 200 ms cork timer. 1 GiB from the page
  // cache to one curl on loopback: 1488 -> 1820 MB/s (median of 12
  // interleaved runs each, bench/RESULTS.md), for two setsockopt calls.
  struct Cork {
    int fd;
    bool on;
    void set(int v) const noexcept { ::setsockopt(fd, IPPROTO_TCP, TCP_CORK, &v, sizeof v); }
    ~Cork() {
      if (on) set(0);
    }
  } cork{impl_->sock.native_handle(), count > kChunk};
  if (cork.on) cork.set(1);
  while (sent < count) {
    auto off = static_cast<off_t>(offset + sent);
    const ssize_t n = ::sendfile(impl_->sock.native_handle(), file_fd, &off,
                                 static_cast<std::size_t>(std::min(kChunk, count - sent)));
    if (n > 0) {
      sent += static_cast<std::uint64_t>(n);
      if (++streak >= kChunksBeforeYield && sent < count) {
        streak = 0;
        green::sleep(Duration::zero());
        if (!is_open()) {
          ec = std::make_error_code(std::errc::operation_canceled);
          return sent;
        }
      }
      continue;
    }
    if (n == 0) return sent;  // the file is shorter than it was
    if (errno == EINTR) continue;
    if (errno != EAGAIN && errno != EWOULDBLOCK) {
      ec = sys_error(errno);
      return sent;
    }
    streak = 0;
    const auto waited = green::try_with_timeout(stall > Duration::zero() ? stall : forever,
                                                [&] { return await_ready(impl_->sock, Tcp::socket::wait_write); });
    if (!waited) {
      ec = std::make_error_code(std::errc::timed_out);
      return sent;
    }
    if (*waited) {
      ec = to_std(*waited);
      return sent;
    }
  }
  return sent;
}

std::uint64_t TcpStream::send_file(int file_fd, std::uint64_t offset, std::uint64_t count) {
  std::error_code ec;
  const std::uint64_t n = send_file(file_fd, offset, count, ec);
  if (ec) throw_error(ec, "send a file to " + to_string(peer_));
  return n;
}

void TcpStream::write_all(std::string_view data) {
  std::error_code ec;
  write_all(data, ec);
  if (ec) throw_error(ec, "write to " + to_string(peer_));
}

void TcpStream::shutdown_write(std::error_code& ec) noexcept {
  ec.clear();
  if (!is_open()) {
    ec = sys_error(EBADF);
    return;
  }
  boost::system::error_code bec;
  impl_->sock.shutdown(Tcp::socket::shutdown_send, bec);
  ec = to_std(bec);
}

void TcpStream::shutdown_write() {
  std::error_code ec;
  shutdown_write(ec);
  if (ec) throw_error(ec, "shutdown " + to_string(peer_));
}

// ---- UdpSocket ---------------------------------------------------------------

struct UdpSocket::Impl {
  explicit Impl(const Udp::endpoint& local) : sock(green::io_context(), local) {}
  Udp::socket sock;
};

UdpSocket::UdpSocket(const Udp::endpoint& local) {
  try {
    impl_ = std::make_unique<Impl>(local);
  } catch (const boost::system::system_error& e) {
    throw_error(to_std(e.code()), "bind UDP " + to_string(local));
  }
}
UdpSocket::UdpSocket(UdpSocket&&) noexcept = default;
UdpSocket& UdpSocket::operator=(UdpSocket&&) noexcept = default;
UdpSocket::~UdpSocket() { close(); }

void UdpSocket::close() noexcept {
  if (!impl_) return;
  boost::system::error_code ignored;
  impl_->sock.close(ignored);
}

bool UdpSocket::is_open() const noexcept { return impl_ && impl_->sock.is_open(); }

Udp::endpoint UdpSocket::local_endpoint() const { return impl_->sock.local_endpoint(); }

void UdpSocket::send_to(std::string_view data, const Udp::endpoint& to, std::error_code& ec) {
  ec.clear();
  if (!is_open()) {
    ec = sys_error(EBADF);
    return;
  }
  auto& sock = impl_->sock;
  boost::system::error_code bec;
  sock.async_send_to(boost::asio::buffer(data.data(), data.size()), to, green::yield[bec]);
  ec = to_std(bec);
}

void UdpSocket::send_to(std::string_view data, const Udp::endpoint& to) {
  std::error_code ec;
  send_to(data, to, ec);
  if (ec) throw_error(ec, "send to " + to_string(to));
}

std::size_t UdpSocket::receive_from(std::span<char> buf, Udp::endpoint& from, std::error_code& ec) {
  ec.clear();
  if (!is_open()) {
    ec = sys_error(EBADF);
    return 0;
  }
  auto& sock = impl_->sock;
  boost::system::error_code bec;
  const std::size_t n = sock.async_receive_from(boost::asio::buffer(buf.data(), buf.size()), from, green::yield[bec]);
  ec = to_std(bec);
  return n;
}

std::size_t UdpSocket::receive_from(std::span<char> buf, Udp::endpoint& from) {
  std::error_code ec;
  const std::size_t n = receive_from(buf, from, ec);
  if (ec) throw_error(ec, "receive on UDP socket");
  return n;
}

}  // namespace green::net
