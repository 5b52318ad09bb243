// green::web: the connection loop of the HTTP/1.1 server and the WebSocket
// wrapper. Beast parses and serializes; every Beast and Asio operation runs
// on the connection's greenlet through green::yield, so a kill or a Timeout
// cancels it through its cancellation slot and nothing here needs a callback.
//
// Limits are Timeouts around the reads: the header of a request (from its
// first byte) must arrive within header_timeout, which is what cuts off a
// client trickling its request line one byte at a time; the wait for the next
// request of a kept-alive connection is a readiness wait (its read buffer is
// given back once it has been idle for a moment, so an idle connection costs
// its greenlet's stack and the socket).
//
// Requests are read with Beast's synchronous parser calls over the stream's
// non-blocking recv (ConnReader), WebSocket frames with Beast's synchronous
// reads over the same (UpgradedSocket); the drain of a closing connection
// goes through Asio reads (asio_reads()).
#include <green/event.hpp>
#include <green/greenlet.hpp>
#include <green/hub.hpp>
#include <green/semaphore.hpp>
#include <green/timeout.hpp>
#include <green/web.hpp>
#include <green/yield.hpp>

#include "hub_impl.hpp"

#include <boost/asio/associator.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/buffer_traits.hpp>
#include <boost/beast/core/buffered_read_stream.hpp>
#include <boost/beast/core/buffers_cat.hpp>
#include <boost/beast/core/buffers_range.hpp>
#include <boost/beast/core/buffers_suffix.hpp>
#include <boost/beast/core/buffers_to_string.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/string.hpp>
#include <boost/beast/http/chunk_encode.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/beast/websocket/error.hpp>
#include <boost/beast/websocket/rfc6455.hpp>
#include <boost/beast/websocket/stream.hpp>
#include <boost/beast/websocket/teardown.hpp>

#include <sys/socket.h>
#include <sys/uio.h>

#include <array>
#include <cerrno>
#include <mutex>
#include <stdexcept>
#include <utility>
#include <vector>

namespace green::web {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace websocket = boost::beast::websocket;
using net::Tcp;
using namespace std::chrono_literals;

namespace {

// Pipelined requests answered in a row before the connection yields.
constexpr unsigned kYieldEvery = 16;
// How long a kept-alive connection waits before it gives back the stack
// pages its requests touched.
constexpr Duration kTrimAfter = std::chrono::milliseconds(100);

// Runs f() under a Timeout of `d` (none for zero or forever). Returns false
// if that Timeout fired; an enclosing Timeout or a kill propagates.
template <class F>
bool within(Duration d, F&& f) {
  if (d <= Duration::zero() || d == forever) {
    f();
    return true;
  }
  return green::try_with_timeout(d, [&] { f(); });
}

[[noreturn]] void throw_io(const boost::system::error_code& ec, const std::string& what) {
  throw std::system_error(std::error_code(ec), what);
}

// Errors that mean the peer is simply gone: nothing to answer.
bool peer_gone(const boost::system::error_code& ec) {
  return ec == http::error::end_of_stream || ec == asio::error::eof || ec == asio::error::connection_reset ||
         ec == asio::error::broken_pipe || ec == asio::error::operation_aborted || ec == asio::error::bad_descriptor;
}

}  // namespace

// ---- the connection -------------------------------------------------------------

// The idle limits of a kept-alive connection without a Timeout per request
// (arming and cancelling one for every wait was the biggest user-space cost
// per request at 500 connections: a heap of timers living on 500 stacks).
// One hub timer per connection, armed when a wait starts and it is not
// already armed, left alone while requests keep coming: when it fires it
// looks at how long the connection has been waiting, and re-arms itself,
// gives back the stack pages and buffers of one idle for kTrimAfter, or
// closes one past its limit (which wakes the wait).
struct IdleTimer : detail::TimerNode {
  explicit IdleTimer(Reply::Conn& c) noexcept : TimerNode(&IdleTimer::fire), conn(c) {}
  static void fire(detail::TimerNode* t) noexcept;
  Reply::Conn& conn;
};

struct Reply::Conn {
  Conn(net::TcpStream& s, Server::State& state) : stream(s), sock(s.socket()), st(state) {}
  ~Conn() { detail::timer_cancel(idle_timer); }
  Conn(const Conn&) = delete;
  Conn& operator=(const Conn&) = delete;
  net::TcpStream& stream;
  // For writes, and for Asio reads once asio_reads() handed the reading over
  // to Asio (see ConnReader).
  Tcp::socket& sock;
  Server::State& st;
  beast::flat_buffer buf;
  std::string head;          // the reply's serialized header
  bool close_after = false;  // the last reply cannot be followed on this connection
  unsigned status = 0;       // of the last reply, for the access log
  // In Server::State's idle list while waiting for a request.
  Conn* idle_prev = nullptr;
  Conn* idle_next = nullptr;
  bool waiting = false;
  bool trimmed = false;  // this wait gave back its stack pages and buffers
  Clock::time_point idle_since{};
  Duration idle_limit{};  // of this wait; zero: none
  detail::GreenletBase* greenlet = detail::current();
  IdleTimer idle_timer{*this};
};

struct Server::State {
  State(StreamingHandler h, Options o) : handler(std::move(h)), opt(std::move(o)) {}
  StreamingHandler handler;
  Options opt;
  std::function<void(const AccessRecord&)> log;
  std::unique_ptr<net::StreamServer> server;
  // Connections waiting for a request (stop() closes them): an intrusive
  // list, since every request of a kept-alive connection joins and leaves it.
  Reply::Conn* idle_head = nullptr;
  std::uint64_t requests = 0;
  bool stopping = false;

