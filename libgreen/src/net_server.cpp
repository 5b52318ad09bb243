// StreamServer and DatagramServer.
//
// The accept loop calls accept4(SOCK_NONBLOCK) itself until it would block
// and only then parks on the listener (one readiness wait per burst of
// connections, none per connection). Handler greenlets live in a Pool whose
// size is the connection limit, so "wait for a free slot" is Pool's own
// blocking spawn and "reject when full" is Pool::full().
#include <green/event.hpp>
#include <green/hub.hpp>
#include <green/io.hpp>
#include <green/net.hpp>
#include <green/yield.hpp>

#include <boost/asio/ip/v6_only.hpp>
#include <boost/asio/socket_base.hpp>

#include <cerrno>
#include <cstring>

#include <netinet/in.h>
#include <sys/socket.h>

namespace green::net {

namespace {

using namespace std::chrono_literals;

// A connection burst is accepted in slices, so the new handlers (and the
// rest of the hub) run between slices.
constexpr int kAcceptSlice = 64;

[[noreturn]] void throw_bind_error(const boost::system::error_code& ec, const std::string& where) {
  throw std::system_error(std::error_code(ec), "listen on " + where);
}

Tcp::endpoint endpoint_from(const sockaddr_storage& ss) {
  Tcp::endpoint ep;
  std::memcpy(ep.data(), &ss, ss.ss_family == AF_INET6 ? sizeof(sockaddr_in6) : sizeof(sockaddr_in));
  return ep;
}

template <class Socket>
void set_reuse_port(Socket& s, bool on) {
  int v = on ? 1 : 0;
  if (::setsockopt(s.native_handle(), SOL_SOCKET, SO_REUSEPORT, &v, sizeof v) != 0) {
    throw std::system_error(errno, std::system_category(), "setsockopt(SO_REUSEPORT)");
  }
}

}  // namespace

struct StreamServer::State : std::enable_shared_from_this<StreamServer::State> {
  State(Handler h, StreamServerOptions o)
      : acceptor(green::io_context()), handler(std::move(h)), opt(std::move(o)), pool(opt.max_connections) {}

  Tcp::acceptor acceptor;
  Handler handler;
  StreamServerOptions opt;
  green::Pool pool;
  green::GreenletRef accept_loop;
  green::Event done;
  Tcp::endpoint local;
  std::size_t accepted = 0;
  std::size_t rejected = 0;
  std::exception_ptr failure;  // what ended the accept loop, for serve_forever
  bool stopping = false;

  void open(const Tcp::endpoint& ep) {
    boost::system::error_code ec;
    const std::string where = to_string(ep);
    acceptor.open(ep.protocol(), ec);
    if (ec) throw_bind_error(ec, where);
    acceptor.set_option(Tcp::acceptor::reuse_address(true), ec);
    if (ep.address().is_v6()) acceptor.set_option(boost::asio::ip::v6_only(true), ec);
    if (opt.reuse_port) set_reuse_port(acceptor, true);
    acceptor.bind(ep, ec);
    if (ec) throw_bind_error(ec, where);
    acceptor.listen(opt.backlog, ec);
    if (ec) throw_bind_error(ec, where);
    // accept4() is called directly and must never block the hub.
    acceptor.native_non_blocking(true, ec);
    if (ec) throw_bind_error(ec, where);
    local = acceptor.local_endpoint(ec);
  }

  void run_handler(TcpStream& stream) {
    try {
      handler(stream);
    } catch (const GreenletExit&) {
      throw;
    } catch (...) {
      if (opt.on_error) opt.on_error(stream.remote_endpoint(), std::current_exception());
    }
  }

  void spawn_handler(Tcp::socket sock, const Tcp::endpoint& peer) {
    auto fn = [st = shared_from_this(), stream = TcpStream(std::move(sock), peer)]() mutable {
      st->run_handler(stream);
    };
    pool.add(green::spawn(SpawnOptions{opt.stack_size}, std::move(fn)));
  }

