// green::net: cooperative TCP and UDP sockets and servers on the hub.
//
// Every call that can wait (connect, accept, read_some, read_line,
// write_all, receive_from, send_to, serve_forever, stop) is a switch point:
// the greenlet parks, others run, and a kill or an enclosing green::Timeout
// interrupts it (the pending Asio operation is cancelled first, so nothing
// touches the greenlet's buffers afterwards).
//
// Two ways to fail, chosen by the caller (as in Asio): the plain calls throw
// std::system_error; the overloads taking `std::error_code&` fill it instead
// and never throw an I/O error (GreenletExit and Timeout still propagate:
// cancellation is never an error code). green::proc::Pipe has the same shape
// (read_some into a buffer, read_line keeping '\n' with "" at end).
//
// Reads and writes try the system call first and only park when it would
// block (like gevent's sockets), so a socket that has data ready costs no
// trip through the hub. A stream that always has data ready yields to the
// other greenlets every few reads, so a flooding peer cannot starve them. Writes use MSG_NOSIGNAL: a peer that vanished
// is an error (EPIPE/ECONNRESET) on that connection only, never a SIGPIPE.
//
// Name resolution: connect() resolves names like gevent's
// socket.create_connection, without blocking the hub: resolve() reads the
// hosts file and asks green::dns (c-ares on the hub), in the order of
// nsswitch.conf's "hosts:" line, and connect() tries each address in turn.
// The servers accept numeric IPv4/IPv6 addresses and "localhost" only.
#pragma once

#include <green/detail/core.hpp>
#include <green/detail/line_buffer.hpp>
#include <green/dns.hpp>
#include <green/greenlet.hpp>
#include <green/pool.hpp>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ip/udp.hpp>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

namespace green::net {

using Tcp = boost::asio::ip::tcp;
using Udp = boost::asio::ip::udp;
using boost::asio::ip::address;

/// Raises the open-files soft limit (RLIMIT_NOFILE) to the hard limit, so a
/// server can hold thousands of connections without the user running
/// `ulimit -n`. Returns the soft limit in force afterwards. Never throws.
std::size_t raise_open_files_limit() noexcept;

/// Ignores SIGPIPE for the whole process (green's sockets already write with
/// MSG_NOSIGNAL; this covers pipes and other libraries). Never throws.
void ignore_sigpipe() noexcept;

/// Parses a numeric IPv4/IPv6 address (brackets allowed: "[::1]"), or
/// "localhost" (127.0.0.1), or "" / "*" (0.0.0.0, any IPv4). Never waits.
/// Throws std::system_error(host_not_found) for anything else.
address parse_address(std::string_view host);
address parse_address(std::string_view host, std::error_code& ec) noexcept;

/// Where resolve() looks a name up.
struct ResolveOptions {
  /// Parsed once and kept while its inode, size and modification time stay
  /// the same (one stat() per call), so an edit or a replacement is seen by
  /// the next call.
  std::string hosts_file = "/etc/hosts";
  /// Its "hosts:" line orders the sources: `files` (hosts_file) and `dns`;
  /// others (mdns, myhostname, ...) are skipped. Missing: files, then dns.
  std::string nsswitch_file = "/etc/nsswitch.conf";
  /// The DNS servers and timeouts; no servers: /etc/resolv.conf's.
  dns::Options dns = {};
};

/// The process-wide options resolve(host) and connect(host, ...) use.
void set_resolve_options(ResolveOptions options);
ResolveOptions resolve_options();

/// getaddrinfo on the hub: the addresses of `host`, from the first source
/// (in nsswitch order) that knows it: the hosts file (its lines for the
/// name, in file order), or DNS (A records, then AAAA). A numeric address
/// or "localhost" is returned as parse_address() reads it, without a
/// lookup. Throws std::system_error(host_not_found) naming the host when no
/// source has it. Switch point (DNS).
std::vector<address> resolve(std::string_view host, const ResolveOptions& options);
std::vector<address> resolve(std::string_view host);
std::vector<address> resolve(std::string_view host, const ResolveOptions& options, std::error_code& ec);

/// "127.0.0.1:8000" or "[::1]:8000".
std::string to_string(const Tcp::endpoint& ep);
std::string to_string(const Udp::endpoint& ep);

/// A connected TCP stream with a lazily allocated read buffer (an idle
/// connection that never reads a line costs no buffer). Movable, not
/// copyable. Belongs to the hub that created it.
class TcpStream {
 public:
  /// A closed stream (is_open() is false).
  TcpStream();
  /// Adopts a connected, non-blocking socket on the current hub.
  TcpStream(Tcp::socket socket, Tcp::endpoint peer);
  TcpStream(TcpStream&&) noexcept;
  TcpStream& operator=(TcpStream&&) noexcept;
  TcpStream(const TcpStream&) = delete;
  TcpStream& operator=(const TcpStream&) = delete;
  /// Closes the socket if still open. Never switches, never throws.
  ~TcpStream();