  void serve(net::TcpStream& s);
  // The server's own error answer (400, 408, 413, 431), logged like any other
  // response; `req` is null when no request header was parsed.
  void refuse(Reply::Conn& c, http::status status, const Request::Message* req, Clock::time_point since);
};

namespace {

// Writes with the connection's write timeout; a client that does not take
// the bytes in time is an error like a reset.
template <class F>
void timed_write(Reply::Conn& c, F&& f) {
  if (!within(c.st.opt.write_timeout, std::forward<F>(f))) {
    throw std::system_error(std::make_error_code(std::errc::timed_out),
                            "write to " + net::to_string(c.stream.remote_endpoint()));
  }
}

bool would_block(const boost::system::error_code& ec) {
  return ec == asio::error::would_block || ec == asio::error::try_again;
}

// The socket for an Asio read operation: the stream's readiness watches
// leave the reactor's read queue first (they would sit in front of it).
Tcp::socket& asio_reads(Reply::Conn& c) { return c.stream.socket(); }

// Writes try the non-blocking socket first: a reply that fits in the socket
// buffer (nearly every one) goes out in one system call, with no Timeout, no
// composed operation and no trip through the hub; only what does not fit
// waits, under the write timeout.
template <class Buffers>
void send_buffers(Reply::Conn& c, const Buffers& b, boost::system::error_code& ec) {
  beast::buffers_suffix<Buffers> rest(b);
  rest.consume(asio::write(c.sock, rest, ec));
  if (!would_block(ec)) return;
  ec = {};
  timed_write(c, [&] { asio::async_write(c.sock, rest, green::yield[ec]); });
}

// A reply of one or two plain buffers (header, body), nearly every one: a
// single sendmsg of their iovecs. Asio's write walks them through
// buffers_suffix and consuming_buffers first, several hundred instructions
// per reply (callgrind), more than the rest of a cached small file's reply.
template <std::size_t N>
void send_buffers(Reply::Conn& c, const std::array<asio::const_buffer, N>& b, boost::system::error_code& ec) {
  std::array<iovec, N> iov;
  std::size_t total = 0;
  for (std::size_t i = 0; i < N; ++i) {
    iov[i] = {const_cast<void*>(b[i].data()), b[i].size()};
    total += b[i].size();
  }
  msghdr msg{};
  msg.msg_iov = iov.data();
  msg.msg_iovlen = N;
  ssize_t n;
  do {
    n = ::sendmsg(c.sock.native_handle(), &msg, MSG_NOSIGNAL);
  } while (n < 0 && errno == EINTR);
  ec = {};
  if (n >= 0 && static_cast<std::size_t>(n) == total) return;
  if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
    ec.assign(errno, asio::error::get_system_category());
    return;
  }
  beast::buffers_suffix<std::array<asio::const_buffer, N>> rest(b);
  rest.consume(n > 0 ? static_cast<std::size_t>(n) : 0);
  timed_write(c, [&] { asio::async_write(c.sock, rest, green::yield[ec]); });
}

void send_buffers(Reply::Conn& c, const asio::const_buffer& b, boost::system::error_code& ec) {
  send_buffers(c, std::array<asio::const_buffer, 1>{b}, ec);
}

// Statuses whose responses never have content (RFC 9110 6.4.1).
bool no_content(http::status s) {
  return http::to_status_class(s) == http::status_class::informational || s == http::status::no_content ||
         s == http::status::not_modified;
}

// Beast's header serializer (the fields' writer, which http::serializer
// uses) gathered into one buffer of the connection: a reply then goes out as
// two iovecs (header, body) instead of one per field, and Beast's composed
// buffer views are walked once instead of at every step of a write.
template <class Fields>
const std::string& serialize_header(std::string& out, const http::header<false, Fields>& h) {
  typename Fields::writer w(h, h.version(), h.result_int());
  out.clear();
  const auto buffers = w.get();
  for (const auto b : beast::buffers_range_ref(buffers)) out.append(static_cast<const char*>(b.data()), b.size());
  return out;
}

template <class Fields>
const std::string& serialize_header(Reply::Conn& c, const http::header<false, Fields>& h) {
  return serialize_header(c.head, h);
}

// Closes after an error reply: half-close, then read and drop what the
// client still sends for a moment, so the kernel does not answer its unread
// bytes with a reset that destroys the reply before the client read it.
void linger_close(Reply::Conn& c) {
  boost::system::error_code ec;
  c.sock.shutdown(Tcp::socket::shutdown_send, ec);
  if (ec) return;
  std::array<char, 4096> sink;
  std::size_t dropped = 0;
  within(1s, [&] {
    while (dropped < 256 * 1024) {
      const std::size_t n = asio_reads(c).async_read_some(asio::buffer(sink), green::yield[ec]);
      if (ec) return;
      dropped += n;
    }
  });
}

// Writes an error answer that closes the connection; linger_close() is to
// follow (after the access log: it may wait). Returns the body bytes sent,
// nullopt when the client was gone.
std::optional<std::uint64_t> error_reply(Reply::Conn& c, http::status status) {
  Response res{status, 11};
  res.set(http::field::content_type, "text/plain; charset=utf-8");
  if (!c.st.opt.server_name.empty()) res.set(http::field::server, c.st.opt.server_name);
  res.body() = std::string(http::obsolete_reason(status)) + "\n";
  res.keep_alive(false);
  res.prepare_payload();
  c.status = static_cast<unsigned>(status);
  boost::system::error_code ec;
  try {
    timed_write(c, [&] { http::async_write(c.sock, res, green::yield[ec]); });
  } catch (const std::system_error&) {
    return std::nullopt;
  }
  if (ec) return std::nullopt;
  return res.body().size();
}

// Keeps a connection in the idle list while it waits for a request, with its
// idle timer running.
struct IdleMark {
  IdleMark(Reply::Conn& conn, Duration limit) : c(conn) {
    Reply::Conn*& head = c.st.idle_head;
    c.idle_prev = nullptr;
    c.idle_next = head;
    if (head) head->idle_prev = &c;
    head = &c;
    c.waiting = true;
    c.trimmed = false;
    c.idle_since = Clock::now();
    c.idle_limit = limit <= Duration::zero() || limit == forever ? Duration::zero() : limit;
    const bool trims = c.idle_limit == Duration::zero() || c.idle_limit > kTrimAfter;
    const Clock::time_point due = c.idle_since + (trims ? kTrimAfter : c.idle_limit);
    // Armed for an earlier wait and due sooner: it fires, finds this wait
    // younger and re-arms for it.
    if (!c.idle_timer.armed() || c.idle_timer.deadline > due) detail::timer_arm(c.idle_timer, due);
  }
  ~IdleMark() {
    c.waiting = false;
    if (c.idle_prev) {
      c.idle_prev->idle_next = c.idle_next;
    } else {
      c.st.idle_head = c.idle_next;
    }
    if (c.idle_next) c.idle_next->idle_prev = c.idle_prev;
    c.idle_prev = c.idle_next = nullptr;
  }
  IdleMark(const IdleMark&) = delete;
  IdleMark& operator=(const IdleMark&) = delete;
  Reply::Conn& c;
};

}  // namespace

void IdleTimer::fire(detail::TimerNode* t) noexcept {
  Reply::Conn& c = static_cast<IdleTimer*>(t)->conn;
  if (!c.waiting) return;  // busy: its next wait arms the timer again
  const Duration idle = Clock::now() - c.idle_since;
  if (c.idle_limit > Duration::zero() && idle >= c.idle_limit) {
    c.stream.close();
    return;
  }
  if (!c.trimmed && idle >= kTrimAfter) {
    // Once per wait, even when the greenlet is already woken (then it is
    // about to run and nothing is trimmed): a timer due now must not re-arm
    // for now.
    c.trimmed = true;
    c.buf.shrink_to_fit();
    std::string().swap(c.head);
    detail::Hub::get()->trim_parked_stack(c.greenlet);
  }
  if (!c.trimmed) {
    detail::timer_arm(*t, c.idle_since + kTrimAfter);
  } else if (c.idle_limit > Duration::zero()) {
    detail::timer_arm(*t, c.idle_since + c.idle_limit);
  }
}

