// green::web: an HTTP/1.1 and WebSocket server on the hub (gevent's pywsgi
// and gevent-websocket), with Boost.Beast parsing and serializing.
//
// Every connection runs in a greenlet of its own (a net::StreamServer
// handler); the handler is a plain function called in that greenlet, so it
// may block on anything green (a Queue::get with a timeout for long polling,
// a database call, a sleep) and only that connection waits.
//
//     green::web::Server server(endpoint, [](green::web::Request& req) {
//       green::web::Response res{boost::beast::http::status::ok, req.version()};
//       res.body() = "hello\n";
//       return res;                              // Content-Length is set for you
//     });
//     server.serve_forever();
//
// The streaming form writes the body piece by piece (chunked when no
// Content-Length was set) or upgrades to a WebSocket:
//
//     green::web::Server server(endpoint, [](Request& req, Reply& reply) {
//       if (green::web::is_websocket_upgrade(req)) {
//         auto ws = reply.accept_websocket(req);
//         while (auto m = ws.receive()) ws.send(m->data, m->binary);
//         return;
//       }
//       for (int i = 0; i < 3; ++i) reply.write("piece\n");
//     });
//
// The server handles keep-alive, pipelining (responses go out in request
// order), HEAD (the body is dropped, the headers kept), Expect: 100-continue,
// limits on header size (431), body size (413), the time to send a request's
// header (408: a client trickling its request line is cut off), the idle time
// of a kept-alive connection, and handler exceptions (500, the server goes
// on). Every read and write is a switch point that obeys Timeout and kill.
#pragma once

#include <green/detail/core.hpp>
#include <green/net.hpp>

#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/websocket/rfc6455.hpp>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <system_error>

namespace green::web {

namespace http = boost::beast::http;

/// A request as a handler gets it: Beast's message (method, target, fields,
/// body) plus the address it came from.
struct Request : http::request<http::string_body> {
  using Message = http::request<http::string_body>;
  using Message::Message;
  Request() = default;
  Request(Message&& m, const net::Tcp::endpoint& from) : Message(std::move(m)), peer(from) {}
  /// The client's address and port: the TCP peer (gevent's REMOTE_ADDR).
  /// Behind a reverse proxy that is the proxy; the server never reads
  /// X-Forwarded-For, since any client can send one: whether to trust it
  /// is for a handler that knows its proxy.
  net::Tcp::endpoint peer;
  /// The server waited for this request: the read that completed it came
  /// after the connection parked on an empty socket and an I/O event the
  /// hub delivered woke it, so the request was sent after (or raced with)
  /// what the greenlets that were ready before that event did. False for a
  /// request that was already there (pipelined, sent with the connection,
  /// or arrived while the server was busy): it may have been sent at any
  /// time before. A cache that lives for one
  /// round of the hub (tools/serve/round_cache.hpp) may answer only
  /// requests that waited: for the others, a file changed after the cache
  /// was filled could have been changed before they were sent.
  bool waited = false;
};
using Response = http::response<http::string_body>;

/// Limits and timeouts of a Server. Durations of zero mean "no limit".
struct Options {
  /// Request line plus header fields, in bytes; more is answered with 431.
  std::size_t max_header_bytes = 16 * 1024;
  /// Request body, in bytes; more is answered with 413.
  std::size_t max_body_bytes = 1024 * 1024;
  /// From a request's first byte to the end of its header; a client slower
  /// than this gets 408 and is disconnected (slowloris). The first request of
  /// a connection must also start within this time.
  Duration header_timeout = std::chrono::seconds(10);
  /// Time to receive a request's body once its header arrived (408).
  Duration body_timeout = std::chrono::seconds(60);
  /// A kept-alive connection with no new request for this long is closed.
  Duration idle_timeout = std::chrono::seconds(60);
  /// A write (a response, a piece of one, a WebSocket message) that takes
  /// longer than this ends the connection: the client stopped reading.
  Duration write_timeout = std::chrono::seconds(60);
  /// Most connections at once; more are accepted and closed (0: no limit).
  std::size_t max_connections = 0;
  /// SO_REUSEPORT, for one server per thread on the same port.
  bool reuse_port = false;
  /// WebSocket: largest message accepted (bigger closes with 1009).
  std::size_t max_message_bytes = 1024 * 1024;
  /// WebSocket: with no traffic for half this time the server pings; with
  /// no answer by the end of it the connection is closed.
  Duration websocket_idle_timeout = std::chrono::seconds(60);
  /// Value of the Server header ("" sends none).
  std::string server_name = "green";
};

/// One finished request, for access logs (Server::on_request); also the
/// server's own answers to requests it could not read (400, 408, 413, 431),
/// where method and target are empty if no request header was parsed.
struct AccessRecord {
  net::Tcp::endpoint peer;
  std::string_view method;  // valid during the callback only
  std::string_view target;
  unsigned version = 11;  // 10 or 11
  unsigned status = 0;    // 0: no response was sent (connection lost)
  std::uint64_t body_bytes = 0;
  Duration elapsed{};  // from the end of the request header to the last byte sent
};

class WebSocket;

/// A response header serialized once and sent with many replies, for a
/// server that gives the same answer again and again (a static file): the
/// fields are built and Beast serializes them once, not per request (the
/// biggest user-space cost of a small reply). Reply::prepare() makes one,
/// Reply::send(const PreparedHeader&, body) sends it. It holds the
/// HTTP/1.1 keep-alive form; a reply that must differ (HTTP/1.0, or the
/// connection closing after it) is serialized from the fields it keeps.
class PreparedHeader {
 public:
  unsigned status() const noexcept { return head_.result_int(); }
  std::uint64_t content_length() const noexcept { return length_; }