  /// Connects to `host` (a name is resolved with resolve(host) and each
  /// address tried in turn, `timeout` covering them all) port `port`,
  /// waiting up to `timeout`. Throws std::system_error (timed_out when the
  /// time runs out, connection_refused, host_not_found, ...). Switch point.
  static TcpStream connect(std::string_view host, std::uint16_t port, Duration timeout = forever);
  static TcpStream connect(std::string_view host, std::uint16_t port, Duration timeout, std::error_code& ec);
  static TcpStream connect(const Tcp::endpoint& ep, Duration timeout = forever);
  static TcpStream connect(const Tcp::endpoint& ep, Duration timeout, std::error_code& ec);

  /// Reads at least one byte (whatever is available, up to buf.size());
  /// returns 0 at end of stream (the peer half-closed or closed). Buffered
  /// bytes left by read_line() come first. Throws std::system_error.
  /// Switch point (waits while nothing is available).
  std::size_t read_some(std::span<char> buf);
  std::size_t read_some(std::span<char> buf, std::error_code& ec);

  /// read_some() that never writes `buf` while parked: it waits for data
  /// without a buffer (wait_readable()) and then reads, so `buf` may be
  /// shared by the thread's greenlets (green::scratch_buffer()) as long as
  /// the bytes are used or copied out before the next switch point. An idle
  /// connection then holds no buffer. Same end of stream, errors and yields
  /// as read_some(). Switch point.
  std::size_t read_shared(std::span<char> buf);
  std::size_t read_shared(std::span<char> buf, std::error_code& ec);
  /// read_shared() that gives up when no byte arrives for `idle` (`ec` set to
  /// std::errc::timed_out). The limit covers the waits only, so a stream that
  /// always has bytes waiting never arms a timer.
  std::size_t read_shared(std::span<char> buf, Duration idle, std::error_code& ec);

  /// Reads what has arrived, without waiting: buffered bytes left by
  /// read_line() first, else one recv. Returns the byte count (at most
  /// buf.size()); 0 at end of stream; 0 with `ec` set to
  /// std::errc::operation_would_block when nothing is there yet (then
  /// wait_readable()). Other errors set `ec`. Never switches, never throws.
  std::size_t try_read(std::span<char> buf, std::error_code& ec) noexcept;

  /// Waits until a read would not block: data or end of stream has arrived,
  /// or the socket has an error (the read reports it). Reads nothing, so a
  /// connection waiting for its peer needs no buffer: wait_readable(), then
  /// try_read() into a buffer shared with other connections. Returns at once
  /// if bytes are buffered or end of stream was seen. Throws
  /// std::system_error. Switch point (waits while nothing is available).
  /// The error_code form returns true when it parked: a recv had proven the
  /// socket empty, so what is there now came with an I/O event the hub
  /// delivered after the call; false when it returned at once (the bytes
  /// may have arrived at any time before it).
  void wait_readable();
  bool wait_readable(std::error_code& ec);

  /// Reads one line, up to and including '\n' (Python's readline(max)):
  /// returns at most `max` bytes, so a longer line comes back in pieces that
  /// do not end in '\n'; the last line before end of stream may lack its
  /// '\n'; an empty string means end of stream. Throws std::system_error.
  /// Switch point.
  std::string read_line(std::size_t max = 64 * 1024);
  std::string read_line(std::size_t max, std::error_code& ec);

