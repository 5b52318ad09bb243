// `green serve http [DIR]`: a static file server. What a request gets is
// http_files.hpp (pure rules, unit-tested); this file is the server around
// them: green::web's HTTP/1.1 connections on N hubs, files sent with
// sendfile, the access log and the summary.
#include "common/json.hpp"
#include "common/output.hpp"
#include "common/subcommand.hpp"
#include "serve/frame.hpp"
#include "serve/http_files.hpp"

#include <green/green.hpp>
#include <green/net.hpp>

#include <boost/asio/buffer.hpp>
#include <boost/asio/error.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>

#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_set>

namespace green::tools::serve {

namespace {

namespace hf = http_files;

// Shared by every hub, for the summary.
struct HttpStats {
  std::atomic<std::uint64_t> connections{0};
  std::atomic<std::uint64_t> requests{0};
  std::atomic<std::uint64_t> errors{0};  // 4xx and 5xx answers
  std::atomic<std::uint64_t> bytes{0};   // body bytes sent
  std::atomic<int> stop_signal{0};
  std::atomic<bool> stdout_closed{false};
};

// One request, as the access log shows it.
struct Access {
  std::chrono::system_clock::time_point when;
  const net::Tcp::endpoint* client;
  std::string_view method;
  std::string_view target;
  unsigned version;  // 10 or 11
  int status;
  std::uint64_t bytes;
  double seconds;
};

// A whole line in one write(2): lines from several hubs never interleave
// (they are far below PIPE_BUF), and nothing is held back in a buffer when
// the server is killed. nginx writes its access log the same way.
bool write_line(int fd, const std::string& line) {
  std::size_t done = 0;
  while (done < line.size()) {
    const ssize_t n = ::write(fd, line.data() + done, line.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    done += static_cast<std::size_t>(n);
  }
  return true;
}

// A request target as a CLF field: '"', '\' and bytes outside printable
// ASCII as \xHH, so a line cannot be split or faked by what a client sends.
void append_clf_escaped(std::string& out, std::string_view s) {
  static constexpr char kHex[] = "0123456789abcdef";
  for (const char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    if (c < 0x20 || c >= 0x7f || c == '"' || c == '\\') {
      out += "\\x";
      out += kHex[c >> 4];
      out += kHex[c & 15];
    } else {
      out += ch;
    }
  }
}

// Common Log Format: 127.0.0.1 - - [03/Dec/2026:07:55:00 +0000] "GET / HTTP/1.1" 200 13
std::string clf_line(const Access& a) {
  static constexpr const char* kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                            "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  const std::time_t t = std::chrono::system_clock::to_time_t(a.when);
  std::tm tm{};
  ::gmtime_r(&t, &tm);
  char when[48];
  std::snprintf(when, sizeof when, "[%02d/%s/%04d:%02d:%02d:%02d +0000]", tm.tm_mday,
                kMonths[static_cast<std::size_t>(tm.tm_mon) % 12], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
  std::string line = a.client->address().to_string();
  line += " - - ";
  line += when;
  line += " \"";
  append_clf_escaped(line, a.method);
  line += ' ';
  append_clf_escaped(line, a.target);
  line += a.version == 10 ? " HTTP/1.0\" " : " HTTP/1.1\" ";
  line += std::to_string(a.status);
  line += ' ';
  line += std::to_string(a.bytes);
  line += '\n';
  return line;
}

std::string json_line(const Access& a) {
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(a.when.time_since_epoch()).count() % 1000;
  const std::time_t t = std::chrono::system_clock::to_time_t(a.when);
  std::tm tm{};
  ::gmtime_r(&t, &tm);
  char when[80];
  std::snprintf(when, sizeof when, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<int>(ms));
  JsonWriter j;
  j.field("time", when)
      .field("client", net::to_string(*a.client))
      .field("method", a.method)
      .field("target", a.target)
      .field("status", a.status)
      .field("bytes", a.bytes)
      .field("duration", a.seconds);
  std::string line = j.finish();
  line += '\n';
  return line;
}

// ---- the connection loop ---------------------------------------------------------
//
// Requests are parsed and response headers serialized by Boost.Beast over a
// TcpStream. NOTE: this loop stands in for green::web's HTTP/1.1 server
// (issue 14's library half), which had not landed when `serve http` did; the
// file logic above and below does not depend on it.

namespace http = boost::beast::http;

// Beast's SyncReadStream/SyncWriteStream over a TcpStream: every read and
// write parks only this greenlet.
class BeastStream {
 public:
  explicit BeastStream(net::TcpStream& s) : s_(s) {}

  template <class Buffers>
  std::size_t read_some(const Buffers& buffers, boost::system::error_code& ec) {
    const auto b = *boost::asio::buffer_sequence_begin(buffers);
    std::error_code e;
    const std::size_t n = s_.read_some(std::span<char>(static_cast<char*>(b.data()), b.size()), e);
    ec = e;
    if (!e && n == 0 && b.size() != 0) ec = boost::asio::error::eof;
    return n;
  }
  template <class Buffers>
  std::size_t read_some(const Buffers& buffers) {
    boost::system::error_code ec;
    const std::size_t n = read_some(buffers, ec);
    if (ec) throw boost::system::system_error(ec);
    return n;
  }
  template <class Buffers>
  std::size_t write_some(const Buffers& buffers, boost::system::error_code& ec) {
    std::size_t n = 0;
    for (auto it = boost::asio::buffer_sequence_begin(buffers); it != boost::asio::buffer_sequence_end(buffers); ++it) {
      const boost::asio::const_buffer b = *it;
      std::error_code e;
      s_.write_all(std::string_view(static_cast<const char*>(b.data()), b.size()), e);
      if (e) {
        ec = e;
        return n;
      }
      n += b.size();
    }
    ec.clear();
    return n;
  }
  template <class Buffers>
  std::size_t write_some(const Buffers& buffers) {
    boost::system::error_code ec;
    const std::size_t n = write_some(buffers, ec);
    if (ec) throw boost::system::system_error(ec);
    return n;
  }

 private:
  net::TcpStream& s_;
};

// The Date header, formatted once a second per hub.
const std::string& date_now() {
  thread_local std::time_t last = 0;
  thread_local std::string text;
  const std::time_t now = std::time(nullptr);
  if (now != last) {
    last = now;
    text = hf::http_date(now);
  }
  return text;
}

// Appends the serialized header of `res` to `out`.
void append_header(std::string& out, http::response<http::empty_body>& res) {
  http::response_serializer<http::empty_body> sr{res};
  sr.split(true);
  boost::system::error_code ec;
  while (!sr.is_header_done() && !ec) {
    sr.next(ec, [&](boost::system::error_code&, const auto& buffers) {
      std::size_t n = 0;
      for (auto it = boost::asio::buffer_sequence_begin(buffers); it != boost::asio::buffer_sequence_end(buffers);
           ++it) {
        const boost::asio::const_buffer b = *it;
        out.append(static_cast<const char*>(b.data()), b.size());
        n += b.size();
      }
      sr.consume(n);
    });
  }
}

// Files up to this size go out in the same write as their header (one
// system call, one packet); bigger ones with sendfile after it.
constexpr std::uint64_t kInline = 64 * 1024;

class HttpServer final : public HubServer {
 public:
  HttpServer(const HttpOptions& opt, const hf::Root& root, HttpStats& stats, const net::Tcp::endpoint& ep,
             bool reuse_port)
      : opt_(opt),
        root_(root),
        stats_(stats),
        server_(
            ep, [this](net::TcpStream& s) { handle(s); }, options(opt, reuse_port)) {}

  net::Tcp::endpoint local_endpoint() const override { return server_.local_endpoint(); }

  void run() override {
    StopSignals signals(stats_.stop_signal, opt_.verbose, [this](int) { stop(); });
    server_.serve_forever();
  }

  // Graceful: the listener closes, connections waiting for their next
  // request close at once, requests in progress finish (for up to 10 s).
  void stop() override {
    stopping_ = true;
    server_.stop_accepting();
    for (net::TcpStream* s : idle_) s->close();
    server_.stop(std::chrono::seconds(10));
  }

 private:
  static net::StreamServerOptions options(const HttpOptions& opt, bool reuse_port) {
    net::StreamServerOptions o;
    o.max_connections = opt.max_clients;
    o.reject_when_full = true;
    o.full_message = "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
    o.reuse_port = reuse_port;
    return o;
  }

  // A connection is idle (between requests, nothing buffered) while it is
  // in idle_, so a stop can close it without cutting a response.
  struct IdleScope {
    std::unordered_set<net::TcpStream*>& set;
    net::TcpStream* s;
    IdleScope(std::unordered_set<net::TcpStream*>& st, net::TcpStream* stream) : set(st), s(stream) { set.insert(s); }
    ~IdleScope() { set.erase(s); }
  };

  void handle(net::TcpStream& s) {
    ++stats_.connections;
    std::error_code ec;
    s.set_nodelay(true, ec);
    BeastStream stream(s);
    boost::beast::flat_buffer buf(64 * 1024);
    std::string out;
    while (!stopping_) {
      if (buf.size() == 0) {
        // Waiting for the next request holds no buffer: an idle keep-alive
        // connection costs its greenlet's stack and little else.
        buf.shrink_to_fit();
        IdleScope idle(idle_, &s);
        green::Timeout limit(std::chrono::seconds(60));
        bool timed_out = false;
        try {
          s.wait_readable(ec);
        } catch (const green::Timeout& t) {
          if (!(t == limit)) throw;
          timed_out = true;
        }
        if (timed_out || ec || stopping_) return;
      }
      http::request_parser<http::string_body> parser;  // a small body is read and ignored (405)
      parser.header_limit(16 * 1024);
      parser.body_limit(64 * 1024);
      boost::system::error_code bec;
      const auto start = Clock::now();
      {
        // A request must arrive whole within 30 s (slowloris).
        green::Timeout limit(std::chrono::seconds(30));
        bool timed_out = false;
        try {
          http::read(stream, buf, parser, bec);
        } catch (const green::Timeout& t) {
          if (!(t == limit)) throw;
          timed_out = true;
        }
        if (timed_out) {
          refuse(s, 408, "Request Timeout");
          return;
        }
      }
      if (bec == http::error::end_of_stream || bec == boost::asio::error::eof) return;
      if (bec) {
        if (bec == http::error::header_limit) {
          refuse(s, 431, "Request Header Fields Too Large");
        } else if (bec == http::error::unexpected_body || bec == http::error::body_limit) {
          refuse(s, 413, "Content Too Large");
        } else if (bec.category() == http::make_error_code(http::error::bad_target).category()) {
          refuse(s, 400, "Bad Request");
        }
        return;
      }
      if (!answer(s, parser.get(), out, start)) return;
    }
  }

  // Writes an error response and gives up on the connection.
  void refuse(net::TcpStream& s, int status, std::string_view reason) {
    std::string r = "HTTP/1.1 " + std::to_string(status) + " " + std::string(reason) +
                    "\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
    std::error_code ec;
    s.try_write(r, ec);
    ++stats_.requests;
    ++stats_.errors;
    // Closing with unread bytes would send a reset, and the client could
    // lose the answer before reading it: half-close, then read what is
    // still coming for a moment (a "lingering close", as nginx does).
    s.shutdown_write(ec);
    if (ec) return;
    green::Timeout limit(std::chrono::seconds(1));
    try {
      char sink[512];
      for (std::size_t total = 0; total < 256 * 1024;) {
        const std::size_t n = s.read_some(sink, ec);
        if (ec || n == 0) break;
        total += n;
      }
    } catch (const green::Timeout& t) {
      if (!(t == limit)) throw;
    }
  }

  // Answers one request; false when the connection is to close.
  bool answer(net::TcpStream& s, const http::request<http::string_body>& req, std::string& out,
              Clock::time_point start) {
    const auto field = [&](http::field f) {
      auto it = req.find(f);
      return it == req.end() ? std::string_view() : std::string_view(it->value().data(), it->value().size());
    };
    hf::Request r;
    const std::string_view method(req.method_string().data(), req.method_string().size());
    const std::string_view target(req.target().data(), req.target().size());
    r.method = method;
    r.target = target;
    r.range = field(http::field::range);
    r.conditions.if_match = field(http::field::if_match);
    r.conditions.if_none_match = field(http::field::if_none_match);
    r.conditions.if_modified_since = field(http::field::if_modified_since);
    r.conditions.if_unmodified_since = field(http::field::if_unmodified_since);
    r.conditions.if_range = field(http::field::if_range);
    hf::Reply reply = hf::respond(root_, hf::Rules{.dotfiles = opt_.dotfiles}, r);

    const bool head = req.method() == http::verb::head;
    const bool keep_alive = req.keep_alive() && !stopping_;
    http::response<http::empty_body> res{static_cast<http::status>(reply.status), req.version()};
    res.set(http::field::server, "green");
    res.set(http::field::date, date_now());
    for (const auto& [k, v] : reply.headers) res.set(k, v);
    const std::uint64_t length = reply.content_length();
    if (reply.status != 304) res.set(http::field::content_length, std::to_string(length));
    res.keep_alive(keep_alive);
    out.clear();
    append_header(out, res);

    std::uint64_t sent = 0;
    std::error_code ec;
    const bool body = !head && reply.status != 304;
    if (body && !reply.has_file()) {
      out += reply.body;
      sent = reply.body.size();
      s.write_all(out, ec);
    } else if (body && length <= kInline) {
      const std::size_t at = out.size();
      out.resize(at + length);
      const ssize_t n = ::pread(reply.file.get(), out.data() + at, length, static_cast<off_t>(reply.offset));
      if (n != static_cast<ssize_t>(length)) return false;  // the file shrank: the length we sent is a lie
      sent = length;
      s.write_all(out, ec);
    } else {
      s.write_all(out, ec);
      if (!ec && body) {
        sent = s.send_file(reply.file.get(), reply.offset, length, ec);
        if (!ec && sent < length) ec = std::make_error_code(std::errc::io_error);  // shrank
      }
    }
    ++stats_.requests;
    if (reply.status >= 400) ++stats_.errors;
    stats_.bytes += sent;
    if (opt_.verbose || opt_.json) {
      Access a{std::chrono::system_clock::now(),
               &s.remote_endpoint(),
               method,
               target,
               req.version(),
               reply.status,
               sent,
               std::chrono::duration<double>(Clock::now() - start).count()};
      if (opt_.json) {
        if (!stats_.stdout_closed && !write_line(1, json_line(a))) stats_.stdout_closed = true;
      } else {
        write_line(2, clf_line(a));
      }
    }
    return !ec && keep_alive;
  }

  const HttpOptions& opt_;
  const hf::Root& root_;
  HttpStats& stats_;
  net::StreamServer server_;
  std::unordered_set<net::TcpStream*> idle_;
  bool stopping_ = false;
};

}  // namespace

int run_http(const HttpOptions& opt) {
  std::optional<hf::Root> root;
  try {
    root.emplace(opt.dir, opt.follow_symlinks);
  } catch (const std::system_error& e) {
    throw UsageError(std::string(e.what()));
  }
  HttpStats stats;
  const auto start = Clock::now();
  return serve_on_hub(opt, [&](const net::address& addr) {
    const int status =
        run_hubs(opt.threads, net::Tcp::endpoint(addr, opt.port), [&](const net::Tcp::endpoint& ep, bool reuse_port) {
          return std::make_unique<HttpServer>(opt, *root, stats, ep, reuse_port);
        });
    if (status != kExitOk) return status;
    const std::uint64_t n = stats.requests;
    diag("{} request{} ({} failed) on {} connection{}, {} sent in {:.1f} s", n, n == 1 ? "" : "s", stats.errors.load(),
         stats.connections.load(), stats.connections == 1 ? "" : "s", human_bytes(stats.bytes), seconds_since(start));
    return exit_status(stats.stop_signal);
  });
}

}  // namespace green::tools::serve