 private:
  friend class Reply;
  http::response_header<> head_;
  std::string bytes_;
  std::uint64_t length_ = 0;
};

/// The streaming side of one request: sets the status and headers, then
/// writes the body piece by piece, or switches the connection to WebSocket.
/// Lives on the connection's greenlet for the duration of the handler call.
class Reply {
 public:
  /// The response header (status, version and fields) until the first write.
  http::response_header<>& header() noexcept { return head_; }

  /// Declares the body length: the body goes out as is, not chunked, and
  /// must be exactly this long (a shorter body closes the connection).
  void content_length(std::uint64_t n);

  /// Writes a piece of the body (the header first, on the first call).
  /// Without a Content-Length the body is chunked (HTTP/1.1) or ends with the
  /// connection (HTTP/1.0). Throws std::system_error when the client is gone
  /// or does not read for write_timeout. Switch point.
  void write(std::string_view piece);

  /// Sends `count` bytes of the open file `fd` from `offset` with
  /// sendfile(2) (header first). Needs content_length(). Throws
  /// std::system_error. Switch point.
  void sendfile(int fd, std::uint64_t offset, std::uint64_t count);

  /// Sends a whole response (Content-Length set from its body). Only before
  /// anything was written. Switch point.
  void send(Response&& res);

  /// `head` (status and fields) with this server's Server field and a
  /// Content-Length of `content_length`, serialized for
  /// send(const PreparedHeader&, ...): for this reply and later ones, on
  /// any connection of the same Server. Never switches.
  PreparedHeader prepare(http::response_header<>&& head, std::uint64_t content_length) const;

  /// Sends a whole response: `prepared`'s header and `body`, which must be
  /// its Content-Length long (HEAD: the header alone, `body` unused). Only
  /// before anything was written. Switch point.
  void send(const PreparedHeader& prepared, std::string_view body);

  /// Whether the header went out.
  bool started() const noexcept { return started_; }
  /// The request was HEAD: the header goes out, body bytes are dropped.
  bool head_only() const noexcept { return head_only_; }

  /// Completes the WebSocket opening handshake for `req` (a valid upgrade,
  /// see is_websocket_upgrade; anything else throws std::system_error after
  /// answering 400). The connection then belongs to the returned WebSocket.
  /// Switch point.
  WebSocket accept_websocket(Request& req);

  struct Conn;
  Reply(Conn& conn, unsigned version, bool head_only, bool keep_alive);
  Reply(const Reply&) = delete;
  Reply& operator=(const Reply&) = delete;