namespace {

// Beast's synchronous reads through the stream's own non-blocking recv
// (TcpStream::try_read), never through Asio: the stream then knows when the
// socket is empty, and its wait_readable() parks on readiness watches that
// stay queued in the reactor for the connection's life, so a request costs
// no epoll_ctl, no Asio operation and no cancellation slot. An empty socket
// reads as would_block: wait_readable(), then read again.
struct ConnReader {
  net::TcpStream& s;
  template <class MutableBuffers>
  std::size_t read_some(const MutableBuffers& bufs, boost::system::error_code& ec) {
    ec = {};
    for (auto it = asio::buffer_sequence_begin(bufs); it != asio::buffer_sequence_end(bufs); ++it) {
      const asio::mutable_buffer b = *it;
      if (b.size() == 0) continue;
      std::error_code sec;
      const std::size_t n = s.try_read(std::span<char>(static_cast<char*>(b.data()), b.size()), sec);
      if (sec == std::errc::operation_would_block) {
        ec = asio::error::would_block;
      } else if (sec) {
        ec.assign(sec.value(), asio::error::get_system_category());
      } else if (n == 0) {
        ec = asio::error::eof;
      }
      return n;
    }
    return 0;
  }
  template <class MutableBuffers>
  std::size_t read_some(const MutableBuffers& bufs) {
    boost::system::error_code ec;
    const std::size_t n = read_some(bufs, ec);
    if (ec) throw boost::system::system_error(ec);
    return n;
  }
};

// Runs a Beast read (`step(ec)`: read_header or read on a ConnReader) until
// it no longer stops for want of bytes, waiting for the socket in between.
// Returns whether the bytes that finished it came after a wait that parked
// (Request::waited). Switch point.
template <class Step>
bool read_waiting(Reply::Conn& c, Step&& step, boost::system::error_code& ec) {
  bool parked = false;
  for (;;) {
    step(ec);
    if (!would_block(ec)) return parked;
    std::error_code wec;
    parked = c.stream.wait_readable(wec);
    if (wec) {
      ec = asio::error::operation_aborted;
      return parked;
    }
  }
}

}  // namespace

void Server::State::refuse(Reply::Conn& c, http::status status, const Request::Message* req, Clock::time_point since) {
  const auto sent = error_reply(c, status);
  if (log) {
    AccessRecord r;
    r.peer = c.stream.remote_endpoint();
    if (req) {
      r.method = req->method_string();
      r.target = req->target();
      r.version = req->version();
    }
    r.status = c.status;
    r.body_bytes = sent.value_or(0);
    r.elapsed = Clock::now() - since;
    log(r);
  }
  if (sent) linger_close(c);
}

void Server::State::serve(net::TcpStream& s) {
  Reply::Conn conn(s, *this);
  std::error_code sec;
  s.set_nodelay(true, sec);
  boost::system::error_code bec;
  conn.sock.non_blocking(true, bec);  // writes try the socket first and never block the hub
  if (bec) return;
  ConnReader reader{s};
  bool first = true;
  unsigned unparked = 0;  // requests in a row read without parking
  for (;;) {
    if (stopping) return;
    bool waited = false;
    if (conn.buf.size() == 0) {
      IdleMark mark(conn, first ? opt.header_timeout : opt.idle_timeout);
      std::error_code ec;
      waited = s.wait_readable(ec);  // the idle timer closes the stream when the limit passes
      if (ec || stopping || !s.is_open()) return;
      unparked = 0;
    }
    http::request_parser<http::string_body> parser;
    parser.header_limit(static_cast<std::uint32_t>(std::min<std::size_t>(opt.max_header_bytes, UINT32_MAX)));
    parser.body_limit(opt.max_body_bytes);
    boost::system::error_code ec;
    // From here for a header still on its way; one parsed at once (nearly
    // every one) takes no time of its own, and no clock read is spent on it.
    Clock::time_point arrival{};
    // What has arrived is parsed at once; only a header still on its way
    // waits, under the header timeout.
    http::read_header(reader, conn.buf, parser, ec);
    if (would_block(ec)) {
      if (!parser.got_some() && conn.buf.size() == 0) continue;  // woken, but nothing came: still idle
      ec = {};
      arrival = Clock::now();
      if (!within(opt.header_timeout, [&] {
            waited = read_waiting(
                conn, [&](boost::system::error_code& e) { http::read_header(reader, conn.buf, parser, e); }, ec);
          })) {
        refuse(conn, http::status::request_timeout, nullptr, arrival);
        return;
      }
      unparked = 0;
    } else if (++unparked >= kYieldEvery) {
      // Pipelined requests answered without ever parking: let the other
      // connections run now and then.
      unparked = 0;
      green::sleep(Duration::zero());
      if (stopping || !s.is_open()) return;
    }
    first = false;
    if (ec) {
      if (peer_gone(ec)) return;
      if (arrival == Clock::time_point{}) arrival = Clock::now();
      if (ec == http::error::header_limit) {
        refuse(conn, http::status::request_header_fields_too_large, nullptr, arrival);
      } else if (ec == http::error::body_limit) {
        refuse(conn, http::status::payload_too_large, &parser.get(), arrival);
      } else {
        refuse(conn, http::status::bad_request, nullptr, arrival);
      }
      return;
    }
    const auto start = Clock::now();
    if (!parser.is_done()) {
      if (beast::iequals(parser.get()[http::field::expect], "100-continue")) {
        http::response<http::empty_body> go_on{http::status::continue_, 11};
        timed_write(conn, [&] { http::async_write(conn.sock, go_on, green::yield[ec]); });
        if (ec) return;
      }
      if (!within(opt.body_timeout, [&] {
            waited = read_waiting(
                conn, [&](boost::system::error_code& e) { http::read(reader, conn.buf, parser, e); }, ec);
          })) {
        refuse(conn, http::status::request_timeout, &parser.get(), start);
        return;
      }
      if (ec) {
        if (peer_gone(ec)) return;
        refuse(conn, ec == http::error::body_limit ? http::status::payload_too_large : http::status::bad_request,
               &parser.get(), start);
        return;
      }
    }
    Request req(parser.release(), s.remote_endpoint());
    req.waited = waited;
    Reply reply(conn, req.version(), req.method() == http::verb::head, req.keep_alive() && !stopping);
    conn.status = 0;
    bool failed = false;
    try {
      handler(req, reply);
      reply.finish();
    } catch (const std::exception&) {
      // The server goes on; this connection ends (after a 500 if nothing
      // of the reply went out yet).
      failed = true;
    }
    const bool answered_500 = failed && !reply.started() && error_reply(conn, http::status::internal_server_error);
    ++requests;
    if (log) {
      AccessRecord r;
      r.peer = req.peer;
      r.method = req.method_string();
      r.target = req.target();
      r.version = req.version();
      r.status = conn.status;
      r.body_bytes = reply.sent_;
      r.elapsed = Clock::now() - start;
      log(r);
    }
    if (answered_500) linger_close(conn);
    if (failed || reply.upgraded_) return;
    if (!reply.keep_alive_ || conn.close_after || stopping) {
      boost::system::error_code ignored;
      conn.sock.shutdown(Tcp::socket::shutdown_send, ignored);
      return;
    }
  }
}