  void reject(Tcp::socket sock) {
    ++rejected;
    if (!opt.full_message.empty()) {
      (void)::send(sock.native_handle(), opt.full_message.data(), opt.full_message.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
    }
    boost::system::error_code ignored;
    sock.close(ignored);
  }

  // Returns when the listener is closed.
  void accept_forever() {
    int slice = 0;
    for (;;) {
      if (stopping || !acceptor.is_open()) return;
      if (!opt.reject_when_full && pool.full()) {
        pool.wait_available();
        continue;
      }
      sockaddr_storage ss{};
      socklen_t len = sizeof ss;
      const int fd =
          ::accept4(acceptor.native_handle(), reinterpret_cast<sockaddr*>(&ss), &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (fd < 0) {
        const int e = errno;
        if (e == EINTR || e == ECONNABORTED || e == EPROTO) continue;
        if (e == EAGAIN || e == EWOULDBLOCK) {
          slice = 0;
          boost::system::error_code ec;
          acceptor.async_wait(Tcp::acceptor::wait_read, green::yield[ec]);
          if (ec == boost::asio::error::operation_aborted || ec == boost::asio::error::bad_descriptor) return;
          continue;
        }
        if (e == EMFILE || e == ENFILE || e == ENOBUFS || e == ENOMEM) {
          // Out of descriptors: leave the clients in the backlog and retry
          // once some handler had a chance to finish.
          green::sleep(100ms);
          continue;
        }
        if (e == EBADF || e == EINVAL) return;  // the listener was closed
        throw std::system_error(e, std::system_category(), "accept on " + to_string(local));
      }
      ++accepted;
      const Tcp::endpoint peer = endpoint_from(ss);
      Tcp::socket sock(green::io_context());
      boost::system::error_code ec;
      sock.assign(peer.protocol(), fd, ec);
      if (ec) {
        ::close(fd);
        continue;
      }
      if (opt.reject_when_full && pool.full()) {
        reject(std::move(sock));
      } else {
        spawn_handler(std::move(sock), peer);
      }
      if (++slice >= kAcceptSlice) {
        slice = 0;
        green::sleep(Duration::zero());
      }
    }
  }
};

StreamServer::StreamServer(const Tcp::endpoint& local, Handler handler, StreamServerOptions options)
    : st_(std::make_shared<State>(std::move(handler), std::move(options))) {
  st_->open(local);
}

StreamServer::StreamServer(std::string_view host, std::uint16_t port, Handler handler, StreamServerOptions options)
    : StreamServer(Tcp::endpoint(parse_address(host), port), std::move(handler), std::move(options)) {}

StreamServer::~StreamServer() {
  stop_accepting();
  if (st_->accept_loop && !st_->accept_loop.dead()) st_->accept_loop.kill(GreenletExit{}, false);
  st_->pool.kill(false);
}

Tcp::endpoint StreamServer::local_endpoint() const { return st_->local; }

void StreamServer::start() {
  if (st_->accept_loop || st_->stopping) return;
  st_->accept_loop = green::spawn([st = st_] {
    // An accept loop that dies must not leave serve_forever waiting for a
    // stop() that nobody will call: the error ends it instead.
    try {
      st->accept_forever();
    } catch (const GreenletExit&) {
      throw;
    } catch (...) {
      st->failure = std::current_exception();
      boost::system::error_code ignored;
      st->acceptor.close(ignored);
      st->done.set();
    }
  });
}

void StreamServer::serve_forever() {
  start();
  st_->done.wait();
  if (st_->failure) std::rethrow_exception(st_->failure);
}

void StreamServer::stop_accepting() noexcept {
  boost::system::error_code ignored;
  st_->acceptor.close(ignored);
}

void StreamServer::stop(Duration grace) {
  auto st = st_;
  if (st->stopping) {
    st->done.wait();
    return;
  }
  st->stopping = true;
  stop_accepting();
  if (st->accept_loop && !st->accept_loop.dead()) st->accept_loop.kill();
  if (!st->pool.join(grace)) st->pool.kill();
  st->done.set();
}

std::size_t StreamServer::connections() const noexcept { return st_->pool.size(); }
std::size_t StreamServer::accepted() const noexcept { return st_->accepted; }
std::size_t StreamServer::rejected() const noexcept { return st_->rejected; }
bool StreamServer::stopped() const noexcept { return st_->stopping; }

// ---- DatagramServer ------------------------------------------------------------

struct DatagramServer::State {
  State(const Udp::endpoint& local, Handler h, std::size_t max)
      : socket(local), handler(std::move(h)), max_datagram(max) {}
  UdpSocket socket;
  Handler handler;
  std::size_t max_datagram;
  green::GreenletRef loop;
  green::Event done;
  std::exception_ptr failure;  // what ended the loop, for serve_forever
  bool stopping = false;
  bool in_handler = false;

  void receive_forever() {
    std::string buf(max_datagram, '\0');
    for (;;) {
      Udp::endpoint from;
      std::error_code ec;
      const std::size_t n = socket.receive_from(std::span<char>(buf.data(), buf.size()), from, ec);
      if (stopping || !socket.is_open()) return;
      if (ec) continue;  // e.g. ICMP errors reported on the socket
      in_handler = true;
      handler(socket, std::string_view(buf.data(), n), from);
      in_handler = false;
    }
  }
};

DatagramServer::DatagramServer(const Udp::endpoint& local, Handler handler, std::size_t max_datagram)
    : st_(std::make_shared<State>(local, std::move(handler), max_datagram)) {}

DatagramServer::~DatagramServer() {
  st_->stopping = true;
  if (st_->loop && !st_->loop.dead()) st_->loop.kill(GreenletExit{}, false);
}

Udp::endpoint DatagramServer::local_endpoint() const { return st_->socket.local_endpoint(); }

void DatagramServer::start() {
  if (st_->loop || st_->stopping) return;
  st_->loop = green::spawn([st = st_] {
    // A handler that throws ends the server, and serve_forever says so
    // (a lost exception would leave it waiting forever).
    try {
      st->receive_forever();
    } catch (const GreenletExit&) {
      throw;
    } catch (...) {
      st->failure = std::current_exception();
      st->in_handler = false;
      st->socket.close();
      st->done.set();
    }
  });
}

void DatagramServer::serve_forever() {
  start();
  st_->done.wait();
  if (st_->failure) std::rethrow_exception(st_->failure);
}

void DatagramServer::stop(Duration grace) {
  auto st = st_;
  if (st->stopping) {
    st->done.wait();
    return;
  }
  st->stopping = true;
  if (st->loop && !st->loop.dead()) {
    // The loop parks only in receive_from; a handler still running gets the
    // grace period to return.
    if (!st->in_handler || !st->loop.join(grace)) st->loop.kill();
  }
  st->socket.close();
  st->done.set();
}

}  // namespace green::net
