// green::net TLS: gevent.ssl's wrapped sockets and StreamServer(certfile=,
// keyfile=), OpenSSL through Boost.Asio's ssl::stream on the hub.
//
// Every call that can wait (connect, the handshakes, read_some, read_line,
// write_all, shutdown, serve_forever, stop) is a switch point: the
// operation runs with green::yield, so a kill or an enclosing green::Timeout
// cancels it through Asio's cancellation slot and then raises GreenletExit
// or the Timeout. A read interrupted while it waited for the peer leaves
// the stream usable; a handshake or a write interrupted half way leaves it
// good only for close().
//
// Clients verify by default, like Python's ssl.create_default_context():
// the peer's chain against the system CA store (or a CA file of one's own),
// and its name against the host connected to (SSL_set1_host, the check
// Python's ssl module makes, which reports a mismatch as "hostname
// mismatch" rather than a bare failure). SNI carries the host name; an IP
// address is checked against the certificate's IP entries and sent without
// SNI (RFC 6066 allows names only).
//
// Mutual TLS (Python's load_cert_chain on the client, verify_mode =
// CERT_REQUIRED and load_verify_locations on the server) and ALPN
// (set_alpn_protocols, selected_alpn_protocol) are options of the two
// sides. Under TLS 1.3 the client finishes its handshake before the server
// has checked the client's certificate: a client the server rejects learns
// it at its first read (an error naming the alert, "certificate required",
// "unknown ca"), never by waiting.
//
// A peer that closes the TCP connection without TLS's close_notify reads as
// end of stream, as with Python's suppress_ragged_eofs=True (gevent's
// default): most servers close that way.
//
// Using this header links OpenSSL (libssl, libcrypto); green's CMake package
// and green.pc carry that dependency.
#pragma once

#include <green/net.hpp>

#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/stream.hpp>

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

namespace ssl = boost::asio::ssl;

/// The category of certificate verification failures: the value is
/// OpenSSL's X509_V_ERR_* code (X509_V_ERR_HOSTNAME_MISMATCH,
/// X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT, ...), the message
/// "certificate verify failed: " and OpenSSL's text for it. Other TLS
/// failures come in Asio's ssl category (boost::asio::error::get_ssl_category()).
const std::error_category& tls_verify_category() noexcept;

/// A client context: TLS 1.2 or later, trusting the system CA store or,
/// when `ca_file` is not empty, the PEM certificates in that file instead.
/// Reading the store is not free: share one context between connections
/// (TlsClientOptions::context). Throws std::system_error naming the file.
/// Never switches.
std::shared_ptr<ssl::context> tls_client_context(const std::string& ca_file = {});

struct TlsClientOptions;
struct TlsServerOptions;

/// A client context for `options`: the CA file (or the system store) and
/// the client certificate, if any. Throws std::system_error naming the
/// file. Never switches.
std::shared_ptr<ssl::context> tls_client_context(const TlsClientOptions& options);

/// A server context: TLS 1.2 or later, with the certificate chain and the
/// private key read from PEM files (gevent's certfile= and keyfile=; both
/// may be the same file). Throws std::system_error naming the file that
/// could not be used. Never switches.
std::shared_ptr<ssl::context> tls_server_context(const std::string& cert_file, const std::string& key_file);

/// A server context for `options`: certificate and key, client
/// certificate checking and ALPN (everything but `context`). Throws
/// std::system_error naming the file that could not be used, or
/// std::invalid_argument (client_auth without client_ca_file, an empty or
/// longer than 255 bytes ALPN name). Never switches.
std::shared_ptr<ssl::context> tls_server_context(const TlsServerOptions& options);

/// How a client checks the server.
struct TlsClientOptions {
  /// Check the certificate chain and that the certificate names the host.
  /// false accepts any certificate (Python's CERT_NONE without
  /// check_hostname): the connection is encrypted but not authenticated.
  bool verify = true;
  /// PEM file of CA certificates to trust instead of the system store.
  /// Ignored when `context` is given.
  std::string ca_file;
  /// The name sent as SNI and checked against the certificate; empty: the
  /// host passed to connect() or client().
  std::string server_name;
  /// A context of one's own (from tls_client_context() or set up with
  /// client certificates, ciphers, ...), shared by the connections that
  /// use it; null: a new tls_client_context(*this), or the process's
  /// shared system-store context when `ca_file` and `cert_file` are empty.
  std::shared_ptr<ssl::context> context;
  /// A certificate chain and its private key (PEM; may be the same file) to
  /// present when the server asks for one (mutual TLS; Python's
  /// load_cert_chain). Ignored when `context` is given.
  std::string cert_file;
  std::string key_file;
  /// Protocols to offer by ALPN, most wanted first ("h2", "http/1.1");
  /// empty: no ALPN. Used with `context` too. What the server chose:
  /// TlsStream::alpn_protocol().
  std::vector<std::string> alpn;
};