// ---- Reply ------------------------------------------------------------------------

Reply::Reply(Conn& conn, unsigned version, bool head_only, bool keep_alive)
    : conn_(conn), head_only_(head_only), keep_alive_(keep_alive) {
  head_.version(version);
  head_.result(http::status::ok);
}

void Reply::content_length(std::uint64_t n) {
  if (started_) throw std::logic_error("green::web::Reply::content_length after the header went out");
  length_ = n;
}

void Reply::start(bool chunked) {
  // A message around the header for Beast's framing setters (moved in and
  // back out: no field is copied).
  http::response<http::empty_body> msg(std::move(head_));
  if (!conn_.st.opt.server_name.empty() && msg.find(http::field::server) == msg.end()) {
    msg.set(http::field::server, conn_.st.opt.server_name);
  }
  if (no_content(msg.result())) {
    // Framed by its status: no body follows, whatever is written.
    if (!length_ || msg.result() != http::status::not_modified) msg.content_length(boost::none);
    head_only_ = true;
    chunked = false;
  } else if (length_) {
    msg.content_length(*length_);
  } else if (chunked) {
    msg.chunked(true);
  } else {
    keep_alive_ = false;  // the body ends with the connection
  }
  msg.keep_alive(keep_alive_);
  chunked_ = chunked && !length_;
  started_ = true;
  conn_.status = msg.result_int();
  head_ = std::move(msg.base());
  boost::system::error_code ec;
  send_buffers(conn_, asio::buffer(serialize_header(conn_, head_)), ec);
  if (ec) throw_io(ec, "write to " + net::to_string(conn_.stream.remote_endpoint()));
}

void Reply::write(std::string_view piece) {
  if (!started_) start(head_.version() >= 11);
  if (head_only_ || piece.empty()) return;
  boost::system::error_code ec;
  if (chunked_) {
    send_buffers(conn_, http::make_chunk(asio::buffer(piece.data(), piece.size())), ec);
  } else {
    if (length_ && sent_ + piece.size() > *length_) {
      throw std::logic_error("green::web::Reply::write: more body than the declared Content-Length");
    }
    send_buffers(conn_, asio::buffer(piece.data(), piece.size()), ec);
  }
  if (ec) throw_io(ec, "write to " + net::to_string(conn_.stream.remote_endpoint()));
  sent_ += piece.size();
}

void Reply::sendfile(int fd, std::uint64_t offset, std::uint64_t count) {
  if (!length_ && !started_) throw std::logic_error("green::web::Reply::sendfile needs content_length() first");
  if (!started_) start(false);
  if (head_only_) return;
  if (chunked_ || (length_ && sent_ + count > *length_)) {
    throw std::logic_error("green::web::Reply::sendfile: more body than the declared Content-Length");
  }
  // send_file yields every few MiB: a fast reader cannot starve the other
  // connections. Each wait for room in the socket buffer is one write_timeout.
  std::error_code ec;
  const std::uint64_t n = conn_.stream.send_file(fd, offset, count, ec, conn_.st.opt.write_timeout);
  sent_ += n;
  if (ec) throw std::system_error(ec, "sendfile to " + net::to_string(conn_.stream.remote_endpoint()));
  if (n < count) {
    throw std::system_error(std::make_error_code(std::errc::io_error), "sendfile: the file is shorter than its range");
  }
}

void Reply::send(Response&& res) {
  if (started_) throw std::logic_error("green::web::Reply::send after the header went out");
  res.version(head_.version());
  if (!conn_.st.opt.server_name.empty() && res.find(http::field::server) == res.end()) {
    res.set(http::field::server, conn_.st.opt.server_name);
  }
  const bool bodiless = no_content(res.result());
  if (bodiless) {
    if (!res.body().empty()) throw std::logic_error("green::web::Reply::send: a 1xx, 204 or 304 response has a body");
    // Beast's prepare_payload() would add Content-Length: 0, which RFC 9110
    // (8.6) forbids in 1xx and 204 and in a 304 allows only with the length
    // a 200 would have (the handler's to set, as for HEAD).
    if (res.chunked()) res.chunked(false);  // drops Content-Length too
    if (res.result() != http::status::not_modified) res.content_length(boost::none);
  } else if (!(head_only_ && res.body().empty() && res.has_content_length())) {
    // A HEAD handler may announce the length without building the body.
    res.prepare_payload();
  }
  if (!bodiless && !res.has_content_length() && !res.chunked()) keep_alive_ = false;
  res.keep_alive(keep_alive_);
  started_ = true;
  conn_.status = res.result_int();
  // prepare_payload() framed the body with Content-Length (a string body's
  // size is known), so it goes out as is, right behind the header.
  const std::string& head = serialize_header(conn_, res.base());
  boost::system::error_code ec;
  if (head_only_ || res.body().empty()) {
    send_buffers(conn_, asio::buffer(head), ec);
  } else {
    send_buffers(conn_, std::array<asio::const_buffer, 2>{asio::buffer(head), asio::buffer(res.body())}, ec);
    sent_ = res.body().size();
  }
  if (ec) throw_io(ec, "write to " + net::to_string(conn_.stream.remote_endpoint()));
}

PreparedHeader Reply::prepare(http::response_header<>&& head, std::uint64_t content_length) const {
  http::response<http::empty_body> msg(std::move(head));
  msg.version(11);
  if (!conn_.st.opt.server_name.empty() && msg.find(http::field::server) == msg.end()) {
    msg.set(http::field::server, conn_.st.opt.server_name);
  }
  msg.content_length(content_length);
  msg.keep_alive(true);
  PreparedHeader p;
  p.head_ = std::move(msg.base());
  p.length_ = content_length;
  serialize_header(p.bytes_, p.head_);
  return p;
}