 private:
  friend class Server;
  void start(bool chunked);
  void finish();
  Conn& conn_;
  http::response_header<> head_;
  std::optional<std::uint64_t> length_;
  std::uint64_t sent_ = 0;
  bool started_ = false;
  bool chunked_ = false;
  bool head_only_ = false;
  bool keep_alive_ = true;
  bool upgraded_ = false;
  friend struct ConnAccess;
};

/// True for a GET with Upgrade: websocket and Connection: upgrade.
bool is_websocket_upgrade(const Request& req);

/// A server-side WebSocket (RFC 6455) on a connection of the Server.
/// Text messages are checked to be UTF-8 (invalid: closed with 1007);
/// fragmented messages are reassembled; pings are answered; the server pings
/// an idle peer (Options::websocket_idle_timeout). One greenlet may receive
/// while others send: sends are serialized, and a client that reads slowly
/// parks only the greenlets that send to it. Movable; usable until the
/// handler that accepted it returns (the connection closes then).
class WebSocket {
 public:
  struct Message {
    std::string data;
    bool binary = false;
  };

  WebSocket(WebSocket&&) noexcept;
  WebSocket& operator=(WebSocket&&) noexcept;
  ~WebSocket();

  /// Waits for the next whole message. Returns nullopt once the peer closed
  /// (the close handshake is answered) or the connection ended; the reason
  /// is in close_code(). Switch point.
  std::optional<Message> receive();

  /// Sends one message and waits until it is written. One the socket
  /// takes whole, nearly every one, is a single system call; of one it
  /// takes in part, the rest goes out in front of a ping (a client answers
  /// it unseen by its application). Throws std::system_error when the
  /// connection is gone. Switch point.
  void send(std::string_view data, bool binary = false);

  /// Sends each of `messages` as a message of its own, in order, as send()
  /// one after another would, but in one write: a chat's fan-out of many
  /// short lines costs one system call, not one each. The write timeout
  /// covers the whole call; a send_many that fails or is interrupted ends
  /// the connection (how much of it went out is unknown). Throws like send().
  /// Switch point.
  void send_many(std::span<const std::string_view> messages, bool binary = false);

  /// Starts the close handshake with `code` and waits for the peer's answer
  /// (up to the idle timeout). Never throws an I/O error. Switch point.
  void close(std::uint16_t code = 1000, std::string_view reason = {});

  /// Ends the connection at once, without the close handshake: for a peer
  /// that stopped reading, whose close frame would wait behind everything
  /// it does not take. A receive parked in another greenlet returns nullopt
  /// (close code 1006), a parked send throws. Never switches, so it may be
  /// called from any greenlet of the hub (even while another one sends).
  void abort() noexcept;

  bool is_open() const noexcept;
  /// The close code received or sent (1000 normal, 1006 when the connection
  /// ended without a close frame, 1007 bad UTF-8, 1009 too big, ...).
  std::uint16_t close_code() const noexcept;

  struct Impl;
  explicit WebSocket(std::unique_ptr<Impl> impl);

 private:
  std::unique_ptr<Impl> impl_;
};

/// An HTTP/1.1 server. Binds and listens in the constructor.
class Server {
 public:
  using Handler = std::function<Response(Request&)>;
  using StreamingHandler = std::function<void(Request&, Reply&)>;

  /// Throws std::system_error if it cannot listen. Never switches.
  Server(const net::Tcp::endpoint& local, Handler handler, Options options = {});
  Server(const net::Tcp::endpoint& local, StreamingHandler handler, Options options = {});
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  net::Tcp::endpoint local_endpoint() const;

  /// Called after each response (in the connection's greenlet; must not
  /// throw or switch).
  void on_request(std::function<void(const AccessRecord&)> fn);

  /// Starts accepting in the background. Never switches.
  void start();
  /// start(), then waits for stop(). Rethrows an error that ended the
  /// accept loop. Switch point.
  void serve_forever();
  /// Graceful stop: stops accepting, closes idle connections, lets requests
  /// in progress finish for up to `grace` (their connections close after the
  /// response), then kills the rest. Switch point.
  void stop(Duration grace = Duration::zero());

  /// Requests answered so far.
  std::uint64_t requests() const noexcept;
  /// Open connections now.
  std::size_t connections() const noexcept;

  struct State;

 private:
  std::shared_ptr<State> st_;
};

}  // namespace green::web