/// The peer's certificate, as the handshake verified it.
struct PeerCertificate {
  std::string subject;  ///< RFC 2253 form: "CN=client,O=Example"
  std::string issuer;   ///< likewise
  /// The subjectAltName entries: "DNS:localhost", "IP:127.0.0.1", ...
  std::vector<std::string> alt_names;
};

/// A TLS stream over TCP, with TcpStream's shape: read_some, read_line,
/// write_all, close, the two ways to fail. Movable, not copyable. Belongs to
/// the hub that created it. One greenlet may read while another writes.
class TlsStream {
 public:
  using Stream = ssl::stream<Tcp::socket>;

  /// A closed stream (is_open() is false).
  TlsStream();
  TlsStream(TlsStream&&) noexcept;
  TlsStream& operator=(TlsStream&&) noexcept;
  TlsStream(const TlsStream&) = delete;
  TlsStream& operator=(const TlsStream&) = delete;
  /// Closes the socket (without close_notify: see shutdown()). Never
  /// switches, never throws.
  ~TlsStream();

  /// Connects to `host` port `port` as TcpStream::connect does (names are
  /// resolved), then makes the client handshake; `timeout` covers both.
  /// Throws std::system_error: the TCP errors, timed_out, a verification
  /// failure (tls_verify_category, the message naming the host) or another
  /// TLS error. Switch point.
  static TlsStream connect(std::string_view host, std::uint16_t port, Duration timeout = forever,
                           const TlsClientOptions& options = {});
  static TlsStream connect(std::string_view host, std::uint16_t port, Duration timeout, const TlsClientOptions& options,
                           std::error_code& ec);

  /// The client handshake over a connected TCP stream (STARTTLS), checking
  /// the certificate against `host`. The TCP stream must hold no bytes
  /// read ahead (buffered()): they would be lost, so that is
  /// invalid_argument, as is an empty `host` (and no server_name) with
  /// verification on. Errors as connect(). Switch point.
  static TlsStream client(TcpStream tcp, std::string_view host, Duration timeout = forever,
                          const TlsClientOptions& options = {});
  static TlsStream client(TcpStream tcp, std::string_view host, Duration timeout, const TlsClientOptions& options,
                          std::error_code& ec);

  /// The server handshake over an accepted TCP stream, with `context`'s
  /// certificate; waits up to `timeout` for the client (timed_out after).
  /// Errors as connect(). Switch point.
  static TlsStream server(TcpStream tcp, std::shared_ptr<ssl::context> context, Duration timeout = forever);
  static TlsStream server(TcpStream tcp, std::shared_ptr<ssl::context> context, Duration timeout, std::error_code& ec);

  /// Reads at least one byte of plaintext (up to buf.size()); returns 0 at
  /// end of stream (close_notify, or the TCP connection closed). Bytes left
  /// by read_line() come first. Throws std::system_error. Switch point.
  std::size_t read_some(std::span<char> buf);
  std::size_t read_some(std::span<char> buf, std::error_code& ec);

  /// Reads one line, as TcpStream::read_line: at most `max` bytes, '\n'
  /// included; an empty string means end of stream. Switch point.
  std::string read_line(std::size_t max = 64 * 1024);
  std::string read_line(std::size_t max, std::error_code& ec);

  /// Encrypts and writes every byte of `data`, waiting while the socket
  /// buffer is full. Throws std::system_error. Switch point.
  void write_all(std::string_view data);
  void write_all(std::string_view data, std::error_code& ec);

  /// Sends close_notify and waits up to `wait` for the peer's (a peer that
  /// does not answer, or closes the TCP connection, is not an error), so the
  /// peer can tell the end from a cut connection. The socket stays open
  /// until close(). Throws std::system_error. Switch point.
  void shutdown(Duration wait = std::chrono::seconds(1));
  void shutdown(Duration wait, std::error_code& ec);

  /// Closes the socket; a greenlet parked on it gets an error. Idempotent.
  /// Never switches, never throws.
  void close() noexcept;

  bool is_open() const noexcept;
  /// Disables Nagle's algorithm (small writes go out at once).
  void set_nodelay(bool on, std::error_code& ec) noexcept;
  /// The peer's address, as seen at connect or accept.
  const Tcp::endpoint& remote_endpoint() const noexcept { return peer_; }
  /// "TLSv1.3", ...; empty on a closed stream.
  std::string protocol() const;
  /// The protocol ALPN settled on ("h2"); empty when the two sides had none
  /// in common, or one did not ask (Python's selected_alpn_protocol()).
  std::string alpn_protocol() const;
  /// The certificate the peer presented: the server's on a client stream,
  /// the client's on a server stream under mutual TLS; nullopt when the
  /// peer sent none (Python's getpeercert()). Verified unless verification
  /// was off (TlsClientOptions::verify, ClientAuth::none).
  std::optional<PeerCertificate> peer_certificate() const;
  /// The Asio stream, for Asio and Beast operations run with green::yield.
  /// Bytes already buffered by read_line() are not seen by it.
  /// Throws std::logic_error on a stream that was never opened.
  Stream& stream();
  /// Plaintext read but not consumed yet.
  std::size_t buffered() const noexcept { return rbuf_.size(); }