void Reply::send(const PreparedHeader& prepared, std::string_view body) {
  if (started_) throw std::logic_error("green::web::Reply::send after the header went out");
  if (!head_only_ && body.size() != prepared.length_) {
    throw std::logic_error("green::web::Reply::send: the body is not the prepared Content-Length long");
  }
  const std::string* head = &prepared.bytes_;
  if (head_.version() != 11 || !keep_alive_) {
    // Not the prepared form: the kept fields, serialized for this reply.
    http::response<http::empty_body> msg(http::response_header<>(prepared.head_));
    msg.version(head_.version());
    msg.keep_alive(keep_alive_);
    head = &serialize_header(conn_, msg.base());
  }
  started_ = true;
  length_ = prepared.length_;
  conn_.status = prepared.status();
  boost::system::error_code ec;
  if (head_only_ || body.empty()) {
    send_buffers(conn_, asio::buffer(*head), ec);
  } else {
    send_buffers(conn_, std::array<asio::const_buffer, 2>{asio::buffer(*head), asio::buffer(body.data(), body.size())},
                 ec);
    sent_ = body.size();
  }
  if (ec) throw_io(ec, "write to " + net::to_string(conn_.stream.remote_endpoint()));
}

void Reply::finish() {
  if (upgraded_) return;
  if (!started_) {
    if (!length_) length_ = 0;
    start(false);
  }
  if (chunked_) {
    if (head_only_) return;
    boost::system::error_code ec;
    send_buffers(conn_, http::make_chunk_last(), ec);
    if (ec) throw_io(ec, "write to " + net::to_string(conn_.stream.remote_endpoint()));
  } else if (length_ && sent_ < *length_ && !head_only_) {
    conn_.close_after = true;  // the client would wait for bytes that never come
  }
}

bool is_websocket_upgrade(const Request& req) { return websocket::is_upgrade(req); }

// ---- WebSocket --------------------------------------------------------------------

namespace {

// Completes one of Beast's writes: counts it finished, and reports the
// bytes Beast asked to write even when a batch went out in front of them.
// Forwards the handler's executor, allocator and cancellation slot
// (asio::associator below). Every write of Beast's is waited for by the
// greenlet that started it (green::yield waits for a cancelled one too), so
// the counter outlives them.
template <class Handler>
struct ReportOwnBytes {
  Handler handler;
  std::size_t n;
  unsigned* writing;
  static constexpr std::size_t kAsWritten = std::size_t(-1);
  void operator()(boost::system::error_code ec, std::size_t written) {
    --*writing;
    std::move(handler)(ec, n == kAsWritten ? written : ec ? 0 : n);
  }
};

// The WebSocket's next layer, the connection's socket with these changes.
// Reading: WebSocket::receive() runs Beast's synchronous read, and
// read_some() parks the greenlet on the stream's readiness watches
// (TcpStream::wait_readable(), then try_read()): no Beast or Asio operation,
// no cancellation slot and no timer per message, no system call on a socket
// known to be empty, and a Timeout or kill is thrown right through Beast's
// read (which stays consistent: a read that throws has read nothing). The
// bytes read past the upgrade request come first: a client may send its
// first frames right behind the request, before it reads the 101, and the
// HTTP reader took them along. Writing from inside a read (Beast's pongs and
// close answers) goes through write_some() under the send lock, so it lands
// between messages. Beast's own writes (the asynchronous fallback of a send):
// the first one after `prefix` was set carries those bytes (whole frames, or
// the rest of one the socket took only part of) in front of its own, in one
// write; and they are counted while in progress: while none is, a frame may
// go straight to the socket (WebSocket::Impl::send_now).
class UpgradedSocket : public beast::buffered_read_stream<Tcp::socket&, beast::flat_buffer> {
 public:
  UpgradedSocket(Tcp::socket& s, WebSocket::Impl& owner) : buffered_read_stream(s), im(owner) {}

  WebSocket::Impl& im;
  const std::string* prefix = nullptr;
  unsigned writing = 0;

  // The hub's own executor type, not the socket's polymorphic one: every
  // operation Beast composes copies and tracks work through its stream's
  // executor several times per message. The server's sockets all run on the
  // hub's io_context, so the target is always there.
  using executor_type = asio::io_context::executor_type;
  executor_type get_executor() noexcept { return *next_layer().get_executor().target<executor_type>(); }

  template <class Buffers, class Token>
  auto async_write_some(const Buffers& b, Token&& token) {
    return asio::async_initiate<Token, void(boost::system::error_code, std::size_t)>(
        [this](auto handler, const Buffers& bufs) {
          using Done = ReportOwnBytes<decltype(handler)>;
          ++writing;
          if (prefix == nullptr) {
            return next_layer().async_write_some(bufs, Done{std::move(handler), Done::kAsWritten, &writing});
          }
          const std::string* front = std::exchange(prefix, nullptr);
          asio::async_write(next_layer(), beast::buffers_cat(asio::buffer(*front), bufs),
                            Done{std::move(handler), beast::buffer_bytes(bufs), &writing});
        },
        token, b);
  }

  template <class MutableBuffers>
  std::size_t read_some(const MutableBuffers& b, boost::system::error_code& ec);
  template <class MutableBuffers>
  std::size_t read_some(const MutableBuffers& b) {
    boost::system::error_code ec;
    const std::size_t n = read_some(b, ec);
    if (ec) throw boost::system::system_error(ec);
    return n;
  }
  template <class ConstBuffers>
  std::size_t write_some(const ConstBuffers& b, boost::system::error_code& ec);
  template <class ConstBuffers>
  std::size_t write_some(const ConstBuffers& b) {
    boost::system::error_code ec;
    const std::size_t n = write_some(b, ec);
    if (ec) throw boost::system::system_error(ec);
    return n;
  }
};

void teardown(beast::role_type role, UpgradedSocket& s, boost::system::error_code& ec);

template <class Handler>
void async_teardown(beast::role_type role, UpgradedSocket& s, Handler&& h) {
  websocket::async_teardown(role, s.next_layer(), std::forward<Handler>(h));
}

// A server's frame header (never masked, FIN) into `h`; returns its length.
std::size_t frame_header(std::array<char, 10>& h, std::uint64_t n, bool binary) {
  h[0] = static_cast<char>(0x80 | (binary ? 0x2 : 0x1));
  std::size_t len = 2;
  if (n < 126) {
    h[1] = static_cast<char>(n);
  } else if (n <= 0xffff) {
    h[1] = static_cast<char>(126);
    for (int shift = 8; shift >= 0; shift -= 8) h[len++] = static_cast<char>((n >> shift) & 0xff);
  } else {
    h[1] = static_cast<char>(127);
    for (int shift = 56; shift >= 0; shift -= 8) h[len++] = static_cast<char>((n >> shift) & 0xff);
  }
  return len;
}

void append_frame(std::string& out, std::string_view m, bool binary) {
  std::array<char, 10> h;
  out.append(h.data(), frame_header(h, m.size(), binary));
  out += m;
}

}  // namespace
}  // namespace green::web

