// HTTP on the hub: libcurl's multi interface driven by the hub's event loop.
//
// Each hub owns one curl multi handle, created on first use and cleaned up
// with the hub. A request parks only the greenlet that makes it; curl's
// sockets and timer are watched by the hub, so thousands of requests can be
// in flight from as many greenlets. Connection reuse, HTTP/2 multiplexing
// and TLS verification come from curl and are shared by every request of a
// hub (so sequential requests to one host reuse the connection).
//
//     green::http::Request req{.url = "http://127.0.0.1:8080/"};
//     green::http::Response res = green::http::fetch(req);   // switch point
//     std::printf("%ld %zu\n", res.status, res.body.size());
//
// A kill or Timeout while a request is in flight aborts the transfer at once
// (its connection is closed, not reused) and raises in the greenlet.
#pragma once

#include <green/detail/core.hpp>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

namespace green::http {

/// Which HTTP version to ask for.
enum class Version {
  automatic,  ///< HTTP/2 over TLS when the server offers it (ALPN), HTTP/1.1 otherwise
  http1_1,    ///< HTTP/1.1 only
  http2,      ///< HTTP/2: over TLS via ALPN; on cleartext an Upgrade: h2c offer (HTTP/1.1 if refused)
};

/// Where a response body goes. The callback form runs on the hub inside
/// curl's write callback: it must not switch (no sleep, no I/O waits); return
/// false to abort the transfer (the request then fails with a write error).
struct Sink {
  enum class Kind { memory, discard, file, callback };
  Kind kind = Kind::memory;
  std::string path;                                     ///< Kind::file: created or truncated
  std::function<bool(std::string_view chunk)> on_data;  ///< Kind::callback

  /// Response::body receives the body (the default).
  static Sink memory() { return {}; }
  /// The body is counted (Response::bytes) and dropped.
  static Sink discard() { return {Kind::discard, {}, {}}; }
  /// The body is written to `path` (created, or truncated, when the first
  /// byte arrives or the transfer ends, whichever comes first).
  static Sink file(std::string path) { return {Kind::file, std::move(path), {}}; }
  /// Each chunk is passed to `fn` as it arrives.
  static Sink callback(std::function<bool(std::string_view)> fn) { return {Kind::callback, {}, std::move(fn)}; }
};

/// One request. Only `url` is required.
struct Request {
  std::string url{};
  std::string method{};                ///< empty: GET, or POST when `data` is set
  std::vector<std::string> headers{};  ///< "Name: value" lines
  std::optional<std::string> data{};   ///< request body (sent as is)
  bool follow_redirects = true;
  long max_redirects = 20;
  Duration timeout = forever;          ///< the whole transfer, connect included
  Duration connect_timeout = forever;  ///< connecting (TCP and TLS) only
  /// Abort when fewer than `low_speed_limit` bytes per second arrive (or are
  /// sent) for `low_speed_time`, waiting for the response included: a server
  /// that accepts and never answers, or stalls mid-body (curl's
  /// --speed-limit/--speed-time). Zero for either: no such abort.
  long low_speed_limit = 0;
  Duration low_speed_time = Duration::zero();
  /// "HOST:PORT:ADDR[,ADDR]..." entries (curl's --resolve syntax) that take
  /// the place of name resolution for HOST:PORT, for this request and the
  /// later ones of the hub (curl keeps them in the hub's DNS cache).
  std::vector<std::string> resolve{};
  Version version = Version::automatic;
  std::string ca_file{};  ///< PEM bundle to verify servers with (empty: the system's)
  bool verify_tls = true;
  std::string user_agent{};  ///< empty: no User-Agent header
  Sink sink{};               ///< where the body goes (memory by default)
};

/// Durations of a transfer's phases, each measured from its start.
struct Timings {
  Duration name_lookup{};
  Duration connect{};
  Duration tls_handshake{};  ///< end of the TLS handshake (zero for cleartext)
  Duration first_byte{};     ///< first response byte
  Duration total{};
};

struct Header {
  std::string name;
  std::string value;
};

/// What came back. After a failed transfer (see fetch's error_code form)
/// the fields hold what was received before the failure.
struct Response {
  long status = 0;              ///< of the final response; 0 if none arrived
  std::string url;              ///< the final URL, after redirects
  std::vector<Header> headers;  ///< of the final response, in order
  std::string body;             ///< Sink::memory only
  std::uint64_t bytes = 0;      ///< body bytes received (every sink)
  long redirects = 0;
  std::string http_version;  ///< "1.0", "1.1", "2" or "" when nothing arrived
  Timings timings;
  std::optional<Duration> retry_after;  ///< the final response's Retry-After, if any
  std::string error;                    ///< why the transfer failed; empty on success