 private:
  struct Impl;
  explicit TlsStream(std::unique_ptr<Impl> impl, Tcp::endpoint peer);
  std::unique_ptr<Impl> impl_;
  Tcp::endpoint peer_;
  detail::LineBuffer rbuf_;
  bool eof_ = false;
};

/// Whether a server asks clients for a certificate (Python's verify_mode on
/// a server context).
enum class ClientAuth {
  none,      ///< not asked for (CERT_NONE)
  optional,  ///< asked for and verified if sent (CERT_OPTIONAL)
  required,  ///< a client without a valid one fails the handshake (CERT_REQUIRED)
};

/// The TLS side of a TlsStreamServer.
struct TlsServerOptions {
  /// PEM certificate chain and private key (gevent's certfile=, keyfile=),
  /// read once when the server is made. Ignored when `context` is given.
  std::string cert_file;
  std::string key_file;
  /// A server context of one's own (tls_server_context() or hand made);
  /// then the settings down to `alpn` are ignored: they are the context's.
  std::shared_ptr<ssl::context> context;
  /// Mutual TLS: ask clients for a certificate and verify it against the
  /// CAs in `client_ca_file` (PEM; required unless client_auth is none).
  /// The handler reads who the client is from TlsStream::peer_certificate().
  ClientAuth client_auth = ClientAuth::none;
  std::string client_ca_file;
  /// Protocols this server speaks by ALPN, preferred first: the first of
  /// them the client offers is chosen; none in common, or a client that
  /// offers none, and the handshake goes on without ALPN (as Python's).
  std::vector<std::string> alpn;
  /// How long a client has to complete its handshake (a client that
  /// connects and sends nothing holds only its own greenlet meanwhile).
  Duration handshake_timeout = std::chrono::seconds(10);
  /// Called in the connection's greenlet when a handshake fails or times
  /// out (must not throw); the connection is then closed. Failures are
  /// counted either way (handshake_failures()).
  std::function<void(const Tcp::endpoint& peer, const std::error_code& ec)> on_handshake_error;
};

/// gevent's StreamServer with certfile=/keyfile=: a StreamServer whose
/// handlers get a TlsStream. Each connection's handshake runs in that
/// connection's own greenlet, bounded by handshake_timeout, so a stalled or
/// broken client never holds up accepting the others; a failed handshake is
/// counted and reported to on_handshake_error, never fatal to the server.
/// Otherwise as StreamServer (limits, graceful stop, on_error).
class TlsStreamServer {
 public:
  using Handler = std::function<void(TlsStream&)>;

  /// Binds to `local` and listens. Throws std::system_error (address in
  /// use, a certificate or key file that cannot be used, ...). Never
  /// switches.
  TlsStreamServer(const Tcp::endpoint& local, Handler handler, TlsServerOptions tls, StreamServerOptions options = {});
  /// `host` as for parse_address().
  TlsStreamServer(std::string_view host, std::uint16_t port, Handler handler, TlsServerOptions tls,
                  StreamServerOptions options = {});
  ~TlsStreamServer();
  TlsStreamServer(const TlsStreamServer&) = delete;
  TlsStreamServer& operator=(const TlsStreamServer&) = delete;

  /// See StreamServer.
  Tcp::endpoint local_endpoint() const { return server_->local_endpoint(); }
  /// Starts accepting in a background greenlet. Never switches.
  void start() { server_->start(); }
  /// See StreamServer::serve_forever(). Switch point.
  void serve_forever() { server_->serve_forever(); }
  /// See StreamServer::stop(). Switch point.
  void stop(Duration grace = Duration::zero()) { server_->stop(grace); }
  /// Closes the listener only. Never switches.
  void stop_accepting() noexcept { server_->stop_accepting(); }
  /// Connections being handshaken or handled now.
  std::size_t connections() const noexcept { return server_->connections(); }
  /// Connections accepted so far (rejected ones and failed handshakes
  /// included).
  std::size_t accepted() const noexcept { return server_->accepted(); }
  std::size_t rejected() const noexcept { return server_->rejected(); }
  /// Handshakes that failed or timed out.
  std::size_t handshake_failures() const noexcept;
  bool stopped() const noexcept { return server_->stopped(); }

 private:
  struct State;
  std::shared_ptr<State> st_;
  std::unique_ptr<StreamServer> server_;
};

}  // namespace green::net