  /// Writes every byte of `data`, waiting while the socket buffer is full.
  /// Throws std::system_error (broken_pipe, connection_reset, ...) and then
  /// the number of bytes already written is unknown. Switch point.
  void write_all(std::string_view data);
  void write_all(std::string_view data, std::error_code& ec);

  /// Writes what fits into the socket buffer now, without waiting; returns
  /// the number of bytes written (0 when full). Never switches.
  std::size_t try_write(std::string_view data, std::error_code& ec) noexcept;

  /// Sends `count` bytes of the open file `file_fd`, starting at `offset`,
  /// with sendfile(2): the kernel copies them from the page cache, nothing
  /// passes through this process. Waits while the socket buffer is full and
  /// yields to other greenlets every few megabytes, so one big file cannot
  /// starve them. Returns the bytes sent: `count`, or fewer when the file
  /// ended first (it shrank). Throws std::system_error, or fills `ec` (the
  /// peer got a prefix then). With a `stall` limit (not zero, not forever),
  /// a peer that takes no byte for that long ends it with timed_out.
  /// The file's own offset is not moved. Switch point.
  std::uint64_t send_file(int file_fd, std::uint64_t offset, std::uint64_t count);
  std::uint64_t send_file(int file_fd, std::uint64_t offset, std::uint64_t count, std::error_code& ec,
                          Duration stall = forever);

  /// Half-close: the peer reads end of stream; reading still works.
  /// Throws std::system_error. Never switches.
  void shutdown_write();
  void shutdown_write(std::error_code& ec) noexcept;

  /// Closes the socket; a greenlet parked on it gets operation_aborted.
  /// Idempotent. Never switches, never throws.
  void close() noexcept;

  bool is_open() const noexcept;
  /// Disables Nagle's algorithm (small writes go out at once).
  void set_nodelay(bool on, std::error_code& ec) noexcept;

  /// The peer's address, as seen at connect or accept (no system call).
  const Tcp::endpoint& remote_endpoint() const noexcept { return peer_; }
  Tcp::endpoint local_endpoint(std::error_code& ec) const noexcept;
  int native_handle() noexcept;
  /// The Asio socket, for Asio and Beast operations run with green::yield
  /// (gather writes, Beast's parsers and serializers). Bytes already
  /// buffered by read_line() are not seen by it: read those first
  /// (buffered()). Throws std::logic_error on a stream that was never
  /// opened.
  Tcp::socket& socket();
  /// Bytes read from the socket but not consumed yet.
  std::size_t buffered() const noexcept { return rbuf_.size(); }

 private:
  struct Impl;
  std::optional<std::size_t> read_without_waiting(std::span<char> buf, std::error_code& ec);
  std::unique_ptr<Impl> impl_;
  Tcp::endpoint peer_;
  detail::LineBuffer rbuf_;
  unsigned streak_ = 0;      // reads in a row that did not park (see read_some)
  bool async_mode_ = false;  // read through Asio first (see read_some)
  bool eof_ = false;         // the peer's FIN was read
};

/// A UDP socket on the hub.
class UdpSocket {
 public:
  /// Opens a socket bound to `local` (port 0 = the kernel picks one).
  /// Throws std::system_error.
  explicit UdpSocket(const Udp::endpoint& local);
  UdpSocket(UdpSocket&&) noexcept;
  UdpSocket& operator=(UdpSocket&&) noexcept;
  ~UdpSocket();

  /// Sends one datagram to `to`. Waits only if the socket buffer is full.
  /// Throws std::system_error. Switch point.
  void send_to(std::string_view data, const Udp::endpoint& to);
  void send_to(std::string_view data, const Udp::endpoint& to, std::error_code& ec);

  /// Waits for one datagram; copies at most buf.size() bytes of it (the rest
  /// is dropped, as with recvfrom) and returns that count, with the sender
  /// in `from`. Throws std::system_error. Switch point.
  std::size_t receive_from(std::span<char> buf, Udp::endpoint& from);
  std::size_t receive_from(std::span<char> buf, Udp::endpoint& from, std::error_code& ec);