template <template <class, class> class Associator, class Handler, class Default>
struct boost::asio::associator<Associator, green::web::ReportOwnBytes<Handler>, Default> {
  static typename Associator<Handler, Default>::type get(const green::web::ReportOwnBytes<Handler>& h,
                                                         const Default& d = Default()) noexcept {
    return Associator<Handler, Default>::get(h.handler, d);
  }
};

namespace green::web {

// The idle ping, Beast's keep_alive_pings without Beast's timer, which is
// cancelled and queued again for every message read (5% of the server's
// CPU in a 1,000-client echo). This one is armed once per half idle
// timeout: when it fires it looks whether anything was read since the last
// time; if not, it pings (or has the send in progress do it), and if still
// nothing came by the next time, the connection ends (a parked receive
// returns nullopt, close code 1006).
struct PingTimer : detail::TimerNode {
  explicit PingTimer(WebSocket::Impl& i) noexcept : TimerNode(&PingTimer::fire), im(i) {}
  static void fire(detail::TimerNode* t);
  WebSocket::Impl& im;
};

struct WebSocket::Impl {
  Impl(net::TcpStream& s, const Options& o) : ws(s.socket(), *this), stream(s), opt(o) {}
  ~Impl() { detail::timer_cancel(ping_timer); }
  websocket::stream<UpgradedSocket> ws;
  net::TcpStream& stream;
  const Options& opt;
  green::Lock send_lock;
  beast::flat_buffer rbuf;  // a message being read (kept when a Timeout or kill interrupts it)
  std::string batch;        // send_many's frames before its last message; the rest of a frame sent in part
  std::string owed;         // a pong or close answer of Beast's read that a Timeout or kill kept from going out
  std::uint16_t code = 0;
  bool close_sent = false;    // by close(): nothing goes out after it
  bool receiving = false;     // a greenlet is in receive()
  bool draining = false;      // close() reads the peer's answer itself
  green::Event ended;         // the read side saw the end (a close frame, an error)
  PingTimer ping_timer{*this};
  Duration ping_every{};      // half the idle timeout; zero: no idle ping
  std::uint64_t reads = 0;    // reads that got bytes
  std::uint64_t reads_seen = 0;
  bool pinged = false;        // since the last read seen
  bool ping_wanted = false;   // the timer found a send in progress: it pings when done

  bool is_open() const noexcept { return !close_sent && ws.is_open() && stream.is_open(); }

  // Writes whole frames straight to the socket when it is open and no write
  // of Beast's is under way (one could have part of a frame out): a message
  // that fits in the socket buffer, nearly every one, costs one system call,
  // with no Beast operation, no Timeout and no trip through the hub. Returns
  // false when nothing went out; the caller then sends through Beast. Needs
  // send_lock. Switch point only when the socket takes part of the frames:
  // the rest then goes out in front of a ping (Beast's write lock keeps a
  // write of Beast's behind it), and the call waits for that like a send (a
  // failure ends the connection).
  template <class Buffers>
  bool send_now(const Buffers& frames) {
    auto& up = ws.next_layer();
    if (!ws.is_open() || up.writing != 0 || up.prefix != nullptr) return false;
    boost::system::error_code ec;
    const std::size_t n = up.next_layer().send(frames, 0, ec);
    if (ec) return false;  // full (Beast waits for room) or failed (Beast reports it)
    if (n == beast::buffer_bytes(frames)) {
      if (ping_wanted) ping_now();
      return true;
    }
    beast::buffers_suffix<Buffers> rest(frames);
    rest.consume(n);
    std::string tail = beast::buffers_to_string(rest);  // `frames` may be `batch` itself
    batch.swap(tail);
    up.prefix = &batch;
    struct Done {
      Impl& im;
      ~Done() { im.ws.next_layer().prefix = nullptr; }
    } done{*this};
    bool in_time = false;
    ping_wanted = false;  // this ping serves
    try {
      in_time = within(opt.write_timeout, [&] { ws.async_ping({}, green::yield[ec]); });
    } catch (...) {
      abort();  // part of a frame is out: the connection cannot go on
      throw;
    }
    if (!in_time || ec) abort();
    if (!in_time) throw std::system_error(std::make_error_code(std::errc::timed_out), "WebSocket send");
    if (ec) throw_io(ec, "WebSocket send");
    return true;
  }

  // A frame Beast's read writes (a pong, the answer to a close, the close
  // that fails a connection), whole, under send_lock (a send parked on a slow
  // client finishes its frame first). Switch point; a write that cannot
  // finish ends the connection.
  // A Timeout or kill that ends the wait for send_lock leaves the frame in
  // `owed`, which the next receive() sends first: Beast has consumed the
  // ping or close it answers, and after a close it believes its answer out.
  template <class Buffers>
  void write_whole(const Buffers& frames, boost::system::error_code& ec) {
    try {
      send_lock.lock();
    } catch (...) {
      owed = beast::buffers_to_string(frames);
      throw;
    }
    std::lock_guard<green::Lock> hold(send_lock, std::adopt_lock);
    if (!close_sent) write_locked(frames, ec);
  }

  // Sends `owed`; true when it was the answer to the peer's close, which
  // ends the connection as Beast's read would have. Switch point.
  bool send_owed() {
    std::lock_guard<green::Lock> hold(send_lock);
    const std::string frame = std::exchange(owed, {});
    const bool close_answer = static_cast<unsigned char>(frame[0]) == 0x88;
    boost::system::error_code ec;
    if (!close_sent) write_locked(asio::buffer(frame), ec);
    if (!close_answer) return false;
    close_sent = true;
    code = static_cast<std::uint16_t>(ws.reason().code);
    if (code == 0) code = websocket::close_code::no_status;
    std::error_code ignored;
    stream.shutdown_write(ignored);
    stream.close();
    return true;
  }

  // The frames, whole, needing send_lock; no write of Beast's is under way.
  template <class Buffers>
  void write_locked(const Buffers& frames, boost::system::error_code& ec) {
    auto& sock = ws.next_layer().next_layer();
    beast::buffers_suffix<Buffers> rest(frames);
    rest.consume(sock.send(rest, 0, ec));
    if (ec && !would_block(ec)) return;
    ec = {};
    if (beast::buffer_bytes(rest) != 0) {
      bool in_time = false;
      try {
        in_time = within(opt.write_timeout, [&] { asio::async_write(sock, rest, green::yield[ec]); });
      } catch (...) {
        abort();
        throw;
      }
      if (!in_time) ec = asio::error::timed_out;
      if (ec) return abort();
    }
    if (ping_wanted) ping_now();
  }