  /// The first header named `name` (case-insensitive), if any.
  std::optional<std::string_view> header(std::string_view name) const;
};

/// The error category of transfer failures; values are libcurl's CURLcode.
const std::error_category& error_category() noexcept;

/// Coarse classes of transfer failure, for retry decisions.
enum class ErrorClass { none, connect, timeout, tls, protocol, write, other };
ErrorClass classify(const std::error_code& ec) noexcept;

/// Thrown by fetch(const Request&) when the transfer fails (not for HTTP
/// error statuses: a 404 is a successful transfer).
class Error : public std::runtime_error {
 public:
  Error(std::error_code ec, const std::string& what, Response partial)
      : std::runtime_error(what), code_(ec), response_(std::move(partial)) {}
  const std::error_code& code() const noexcept { return code_; }
  const Response& response() const noexcept { return response_; }

 private:
  std::error_code code_;
  Response response_;
};

/// Performs `req` and parks the calling greenlet until the response is
/// complete. Switch point. Throws Error when the transfer fails (connection
/// refused, timeout, TLS verification, ...), std::invalid_argument when curl
/// rejects an option, GreenletExit/Timeout when interrupted (the transfer is
/// aborted first).
Response fetch(const Request& req);

/// Like fetch(req), but a transfer failure sets `ec` (and Response::error)
/// instead of throwing; `ec` is cleared on success. Switch point; still
/// raises GreenletExit/Timeout when interrupted.
Response fetch(const Request& req, std::error_code& ec);

/// Limits of the calling hub's connection pool (curl's multi options). Apply
/// before the first request; a zero leaves curl's default.
struct PoolLimits {
  long max_host_connections = 0;    ///< open connections per host (excess transfers queue)
  long max_total_connections = 0;   ///< open connections in all (excess transfers queue)
  long max_cached_connections = 0;  ///< connections kept for reuse (default 512)
  long max_concurrent_streams = 0;  ///< HTTP/2 streams per connection
};
/// Throws std::logic_error outside green::run.
void set_pool_limits(const PoolLimits& limits);

/// Counters of the calling hub's HTTP layer, for tests and diagnostics.
struct Stats {
  std::size_t in_flight = 0;         ///< transfers started and not finished
  std::size_t open_sockets = 0;      ///< sockets curl opened through the hub and has not closed
  std::size_t watched_sockets = 0;   ///< descriptors the hub watches for curl
  std::uint64_t sockets_opened = 0;  ///< connections ever opened (reuse keeps this low)
  /// connections given a 1 MiB receive buffer (loopback peers and those
  /// within a millisecond, where net.core.rmem_max allows it) instead of the
  /// kernel's autotuned one
  std::uint64_t receive_buffers_widened = 0;
};
Stats stats();

/// The parts of an absolute http or https URL (as curl parses it).
struct Url {
  std::string scheme;  ///< "http" or "https"
  std::string host;    ///< without brackets for IPv6
  std::string port;    ///< as written, or the scheme's default
  std::string path;    ///< "/" at least
  std::string query;   ///< without '?'; empty if none
};

/// Why parse_url() refused a URL (codes of url_category()).
enum class UrlErrc {
  too_long = 1,        ///< longer than 65536 bytes
  whitespace,          ///< contains whitespace
  nul_byte,            ///< contains a NUL byte
  control_byte,        ///< contains a control byte
  not_absolute,        ///< not an absolute http:// or https:// URL
  unsupported_scheme,  ///< a scheme other than http or https
  no_host,             ///< no host
  bad_port,            ///< a port outside 1-65535
  bad_ipv6,            ///< a malformed IPv6 address
  bad_host,            ///< a malformed host name
  bad_login,           ///< a malformed user name or password
  invalid,             ///< anything else curl refuses
};
const std::error_category& url_category() noexcept;
inline std::error_code make_error_code(UrlErrc e) noexcept { return {static_cast<int>(e), url_category()}; }

/// A URL parse_url() refused: code() says which way, what() says it in
/// green's words with the detail ("unsupported scheme ftp (want http or
/// https)", "contains the control byte 0x07", "no host", ...).
class BadUrl : public std::invalid_argument {
 public:
  BadUrl(std::error_code code, const std::string& why) : std::invalid_argument(why), code_(code) {}
  const std::error_code& code() const noexcept { return code_; }

 private:
  std::error_code code_;
};

/// Parses `text` as an absolute http:// or https:// URL with curl's parser.
/// Throws BadUrl, or (the overload with `ec`) returns nothing and fills `ec`
/// with a UrlErrc, as every fallible libgreen call does. Never switches.
Url parse_url(const std::string& text);
std::optional<Url> parse_url(const std::string& text, std::error_code& ec);

/// libcurl's version line ("libcurl/7.88.1 OpenSSL/3.0 ...").
std::string curl_version();

}  // namespace green::http

// Doxygen cannot place a specialization written outside namespace std.
/// @cond
template <>
struct std::is_error_code_enum<green::http::UrlErrc> : std::true_type {};
/// @endcond