  Udp::endpoint local_endpoint() const;
  /// Idempotent; never switches.
  void close() noexcept;
  bool is_open() const noexcept;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

/// Options for StreamServer.
struct StreamServerOptions {
  /// Most handler greenlets at once; 0 = no limit. See `reject_when_full`.
  std::size_t max_connections = 0;
  /// With a limit reached: true accepts the connection, writes
  /// `full_message` if it fits without waiting, and closes it; false stops
  /// accepting until a handler ends (clients wait in the listen backlog).
  bool reject_when_full = true;
  std::string full_message;
  /// listen() backlog.
  int backlog = 4096;
  /// SO_REUSEPORT, so several hubs (threads) can each own a listener on the
  /// same port and the kernel spreads connections between them.
  bool reuse_port = false;
  /// Stack size for handler greenlets (0 = the hub's default).
  std::size_t stack_size = 0;
  /// Called (in the handler's greenlet, must not throw) when a handler ends
  /// with an exception other than GreenletExit.
  std::function<void(const Tcp::endpoint& peer, std::exception_ptr)> on_error;
};

/// gevent's StreamServer: accepts connections and runs `handler(stream)` in
/// a new greenlet for each; the stream is closed when the handler returns.
/// Binds and listens in the constructor (port 0 = any free port; see
/// local_endpoint()). Accepting starts with start() or serve_forever().
/// The server must outlive its handlers: stop() (or destruction, which
/// kills them without waiting) ends them.
class StreamServer {
 public:
  using Handler = std::function<void(TcpStream&)>;

  /// Binds to `local` and listens. Throws std::system_error (address in
  /// use, permission denied, ...). Never switches.
  StreamServer(const Tcp::endpoint& local, Handler handler, StreamServerOptions options = {});
  /// `host` as for parse_address(); IPv6 listeners are IPv6-only.
  StreamServer(std::string_view host, std::uint16_t port, Handler handler, StreamServerOptions options = {});
  ~StreamServer();
  StreamServer(const StreamServer&) = delete;
  StreamServer& operator=(const StreamServer&) = delete;

  /// The bound address (with the real port when 0 was asked for).
  Tcp::endpoint local_endpoint() const;

  /// Starts accepting in a background greenlet. Never switches.
  void start();
  /// start(), then waits until stop() is called. If the accept loop fails
  /// (an accept error other than running out of descriptors), the listener
  /// is closed and serve_forever rethrows that error; handlers keep running
  /// until stop() or destruction. Switch point.
  void serve_forever();
  /// Graceful stop: closes the listener at once, waits up to `grace` for
  /// the handlers to return, then kills the rest and waits for them.
  /// Idempotent. Switch point.
  void stop(Duration grace = Duration::zero());
  /// Closes the listener only (handlers keep running). Never switches.
  void stop_accepting() noexcept;

  /// Handlers running now.
  std::size_t connections() const noexcept;
  /// Connections accepted so far (rejected ones included).
  std::size_t accepted() const noexcept;
  /// Connections turned away because the limit was reached.
  std::size_t rejected() const noexcept;
  bool stopped() const noexcept;

  struct State;

 private:
  std::shared_ptr<State> st_;
};

/// gevent's DatagramServer: receives datagrams on `local` and calls
/// `handler(socket, data, from)` for each, one at a time in the server's
/// greenlet (spawn from the handler for long work; reply with
/// socket.send_to). Binds in the constructor.
class DatagramServer {
 public:
  using Handler = std::function<void(UdpSocket& socket, std::string_view data, const Udp::endpoint& from)>;

  /// Binds to `local`. Throws std::system_error. Never switches.
  DatagramServer(const Udp::endpoint& local, Handler handler, std::size_t max_datagram = 65536);
  ~DatagramServer();
  DatagramServer(const DatagramServer&) = delete;
  DatagramServer& operator=(const DatagramServer&) = delete;

  Udp::endpoint local_endpoint() const;
  /// Starts receiving in a background greenlet. Never switches.
  void start();
  /// start(), then waits until stop(). A handler that throws (anything but
  /// GreenletExit) ends the server: the socket is closed and serve_forever
  /// rethrows the exception. Switch point.
  void serve_forever();
  /// Stops receiving and waits for the current handler call to finish
  /// (up to `grace`, then kills it). Idempotent. Switch point.
  void stop(Duration grace = Duration::zero());

 private:
  struct State;
  std::shared_ptr<State> st_;
};

}  // namespace green::net