  // The idle ping, when nothing else is being written (else ping_wanted
  // has the writer send it). Never switches.
  void ping_now() noexcept {
    ping_wanted = false;
    auto& up = ws.next_layer();
    if (!is_open()) return;
    if (up.writing != 0 || up.prefix != nullptr) {
      ping_wanted = true;
      return;
    }
    static constexpr std::array<char, 2> kPing{static_cast<char>(0x89), 0};
    boost::system::error_code ec;
    const std::size_t n = up.next_layer().send(asio::buffer(kPing), 0, ec);
    if (!ec && n != kPing.size()) abort();  // half a frame out
    // A full socket takes no ping: the peer is not reading, and the next
    // look finds nothing read.
  }

  void abort() noexcept {
    if (code == 0) code = websocket::close_code::abnormal;
    stream.close();  // wakes a parked receive
  }
};

void PingTimer::fire(detail::TimerNode* t) {
  WebSocket::Impl& im = static_cast<PingTimer*>(t)->im;
  if (!im.stream.is_open()) return;
  if (im.reads != im.reads_seen) {
    im.reads_seen = im.reads;
    im.pinged = false;
  } else if (!im.pinged) {
    im.pinged = true;
    if (im.send_lock.locked()) {
      im.ping_wanted = true;  // the send or close in progress pings when its frame is out
    } else {
      im.ping_now();
    }
  } else {
    im.abort();
    return;
  }
  detail::timer_arm(*t, Clock::now() + im.ping_every);
}

namespace {

template <class MutableBuffers>
std::size_t UpgradedSocket::read_some(const MutableBuffers& b, boost::system::error_code& ec) {
  ec = {};
  if (buffer().size() > 0) {
    const std::size_t n = asio::buffer_copy(b, buffer().data());
    buffer().consume(n);
    return n;
  }
  for (auto it = asio::buffer_sequence_begin(b); it != asio::buffer_sequence_end(b); ++it) {
    const asio::mutable_buffer m = *it;
    if (m.size() == 0) continue;
    for (;;) {
      std::error_code sec;
      im.stream.wait_readable(sec);  // returns at once unless the socket is known to be empty
      std::size_t n = 0;
      if (!sec) n = im.stream.try_read(std::span<char>(static_cast<char*>(m.data()), m.size()), sec);
      if (sec == std::errc::operation_would_block) continue;
      if (sec) {
        ec.assign(sec.value(), asio::error::get_system_category());
      } else if (n == 0) {
        ec = asio::error::eof;
      } else {
        ++im.reads;
      }
      return n;
    }
  }
  return 0;
}

template <class ConstBuffers>
std::size_t UpgradedSocket::write_some(const ConstBuffers& b, boost::system::error_code& ec) {
  ec = {};
  im.write_whole(b, ec);
  return ec ? 0 : beast::buffer_bytes(b);
}

// Beast's synchronous read ends a connection through this (found by ADL):
// the server closes first (RFC 6455 7.1.1), without waiting for the peer's
// end of the stream.
void teardown(beast::role_type, UpgradedSocket& s, boost::system::error_code& ec) {
  ec = {};
  std::error_code ignored;
  s.im.stream.shutdown_write(ignored);
  s.im.stream.close();
}

}  // namespace

WebSocket::WebSocket(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
WebSocket::WebSocket(WebSocket&&) noexcept = default;
WebSocket& WebSocket::operator=(WebSocket&&) noexcept = default;
WebSocket::~WebSocket() = default;

WebSocket Reply::accept_websocket(Request& req) {
  if (started_) throw std::logic_error("green::web::Reply::accept_websocket after the header went out");
  started_ = true;
  upgraded_ = true;
  const Options& opt = conn_.st.opt;
  auto impl = std::make_unique<WebSocket::Impl>(conn_.stream, opt);
  auto& ws = impl->ws;
  websocket::stream_base::timeout t{};
  t.handshake_timeout = opt.header_timeout > Duration::zero() ? opt.header_timeout : websocket::stream_base::none();
  t.idle_timeout = websocket::stream_base::none();  // PingTimer
  t.keep_alive_pings = false;
  ws.set_option(t);
  ws.read_message_max(opt.max_message_bytes);
  if (!opt.server_name.empty()) {
    ws.set_option(websocket::stream_base::decorator(
        [name = opt.server_name](websocket::response_type& res) { res.set(http::field::server, name); }));
  }
  auto& early = ws.next_layer().buffer();
  early.commit(asio::buffer_copy(early.prepare(conn_.buf.size()), conn_.buf.data()));
  conn_.buf.consume(conn_.buf.size());
  boost::system::error_code ec;
  ws.async_accept(req, green::yield[ec]);
  conn_.status = ec ? 400 : 101;
  if (ec) throw_io(ec, "WebSocket handshake with " + net::to_string(conn_.stream.remote_endpoint()));
  if (opt.websocket_idle_timeout > Duration::zero() && opt.websocket_idle_timeout != forever) {
    impl->ping_every = opt.websocket_idle_timeout / 2;
    detail::timer_arm(impl->ping_timer, Clock::now() + impl->ping_every);
  }
  return WebSocket(std::move(impl));
}

std::optional<WebSocket::Message> WebSocket::receive() {
  auto& im = *impl_;
  if (im.draining) {  // one reader at a time: close() reads until the end
    im.ended.wait();
    return std::nullopt;
  }
  if (!im.owed.empty() && im.send_owed()) {
    im.ended.set();
    return std::nullopt;
  }
  boost::system::error_code ec;
  {
    struct Mark {
      Impl& im;
      explicit Mark(Impl& i) : im(i) { im.receiving = true; }
      ~Mark() { im.receiving = false; }
    } mark(im);
    // A message a Timeout or kill interrupted goes on where it stopped.
    im.ws.read(im.rbuf, ec);
  }
  if (ec) {
    if (ec == websocket::error::closed) {
      im.code = static_cast<std::uint16_t>(im.ws.reason().code);
      if (im.code == 0) im.code = websocket::close_code::no_status;
    } else if (ec == websocket::error::message_too_big || ec == websocket::error::buffer_overflow) {
      im.code = websocket::close_code::too_big;
    } else if (ec == websocket::error::bad_frame_payload) {
      im.code = websocket::close_code::bad_payload;
    } else if (im.code == 0) {
      im.code = websocket::close_code::abnormal;
    }
    im.rbuf.clear();
    im.ended.set();
    return std::nullopt;
  }
  Message m;
  m.binary = im.ws.got_binary();
  m.data = beast::buffers_to_string(im.rbuf.data());
  im.rbuf.clear();
  return m;
}

void WebSocket::send(std::string_view data, bool binary) {
  auto& im = *impl_;
  std::lock_guard<green::Lock> hold(im.send_lock);
  if (im.close_sent) throw_io(websocket::error::closed, "WebSocket send");
  std::array<char, 10> head;
  const std::array<asio::const_buffer, 2> frame{asio::buffer(head.data(), frame_header(head, data.size(), binary)),
                                                asio::buffer(data.data(), data.size())};
  if (im.send_now(frame)) return;
  im.ws.binary(binary);
  boost::system::error_code ec;
  const bool in_time = within(im.opt.write_timeout,
                              [&] { im.ws.async_write(asio::buffer(data.data(), data.size()), green::yield[ec]); });
  if (!in_time) throw std::system_error(std::make_error_code(std::errc::timed_out), "WebSocket send");
  if (ec) throw_io(ec, "WebSocket send");
  if (im.ping_wanted) im.ping_now();
}

void WebSocket::send_many(std::span<const std::string_view> messages, bool binary) {
  if (messages.empty()) return;
  if (messages.size() == 1) return send(messages[0], binary);
  auto& im = *impl_;
  std::lock_guard<green::Lock> hold(im.send_lock);
  if (im.close_sent) throw_io(websocket::error::closed, "WebSocket send");
  // A batch as big as a chat's 64 KiB is not kept for each idle connection.
  struct Done {
    Impl& im;
    ~Done() {
      im.ws.next_layer().prefix = nullptr;
      if (im.batch.capacity() > 16 * 1024) {
        std::string().swap(im.batch);
      } else {
        im.batch.clear();
      }
    }
  } done{im};
  im.batch.clear();
  for (std::string_view m : messages.first(messages.size() - 1)) append_frame(im.batch, m, binary);
  const std::string_view last = messages.back();
  std::array<char, 10> head;
  const std::array<asio::const_buffer, 3> frames{asio::buffer(im.batch),
                                                 asio::buffer(head.data(), frame_header(head, last.size(), binary)),
                                                 asio::buffer(last.data(), last.size())};
  if (im.send_now(frames)) return;
  // Beast writes the last message, the others in front of it.
  im.ws.binary(binary);
  im.ws.next_layer().prefix = &im.batch;
  boost::system::error_code ec;
  bool in_time = false;
  try {
    in_time = within(im.opt.write_timeout,
                     [&] { im.ws.async_write(asio::buffer(last.data(), last.size()), green::yield[ec]); });
  } catch (...) {
    // Killed in the middle: how much of the batch went out is unknown, so
    // the connection cannot go on.
    im.abort();
    throw;
  }
  if (!in_time || ec) im.abort();
  if (!in_time) throw std::system_error(std::make_error_code(std::errc::timed_out), "WebSocket send");
  if (ec) throw_io(ec, "WebSocket send");
  if (im.ping_wanted) im.ping_now();
}

void WebSocket::close(std::uint16_t code, std::string_view reason) {
  auto& im = *impl_;
  // The peer's close came already, its answer owed (Beast no longer calls
  // the stream open): that answer ends it.
  if (!im.owed.empty() && im.stream.is_open() && im.send_owed()) {
    im.ended.set();
    return;
  }
  if (!im.is_open()) return;
  {
    std::lock_guard<green::Lock> hold(im.send_lock);
    if (!im.is_open()) return;
    if (im.code == 0) im.code = code;
    std::string frame{static_cast<char>(0x88), 0};
    if (code != 0) {
      reason = reason.substr(0, 123);  // a control frame's payload is at most 125 bytes
      frame[1] = static_cast<char>(2 + reason.size());
      frame += static_cast<char>(code >> 8);
      frame += static_cast<char>(code & 0xff);
      frame += reason;
    }
    boost::system::error_code ec;
    im.write_locked(asio::buffer(frame), ec);
    if (ec) return im.abort();
    im.close_sent = true;  // Beast's own answer to the peer's close is not sent (write_whole)
  }
  // The peer's close: read by the greenlet in receive() if there is one,
  // else here (what comes before it is dropped). Beast's read then ends the
  // connection (teardown).
  within(im.opt.websocket_idle_timeout, [&] {
    if (im.receiving) {
      im.ended.wait();
      return;
    }
    struct Drain {
      Impl& im;
      explicit Drain(Impl& i) : im(i) { im.draining = true; }
      ~Drain() {
        im.draining = false;
        im.ended.set();
      }
    } drain(im);
    boost::system::error_code ec;
    while (!ec) {
      im.ws.read(im.rbuf, ec);
      im.rbuf.clear();
    }
  });
  if (im.stream.is_open()) im.abort();
}

void WebSocket::abort() noexcept {
  if (impl_) impl_->abort();
}

bool WebSocket::is_open() const noexcept { return impl_ && impl_->is_open(); }
std::uint16_t WebSocket::close_code() const noexcept { return impl_ ? impl_->code : 0; }

// ---- Server -----------------------------------------------------------------------

namespace {

Server::StreamingHandler wrap(Server::Handler h) {
  return [h = std::move(h)](Request& req, Reply& reply) { reply.send(h(req)); };
}

}  // namespace

Server::Server(const net::Tcp::endpoint& local, StreamingHandler handler, Options options)
    : st_(std::make_shared<State>(std::move(handler), std::move(options))) {
  net::StreamServerOptions so;
  so.max_connections = st_->opt.max_connections;
  so.reject_when_full = true;
  so.full_message =
      "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\nRetry-After: 1\r\n\r\n";
  so.reuse_port = st_->opt.reuse_port;
  // The handler holds the state: a connection killed by the server's
  // destruction still finds it while it unwinds.
  st_->server = std::make_unique<net::StreamServer>(
      local, [st = st_](net::TcpStream& s) { st->serve(s); }, std::move(so));
}

Server::Server(const net::Tcp::endpoint& local, Handler handler, Options options)
    : Server(local, wrap(std::move(handler)), std::move(options)) {}

Server::~Server() {
  // Breaks the cycle state -> server -> handler -> state.
  st_->server.reset();
}

net::Tcp::endpoint Server::local_endpoint() const { return st_->server->local_endpoint(); }

void Server::on_request(std::function<void(const AccessRecord&)> fn) { st_->log = std::move(fn); }

void Server::start() { st_->server->start(); }

void Server::serve_forever() { st_->server->serve_forever(); }

void Server::stop(Duration grace) {
  auto st = st_;
  if (!st->stopping) {
    st->stopping = true;
    st->server->stop_accepting();
    // Idle connections end now; one in the middle of a request finishes it
    // and closes (keep-alive is off from here on).
    // Closing wakes the connection, which leaves the list: collect first.
    std::vector<net::TcpStream*> idle;
    for (Reply::Conn* c = st->idle_head; c; c = c->idle_next) idle.push_back(&c->stream);
    for (net::TcpStream* s : idle) s->close();
  }
  st->server->stop(grace);
}

std::uint64_t Server::requests() const noexcept { return st_->requests; }
std::size_t Server::connections() const noexcept { return st_->server->connections(); }

}  // namespace green::web
