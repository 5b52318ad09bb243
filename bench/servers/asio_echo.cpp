// The baseline for `green serve echo`: a plain single-threaded Boost.Asio
// callback echo server (async_read_some -> async_write -> ...), with the same
// 16 KiB buffer and TCP_NODELAY as green's. Usage: asio_echo PORT
#include <boost/asio.hpp>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <memory>

namespace asio = boost::asio;
using asio::ip::tcp;

namespace {

class Session : public std::enable_shared_from_this<Session> {
 public:
  explicit Session(tcp::socket s) : socket_(std::move(s)) {}
  void start() {
    boost::system::error_code ec;
    socket_.set_option(tcp::no_delay(true), ec);
    read();
  }

 private:
  void read() {
    socket_.async_read_some(asio::buffer(buf_),
                            [self = shared_from_this()](boost::system::error_code ec, std::size_t n) {
                              if (!ec) self->write(n);
                            });
  }
  void write(std::size_t n) {
    asio::async_write(socket_, asio::buffer(buf_.data(), n),
                      [self = shared_from_this()](boost::system::error_code ec, std::size_t) {
                        if (!ec) self->read();
                      });
  }
  tcp::socket socket_;
  std::array<char, 16 * 1024> buf_;
};

void accept(tcp::acceptor& acc) {
  acc.async_accept([&acc](boost::system::error_code ec, tcp::socket s) {
    if (!ec) std::make_shared<Session>(std::move(s))->start();
    accept(acc);
  });
}

}  // namespace

int main(int argc, char** argv) {
  asio::io_context io(1);
  tcp::acceptor acc(io);
  tcp::endpoint ep(asio::ip::make_address("127.0.0.1"), static_cast<unsigned short>(argc > 1 ? std::atoi(argv[1]) : 0));
  acc.open(ep.protocol());
  acc.set_option(tcp::acceptor::reuse_address(true));
  acc.bind(ep);
  acc.listen(4096);
  std::fprintf(stderr, "listening on 127.0.0.1:%u\n", acc.local_endpoint().port());
  accept(acc);
  asio::signal_set sigs(io, SIGINT, SIGTERM);
  sigs.async_wait([&](auto, int) { io.stop(); });
  io.run();
}
