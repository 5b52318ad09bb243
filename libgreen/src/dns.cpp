// green::dns::Resolver: c-ares 1.18 driven by the hub.
//
// c-ares tells us which sockets to watch (ARES_OPT_SOCK_STATE_CB); each one
// gets a detail::FdWatch (fd_watch.hpp) whose calls run ares_process_fd.
// c-ares 1.18 has no timer callback, so one hub timer per channel is armed
// from ares_timeout(). What 1.18 does shapes the rest:
//  - Callbacks can fire inside ares_query (a send error): a query checks for
//    its answer before parking.
//  - (fd, 0, 0) comes before c-ares closes a socket: its watch is closed
//    then, so Asio never closes or watches a recycled fd.
//  - The watch is edge-triggered, but 1.18 reads a TCP reply in
//    two calls (length word, then body): after a TCP read we call
//    ares_process_fd again while the socket still has bytes (FIONREAD).
//  - ares_timeout() walks every outstanding query, so the timer is only
//    recomputed when it fires, when it is unarmed, or when a new query could
//    expire before it.
//  - When c-ares itself moves a query to the next server after SERVFAIL or
//    REFUSED, the final status is ECONNREFUSED: the rcode is lost. So each
//    server gets its own channel (ARES_FLAG_NOCHECKRESP: SERVFAIL and
//    REFUSED come back as answers), and query() moves to the next server
//    itself on SERVFAIL, REFUSED, timeout or a connection error.
//  - 1.18 makes one send() per query and one recvfrom() per answer, plus one
//    more that says EAGAIN per wakeup; on a busy resolver those system calls
//    are most of the cost. So c-ares gets our socket functions
//    (ares_set_socket_functions): a UDP socket's answers are read by one
//    recvmmsg() into a batch that recvfrom() calls are served from, and its
//    queries are queued and sent by one sendmmsg() posted to the hub's
//    io_context, which runs at the next I/O poll, before the hub can wait.
//    A send error is handed to c-ares by a read made at once, which makes it
//    reset the socket and re-send what was in flight, as a failed read
//    always did. With socket functions 1.18 configures nothing itself:
//    non-blocking, close-on-exec, TCP_NODELAY and SO_RCVBUF are set where we
//    create the socket. TCP sockets (truncated answers, use_tcp) pass
//    straight through.
//  - Flow control (see Resolver in dns.hpp) sits in the same socket
//    functions: every UDP query is seen going out (its bytes are kept, so
//    a lost one can be sent again under the same id without c-ares knowing)
//    and every reply coming in, before c-ares parses it. Queries are told
//    apart by id and question, as 1.18 does not keep ids unique. c-ares
//    makes one try per query (it would double the wait at every retry);
//    query() makes the tries.
//  - green::fork: the child severs the channels' sockets and makes new
//    channels; queries in flight fail there (fork.hpp).
#include "dns_message.hpp"
#include "fd_watch.hpp"
#include "fork.hpp"

#include <green/dns.hpp>
#include <green/greenlet.hpp>
#include <green/io.hpp>

#include <ares.h>
#include <idn2.h>
#include <arpa/inet.h>
#include <arpa/nameser.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <boost/asio/post.hpp>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <mutex>
#include <stdexcept>
#include <unordered_map>
#include <utility>

namespace green::dns {

namespace {

void library_init() {
  static std::once_flag once;
  std::call_once(once, [] {
    if (int rc = ares_library_init(ARES_LIB_INIT_ALL); rc != ARES_SUCCESS) {
      throw std::runtime_error(std::string("c-ares: ") + ares_strerror(rc));
    }
  });
}

struct Channel;

// A channel's pending send of queued datagrams. The send is posted to the
// hub's io_context when the first datagram is queued, so it runs on the hub's
// stack at its next I/O poll: after the greenlets that were ready at the
// last one (which may queue more) and before the hub waits.
struct Flush {
  Channel* ch;  // null once the channel is gone
  bool queued = false;
};

struct Request {
  Request(Channel* c, detail::GreenletBase* waiter, Answer* a) noexcept : ch(c), g(waiter), answer(a) {}
  Channel* ch;
  detail::GreenletBase* g;
  Answer* answer;  // null once abandoned
  bool done = false;
  bool holds_slot = false;  // counts against the channel's window
  // Loss detection (see Channel's flow control): the UDP datagram as c-ares
  // sent it, when and in which order it was last sent.
  bool tracked = false;  // in the channel's send-ordered list
  bool quiet = false;    // in the channel's list of queries waiting for a slot to be sent again
  bool has_qid = false;  // in the channel's qid table
  Request* same_bucket = nullptr;  // the next query in that table's bucket
  std::uint16_t qid = 0;
  int sends = 0;
  std::uint64_t seq = 0;
  Clock::time_point sent{}, first_sent{};
  // A query is at most 12 + 255 + 4 bytes, plus 11 of EDNS.
  std::uint16_t wire_len = 0;
  unsigned char wire[320];
  Request* prev = nullptr;
  Request* next = nullptr;
};

// A socket c-ares opened through our socket functions.
struct Sock {
  Sock(int f, bool is_tcp) noexcept : fd(f), tcp(is_tcp) {}
  ~Sock() { delete in; }
  Sock(const Sock&) = delete;
  Sock& operator=(const Sock&) = delete;

  // Datagrams read by one recvmmsg(), handed to c-ares one recvfrom() at a
  // time. Allocated on the first read, uninitialised (only what the kernel
  // writes is touched).
  struct Batch {
    static constexpr unsigned size = 64;
    // c-ares 1.18 reads a datagram into MAXENDSSZ + 1 bytes: keep as many,
    // so an oversized reply is cut exactly where it was before.
    static constexpr std::size_t datagram = 4097;
    mmsghdr msgs[size];
    iovec iov[size];
    sockaddr_storage from[size];
    unsigned char data[size][datagram];
  };

  bool buffered() const noexcept { return next < count; }

  int fd;
  bool tcp;
  Batch* in = nullptr;
  unsigned next = 0;     // the batch's next datagram for c-ares
  unsigned count = 0;    // datagrams in the batch
  bool drained = false;  // the batch's recvmmsg() emptied the socket
  int error = 0;         // a send error c-ares has not seen yet
  // Datagrams c-ares sent since the last flush, back to back.
  std::vector<unsigned char> out;
  std::vector<std::uint32_t> out_len;
};

// Parses "ADDR", "ADDR:PORT", "[ADDR6]:PORT" or a bare IPv6 address into the
// form ares_set_servers_ports_csv takes; throws std::invalid_argument.
std::string normalize_server(const std::string& s) {
  auto bad = [&](const char* why) { return std::invalid_argument("invalid DNS server address '" + s + "': " + why); };
  std::string host = s;
  std::string port;
  if (!s.empty() && s[0] == '[') {
    const auto close = s.find(']');
    if (close == std::string::npos) throw bad("missing ']'");
    host = s.substr(1, close - 1);
    if (close + 1 < s.size()) {
      if (s[close + 1] != ':') throw bad("want [ADDR6]:PORT");
      port = s.substr(close + 2);
    }
  } else if (std::count(s.begin(), s.end(), ':') == 1) {
    const auto colon = s.find(':');
    host = s.substr(0, colon);
    port = s.substr(colon + 1);
  }
  unsigned char buf[16];
  const bool v4 = inet_pton(AF_INET, host.c_str(), buf) == 1;
  const bool v6 = !v4 && inet_pton(AF_INET6, host.c_str(), buf) == 1;
  if (!v4 && !v6) throw bad("not an IP address (want ADDR, ADDR:PORT or [ADDR6]:PORT)");
  unsigned long p = 53;
  if (!port.empty() || (s.find(':') != std::string::npos && !v6)) {
    if (port.empty() || port.size() > 5 || port.find_first_not_of("0123456789") != std::string::npos) {
      throw bad("bad port");
    }
    p = std::stoul(port);
    if (p < 1 || p > 65535) throw bad("port out of range");
  }
  return v6 ? "[" + host + "]:" + std::to_string(p) : host + ":" + std::to_string(p);
}

// One c-ares channel (one server) on the hub.
struct Channel {
  const Options& opt;
  std::string server;  // "ADDR:PORT"
  ares_channel channel = nullptr;
  boost::asio::io_context& io;
  std::unordered_map<int, detail::FdWatch> watches;  // the sockets c-ares asked us to watch
  std::vector<std::unique_ptr<Sock>> socks;  // every socket c-ares has open (one UDP, maybe one TCP)
  std::shared_ptr<Flush> flush_state;        // shared with the posted send, which may outlive us
  std::size_t outstanding = 0;
  std::optional<detail::IoRef> io_ref;  // held while queries are outstanding

  // ---- flow control (see the top of the file) ----
  static constexpr double kInitialWindow = 16;
  static constexpr double kMinWindow = 16;
  // Datagrams per try; each re-send needs a later query answered first, so
  // this only stops a query the server keeps dropping from being sent
  // forever.
  static constexpr int kMaxSends = 10;
  const double max_window;
  double cwnd;
  double ssthresh;
  std::size_t in_window = 0;        // queries holding a slot
  bool server_silent = false;       // the server answered nothing for a while
  std::size_t prepaid = 0;          // slots Resolver::wait_for_room kept for coming queries
  bool closing = false;
  bool forked = false;              // replaced in the child of green::fork
  detail::WaitList slot_waiters;    // greenlets waiting for a slot, FIFO
  Request* sending = nullptr;       // the query ares_query is sending right now
  // c-ares 1.18 draws ids at random without checking for one in use, so an
  // id may belong to two queries: the question tells them apart.
  std::array<Request*, 4096> by_qid{};  // chained through Request::same_bucket
  Request* oldest = nullptr;        // tracked queries in send order
  Request* newest = nullptr;
  // Queries to send again once each gets a slot: those a silent server left,
  // and lost ones that hold no slot (sent while it was silent).
  Request* quiet_first = nullptr;
  Request* quiet_last = nullptr;
  std::uint64_t next_seq = 1;
  std::uint64_t answered_seq = 0;   // the latest-sent query whose answer came
  std::uint64_t recovery_seq = 0;   // losses of queries sent up to here are one episode
  bool have_rtt = false;
  Duration srtt{}, rttvar{}, min_rtt{};
  Duration rack_rtt{};           // round trip of the latest-sent query answered
  int reorder_scale = 1;
  Clock::time_point probe_hold{};  // no probe before this
  double undo_cwnd = 0, undo_ssthresh = 0;  // before the last halving
  double silent_cwnd = 0;                   // the window when the server went silent
  Clock::time_point last_answer{};          // the server's latest answer to a query of ours
  Clock::time_point silent_probe{};         // a silent server's next probe
  struct Resent {
    std::uint16_t qid = 0;
    Clock::time_point at{};
  };
  std::array<Resent, 32> resent_done{};  // queries we sent again, answered lately
  std::size_t resent_next = 0;

  Channel(const Options& o, std::string srv, double window_cap)
      : opt(o),
        server(std::move(srv)),
        io(green::io_context()),
        flush_state(std::make_shared<Flush>(Flush{this})),
        max_window(window_cap),
        cwnd(std::min(kInitialWindow, window_cap)),
        ssthresh(window_cap) {
    const auto timeout_ms = std::chrono::duration_cast<std::chrono::milliseconds>(opt.timeout).count();
    ares_options ao{};
    int mask = ARES_OPT_SOCK_STATE_CB | ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES | ARES_OPT_FLAGS | ARES_OPT_NOROTATE |
               ARES_OPT_SERVERS | ARES_OPT_DOMAINS | ARES_OPT_NDOTS | ARES_OPT_LOOKUPS | ARES_OPT_SORTLIST;
    ao.sock_state_cb = &Channel::on_socket_state;
    ao.sock_state_cb_data = this;
    ao.timeout = static_cast<int>(std::min<long long>(timeout_ms, 1LL << 30));
    // One try per ares_query: query() makes the tries itself, each waiting
    // `timeout` (c-ares would double the wait at every round), and our loss
    // detection re-sends a dropped datagram within a try.
    ao.tries = 1;
    // STAYOPEN keeps the UDP socket between bursts instead of reopening it;
    // NOCHECKRESP hands SERVFAIL/REFUSED to us (see the top of the file).
    ao.flags = ARES_FLAG_NOSEARCH | ARES_FLAG_STAYOPEN | ARES_FLAG_NOCHECKRESP | (opt.use_tcp ? ARES_FLAG_USEVC : 0);
    // With every setting given, c-ares 1.18 skips resolv.conf, nsswitch.conf
    // and host.conf altogether (its ARES_CONFIG_CHECK); the server comes next.
    char lookups[] = "b";
    ao.nservers = 0;
    ao.ndomains = 0;
    ao.ndots = 1;
    ao.lookups = lookups;
    ao.nsort = 0;
    if (int rc = ares_init_options(&channel, &ao, mask); rc != ARES_SUCCESS) {
      channel = nullptr;
      throw std::runtime_error(std::string("c-ares: cannot create a channel: ") + ares_strerror(rc));
    }
    ares_set_socket_functions(channel, &socket_functions, this);
    if (int rc = ares_set_servers_ports_csv(channel, server.c_str()); rc != ARES_SUCCESS) {
      ares_destroy(channel);
      channel = nullptr;
      throw std::invalid_argument("invalid DNS server address '" + server + "': " + ares_strerror(rc));
    }
  }

  // Ends every query (callbacks with ARES_EDESTRUCTION wake their greenlets)
  // and closes the sockets, each announced with (fd, 0, 0) first.
  ~Channel() {
    closing = true;  // ares_destroy's callbacks free slots: nobody may take them
    if (channel) ares_destroy(channel);
    watches.clear();  // c-ares closes the descriptors itself
    timer.cancel();
    loss_timer.cancel();
    flush_state->ch = nullptr;
    // Greenlets waiting for a slot wake to a channel that is gone: the mark
    // in their node says so without touching this.
    while (detail::WaitNode* n = slot_waiters.front()) {
      n->slot = &kGone;
      detail::grant_front(slot_waiters);
    }
  }
  static inline char kGone = 0;
  static inline char kUncounted = 0;  // granted by a silence: sent holding no slot
  Channel(const Channel&) = delete;
  Channel& operator=(const Channel&) = delete;

  // ---- c-ares's socket functions (on the hub; never switch, never throw) --

  static const ares_socket_functions socket_functions;

  Sock* find_sock(int fd) const noexcept {
    for (const auto& s : socks) {
      if (s->fd == fd) return s.get();
    }
    return nullptr;
  }

  static ares_socket_t sock_open(int domain, int type, int protocol, void* data) {
    auto* self = static_cast<Channel*>(data);
    const int fd = ::socket(domain, type | SOCK_NONBLOCK | SOCK_CLOEXEC, protocol);
    if (fd < 0) return ARES_SOCKET_BAD;
    if (type == SOCK_DGRAM && self->opt.udp_receive_buffer > 0) {
      int size = self->opt.udp_receive_buffer;
      ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof size);
    }
    if (type == SOCK_STREAM) {
      int one = 1;
      ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    }
    try {
      self->socks.push_back(std::make_unique<Sock>(fd, type == SOCK_STREAM));
    } catch (...) {
      ::close(fd);
      errno = ENOMEM;
      return ARES_SOCKET_BAD;
    }
    return fd;
  }

  // c-ares has announced (fd, 0, 0) already, so no watch holds the fd.
  static int sock_close(ares_socket_t fd, void* data) {
    auto* self = static_cast<Channel*>(data);
    auto& v = self->socks;
    v.erase(std::remove_if(v.begin(), v.end(), [fd](const auto& s) { return s->fd == fd; }), v.end());
    return ::close(fd);
  }

  static int sock_connect(ares_socket_t fd, const sockaddr* addr, ares_socklen_t len, void*) {
    return ::connect(fd, addr, len);
  }

  static ares_ssize_t sock_recvfrom(ares_socket_t fd, void* buf, size_t len, int flags, sockaddr* from,
                                    ares_socklen_t* from_len, void* data) {
    Sock* s = static_cast<Channel*>(data)->find_sock(fd);
    if (!s || s->tcp) return ::recvfrom(fd, buf, len, flags, from, from_len);
    if (s->error) {
      errno = std::exchange(s->error, 0);
      return -1;
    }
    if (!s->buffered()) {
      // A batch that did not fill up emptied the socket: anything newer
      // comes with a new edge, so skip the recvmmsg() that would say EAGAIN.
      if (s->drained) {
        s->drained = false;
        s->count = s->next = 0;
        errno = EAGAIN;
        return -1;
      }
      if (!fill(*s)) return -1;
    }
    Sock::Batch& b = *s->in;
    const unsigned i = s->next++;
    static_cast<Channel*>(data)->on_reply(b.data[i], b.msgs[i].msg_len);
    const std::size_t n = std::min<std::size_t>(len, b.msgs[i].msg_len);
    std::memcpy(buf, b.data[i], n);
    if (from && from_len) {
      const socklen_t have = b.msgs[i].msg_hdr.msg_namelen;
      std::memcpy(from, &b.from[i], std::min<socklen_t>(*from_len, have));
      *from_len = have;
    }
    return static_cast<ares_ssize_t>(n);
  }

  // One recvmmsg() into the socket's batch; false (errno set) if it read nothing.
  static bool fill(Sock& s) noexcept {
    if (!s.in) {
      s.in = new (std::nothrow) Sock::Batch;
      if (!s.in) {
        errno = ENOMEM;
        return false;
      }
    }
    Sock::Batch& b = *s.in;
    for (unsigned i = 0; i < Sock::Batch::size; ++i) {
      b.iov[i] = {b.data[i], Sock::Batch::datagram};
      b.msgs[i].msg_hdr = {};
      b.msgs[i].msg_hdr.msg_name = &b.from[i];
      b.msgs[i].msg_hdr.msg_namelen = sizeof b.from[i];
      b.msgs[i].msg_hdr.msg_iov = &b.iov[i];
      b.msgs[i].msg_hdr.msg_iovlen = 1;
    }
    int got;
    do {
      got = ::recvmmsg(s.fd, b.msgs, Sock::Batch::size, MSG_DONTWAIT, nullptr);
    } while (got < 0 && errno == EINTR);
    s.next = 0;
    s.count = got > 0 ? static_cast<unsigned>(got) : 0;
    // Only a read that got something can vouch for the next one: after an
    // EAGAIN the next call comes with a new edge and must read.
    s.drained = got > 0 && s.count < Sock::Batch::size;
    return got > 0;
  }

  static ares_ssize_t sock_sendv(ares_socket_t fd, const iovec* iov, int iovcnt, void* data) {
    auto* self = static_cast<Channel*>(data);
    Sock* s = self->find_sock(fd);
    if (!s || s->tcp) {
      msghdr m{};
      m.msg_iov = const_cast<iovec*>(iov);
      m.msg_iovlen = static_cast<std::size_t>(iovcnt);
      return ::sendmsg(fd, &m, MSG_NOSIGNAL);
    }
    std::size_t total = 0;
    for (int i = 0; i < iovcnt; ++i) total += iov[i].iov_len;
    self->on_send(iov, iovcnt, total);
    try {
      std::size_t at = s->out.size();
      s->out.resize(at + total);
      for (int i = 0; i < iovcnt; ++i) {
        std::memcpy(s->out.data() + at, iov[i].iov_base, iov[i].iov_len);
        at += iov[i].iov_len;
      }
      s->out_len.push_back(static_cast<std::uint32_t>(total));
    } catch (...) {
      errno = ENOMEM;
      return -1;
    }
    if (!self->post_flush()) {
      s->out.resize(s->out.size() - total);
      s->out_len.pop_back();
      errno = ENOMEM;
      return -1;
    }
    return static_cast<ares_ssize_t>(total);
  }

  bool post_flush() noexcept {
    if (flush_state->queued) return true;
    try {
      boost::asio::post(io, [f = flush_state] {
        f->queued = false;
        if (f->ch) f->ch->flush();
      });
    } catch (...) {
      return false;
    }
    flush_state->queued = true;
    return true;
  }

  // Sends every queued datagram (posted on the hub, see Flush).
  void flush() noexcept {
    int failed[4];
    std::size_t nfailed = 0;
    for (const auto& s : socks) {
      if (!s->out_len.empty() && !send_queued(*s) && nfailed < std::size(failed)) failed[nfailed++] = s->fd;
    }
    if (nfailed == 0) return;
    // Let c-ares read the error: it resets the socket and re-sends its queries.
    for (std::size_t i = 0; i < nfailed; ++i) {
      if (find_sock(failed[i])) ares_process_fd(channel, failed[i], ARES_SOCKET_BAD);
    }
    settle();
  }

  // false if the socket failed (its error is kept for c-ares). EAGAIN drops
  // the rest like a lost packet: c-ares re-sends after the timeout.
  static bool send_queued(Sock& s) noexcept {
    constexpr unsigned chunk = 64;
    mmsghdr msgs[chunk];
    iovec iov[chunk];
    const std::size_t n = s.out_len.size();
    std::size_t i = 0;
    std::size_t off = 0;
    while (i < n) {
      const unsigned k = static_cast<unsigned>(std::min<std::size_t>(chunk, n - i));
      std::size_t o = off;
      for (unsigned j = 0; j < k; ++j) {
        iov[j] = {s.out.data() + o, s.out_len[i + j]};
        msgs[j] = {};
        msgs[j].msg_hdr.msg_iov = &iov[j];
        msgs[j].msg_hdr.msg_iovlen = 1;
        o += s.out_len[i + j];
      }
      const int sent = ::sendmmsg(s.fd, msgs, k, MSG_DONTWAIT | MSG_NOSIGNAL);
      if (sent < 0) {
        if (errno == EINTR) continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK && errno != ENOBUFS) s.error = errno;
        break;
      }
      for (int j = 0; j < sent; ++j) off += s.out_len[i + static_cast<std::size_t>(j)];
      i += static_cast<std::size_t>(sent);
    }
    s.out.clear();
    s.out_len.clear();
    return s.error == 0;
  }

  // ---- c-ares callbacks (on the hub; never switch, never throw) ----------

  static void on_socket_state(void* data, ares_socket_t fd, int readable, int writable) {
    auto* self = static_cast<Channel*>(data);
    try {
      self->socket_state(fd, readable != 0, writable != 0);
    } catch (...) {
      // Registering with epoll failed (out of memory or descriptors): the
      // socket's queries end by timeout instead.
    }
  }

  void socket_state(int fd, bool readable, bool writable) {
    auto it = watches.find(fd);
    if (!readable && !writable) {
      if (it != watches.end()) watches.erase(it);  // released: c-ares closes it next
      return;
    }
    if (it == watches.end()) {
      const Sock* s = find_sock(fd);
      const bool tcp = s && s->tcp;
      it =
          watches
              .emplace(fd, detail::FdWatch(
                               fd, [this, fd, tcp](bool read, const bool& closed) { on_ready(fd, tcp, read, closed); }))
              .first;
    }
    it->second.want(readable, writable);
  }

  void on_ready(int fd, bool tcp, bool read, const bool& closed) {
    if (read) {
      ares_process_fd(channel, fd, ARES_SOCKET_BAD);
      // c-ares reads until EAGAIN, so the batch is empty now; should a
      // version stop earlier, what it left would wait for an edge that never
      // comes.
      for (int rounds = 0; !closed && rounds < 64; ++rounds) {
        const Sock* s = find_sock(fd);
        if (!s || !s->buffered()) break;
        ares_process_fd(channel, fd, ARES_SOCKET_BAD);
      }
      // A TCP reply may still sit in the socket after 1.18's one-step read;
      // no new edge will come for it.
      for (int rounds = 0; tcp && !closed && rounds < 64; ++rounds) {
        int pending = 0;
        if (::ioctl(fd, FIONREAD, &pending) != 0 || pending <= 0) break;
        ares_process_fd(channel, fd, ARES_SOCKET_BAD);
      }
      detect_losses();
    } else {
      ares_process_fd(channel, ARES_SOCKET_BAD, fd);
    }
    settle();
  }

  static void on_answer(void* arg, int status, int /*timeouts*/, unsigned char* abuf, int alen) {
    auto* req = static_cast<Request*>(arg);
    req->ch->forget(*req);
    --req->ch->outstanding;
    if (!req->answer) {  // abandoned by a killed or timed-out greenlet
      delete req;
      return;
    }
    try {
      fill(*req->answer, status, abuf, alen);
      if (status == ARES_EDESTRUCTION && req->ch->forked)
        req->answer->error = "the process forked during the query (green::fork): it goes on in the parent only";
    } catch (...) {
      req->answer->status = Status::error;
      req->answer->error = "out of memory";
    }
    req->done = true;
    detail::wake(req->g);
  }

  static void fill(Answer& a, int status, const unsigned char* abuf, int alen) {
    a.records.clear();
    a.error.clear();
    a.code.clear();
    switch (status) {
      case ARES_SUCCESS:
      case ARES_ENODATA:
      case ARES_ENOTFOUND:
        break;
      case ARES_ESERVFAIL:
        a.status = Status::servfail;
        return;
      case ARES_EREFUSED:
        a.status = Status::refused;
        return;
      case ARES_ETIMEOUT:
        a.status = Status::timeout;
        return;
      case ARES_ECONNREFUSED:
        a.status = Status::error;
        a.code = std::make_error_code(std::errc::connection_refused);
        a.error = "connection refused";
        return;
      case ARES_EDESTRUCTION:
        a.status = Status::error;
        a.error = "resolver destroyed";
        return;
      default:
        a.status = Status::error;
        a.error = ares_strerror(status);
        return;
    }
    if (abuf && alen > 0 && !wire::parse_answers(abuf, static_cast<std::size_t>(alen), a.records, a.error)) {
      a.status = Status::error;
      a.records.clear();
      return;
    }
    if (status == ARES_ENOTFOUND) {
      a.status = Status::nxdomain;
      return;
    }
    a.status = Status::nodata;
    for (const Record& r : a.records) {
      if (r.type == static_cast<std::uint16_t>(a.type)) {
        a.status = Status::ok;
        break;
      }
    }
  }

  // ---- the timer ---------------------------------------------------------

  void on_timer() {
    ares_process_fd(channel, ARES_SOCKET_BAD, ARES_SOCKET_BAD);
    rearm_timer();
    settle();
  }

  void rearm_timer() noexcept {
    timeval tv;
    if (outstanding == 0 || !ares_timeout(channel, nullptr, &tv)) {
      timer.cancel();
      return;
    }
    // c-ares compares in milliseconds: one more keeps the timer from firing
    // just before c-ares thinks the query expired (and spinning).
    const auto wait =
        std::chrono::seconds(tv.tv_sec) + std::chrono::microseconds(tv.tv_usec) + std::chrono::milliseconds(1);
    timer.arm(Clock::now() + std::chrono::duration_cast<Duration>(wait));
  }

  // After c-ares ran: drop the hub's I/O reference once nothing is pending.
  void settle() noexcept {
    if (outstanding == 0) {
      timer.cancel();
      io_ref.reset();
    } else if (!timer.armed()) {
      rearm_timer();
    }
  }


  // ---- flow control --------------------------------------------------------

  // Parks until the window has room (FIFO); false if the channel went away
  // meanwhile. Switch point.
  // `counted`: whether the query holds a slot (not while the server is
  // silent).
  bool acquire_slot(bool& counted) {
    counted = !server_silent;
    if (server_silent) return true;
    if (in_window < static_cast<std::size_t>(cwnd) && slot_waiters.empty()) {
      ++in_window;
      return true;
    }
    detail::WaitNode node(detail::current());
    // Only a grant or an interrupt (which throws) wakes us; a grant carries
    // the slot, counted by whoever granted it.
    while (!detail::wait_on(slot_waiters, node, detail::no_deadline)) {
    }
    if (node.slot == &kUncounted) counted = false;
    return node.slot != &kGone;
  }

  // The server went silent: the window stops counting (see detect_losses)
  // until it answers again.
  void go_silent() noexcept {
    if (!server_silent) {
      silent_cwnd = cwnd;
      silent_probe = Clock::now() + silence();
    }
    server_silent = true;
    // Without slots: once the server answers again they are not a window's
    // worth of queries each free to be sent again at once.
    while (detail::WaitNode* n = closing ? nullptr : slot_waiters.front()) {
      n->slot = &kUncounted;
      detail::grant_front(slot_waiters);
    }
  }

  // `answered`: the server answered the slot's query (the window may grow).
  void release_slot(bool answered) noexcept {
    if (answered && cwnd < max_window && static_cast<double>(in_window) * 2 >= cwnd) {
      // Slow start below ssthresh (one per answer: doubling per round trip),
      // then one per window of answers. A window the caller does not fill
      // does not grow, so a later halving still means something.
      cwnd = std::min(max_window, cwnd + (cwnd < ssthresh ? 1.0 : 1.0 / cwnd));
    }
    --in_window;
    grant_slots();
  }

  void grant_slots() noexcept {
    if (closing) return;
    // Queries to send again go first, as TCP retransmits before new data.
    while (!server_silent && in_window < static_cast<std::size_t>(cwnd) && quiet_first) {
      Request& r = *quiet_first;
      untrack(r);
      if (r.sends < kMaxSends && resend(r)) {
        r.holds_slot = true;
        ++in_window;
        sent(r, Clock::now());
      }
    }
    while (in_window < static_cast<std::size_t>(cwnd) && detail::grant_front(slot_waiters)) ++in_window;
  }

  void track(Request& r) noexcept {
    r.tracked = true;
    r.prev = newest;
    r.next = nullptr;
    (newest ? newest->next : oldest) = &r;
    newest = &r;
  }

  void untrack(Request& r) noexcept {
    if (r.tracked) {
      (r.prev ? r.prev->next : oldest) = r.next;
      (r.next ? r.next->prev : newest) = r.prev;
    } else if (r.quiet) {
      (r.prev ? r.prev->next : quiet_first) = r.next;
      (r.next ? r.next->prev : quiet_last) = r.prev;
    } else {
      return;
    }
    r.prev = r.next = nullptr;
    r.tracked = r.quiet = false;
  }

  void make_quiet(Request& r) noexcept {
    untrack(r);
    r.quiet = true;
    r.prev = quiet_last;
    r.next = nullptr;
    (quiet_last ? quiet_last->next : quiet_first) = &r;
    quiet_last = &r;
  }

  // The server answers again after a silence: what it left unanswered
  // meanwhile is taken as lost and sent again rather than waiting out the
  // try, but through a window that starts small again, as TCP's does after
  // a retransmission timeout: a server that was stopped, or only looked
  // silent to a machine too loaded to run it, may have a small socket
  // buffer, and a burst of everything that waited (or a window left wide
  // open) would overflow it at once, and again at every re-send.
  void wake_up() noexcept {
    ssthresh = std::max(silent_cwnd / 2, std::min(kMinWindow, max_window));
    cwnd = std::min(kInitialWindow, max_window);
    undo_cwnd = 0;  // a late answer now does not bring the old window back
    recovery_seq = next_seq - 1;
    grant_slots();
  }

  // c-ares is done with the query: nothing of it may stay behind.
  void forget(Request& r) noexcept {
    untrack(r);
    if (r.sends > 1 && r.has_qid) {
      resent_done[resent_next++ % resent_done.size()] = {r.qid, Clock::now()};
    }
    if (r.has_qid) {
      for (Request** p = &by_qid[r.qid % by_qid.size()]; *p; p = &(*p)->same_bucket) {
        if (*p == &r) {
          *p = r.same_bucket;
          break;
        }
      }
      r.has_qid = false;
    }
    if (r.holds_slot) {
      r.holds_slot = false;
      release_slot(false);
    }
  }

  // The query with id `qid` whose question `msg` (a query or a reply, `n`
  // bytes) repeats.
  Request* find(std::uint16_t qid, const unsigned char* msg, std::size_t n) const noexcept {
    for (Request* r = by_qid[qid % by_qid.size()]; r; r = r->same_bucket) {
      if (r->qid == qid && same_question(*r, msg, n)) return r;
    }
    return nullptr;
  }

  static bool same_question(const Request& r, const unsigned char* msg, std::size_t n) noexcept {
    const unsigned char* q = r.wire;
    const std::size_t qn = r.wire_len;
    std::size_t i = 12;
    while (i < qn && q[i] != 0) i += 1 + q[i];  // the name's labels
    const std::size_t end = i + 5;              // its root byte, type and class
    if (end > qn || end > n) return false;
    for (std::size_t k = 12; k < end; ++k) {
      auto lower = [](unsigned char c) { return c >= 'A' && c <= 'Z' ? c + 32 : c; };
      if (lower(q[k]) != lower(msg[k])) return false;
    }
    return true;
  }

  // A UDP datagram c-ares sends: a new query (from ask) or c-ares's own retry.
  void on_send(const iovec* iov, int iovcnt, std::size_t total) noexcept {
    if (total < 12 || iovcnt < 1 || iov[0].iov_len < 2) return;
    const auto* p = static_cast<const unsigned char*>(iov[0].iov_base);
    const std::uint16_t qid = static_cast<std::uint16_t>(p[0] << 8 | p[1]);
    Request* r = sending;
    if (r) {
      if (r->has_qid) return;  // sent twice within ares_query: keep the first
      if (total > sizeof r->wire) return;  // cannot be: c-ares's limit is lower; untracked, its timeouts hold
      std::size_t at = 0;
      for (int i = 0; i < iovcnt; ++i) {
        std::memcpy(r->wire + at, iov[i].iov_base, iov[i].iov_len);
        at += iov[i].iov_len;
      }
      r->wire_len = static_cast<std::uint16_t>(total);
      r->qid = qid;
      r->has_qid = true;
      Request*& head = by_qid[qid % by_qid.size()];
      r->same_bucket = head;
      head = r;
    } else {
      r = find(qid, p, std::min(iov[0].iov_len, total));
      if (!r) return;
      untrack(*r);
    }
    sent(*r, Clock::now());
  }

  void sent(Request& r, Clock::time_point now) noexcept {
    if (r.sends == 0) r.first_sent = now;
    r.sent = now;
    r.seq = next_seq++;
    ++r.sends;
    track(r);
    if (!loss_timer.armed()) arm_loss_timer();
  }

  // A UDP datagram from the server, before c-ares sees it.
  void on_reply(const unsigned char* p, std::size_t n) noexcept {
    if (n < 12 || !(p[2] & 0x80)) return;  // not a response
    const auto qid = static_cast<std::uint16_t>(p[0] << 8 | p[1]);
    Request* found = find(qid, p, n);
    if (!found) {
      spurious(qid);
      return;
    }
    Request& r = *found;
    const auto now = Clock::now();
    last_answer = now;
    if (r.quiet) untrack(r);  // answered after all: not to be sent again
    if (server_silent) {
      server_silent = false;
      wake_up();
    }
    if (!r.tracked) return;
    if (r.sends == 1) rtt_sample(now - r.sent);  // Karn: a re-sent query's answer is ambiguous
    if (r.seq > answered_seq) {
      answered_seq = r.seq;
      if (r.sends == 1) rack_rtt = now - r.sent;
    }
    untrack(r);
    if (r.holds_slot) {
      r.holds_slot = false;
      release_slot(true);
    }
  }

  // A second answer to a query we sent again: it was late, not lost. Wait
  // longer before calling a query lost, and take back the halving it cost.
  void spurious(std::uint16_t qid) noexcept {
    const auto now = Clock::now();
    for (auto& e : resent_done) {
      if (e.qid != qid || now - e.at > std::chrono::seconds(2)) continue;
      e.at = {};
      reorder_scale = std::min(reorder_scale * 2, 256);
      if (cwnd < undo_cwnd) {
        cwnd = undo_cwnd;
        ssthresh = undo_ssthresh;
        grant_slots();
      }
      return;
    }
  }

  void rtt_sample(Duration rtt) noexcept {
    if (!have_rtt) {
      srtt = min_rtt = rtt;
      rttvar = rtt / 2;
      have_rtt = true;
      return;
    }
    min_rtt = std::min(min_rtt, rtt);
    const Duration err = rtt > srtt ? rtt - srtt : srtt - rtt;
    rttvar = (3 * rttvar + err) / 4;
    srtt = (7 * srtt + rtt) / 8;
  }

  // How long the server may stay silent before the window stops counting
  // a query: half the first try's timeout, at most a second.
  Duration silence() const noexcept { return std::min<Duration>(opt.timeout / 2, std::chrono::seconds(1)); }

  // RACK (RFC 8985): a query is lost once a later-sent one was answered and
  // it has waited that one's round trip plus a reordering allowance (a
  // quarter of the least round trip, doubled after each query found late
  // rather than lost).
  Duration lost_after() const noexcept {
    const Duration reorder = std::max<Duration>(min_rtt / 4, std::chrono::microseconds(250)) * reorder_scale;
    return std::min(rack_rtt + reorder, silence());
  }

  // A query with nothing answered after it (the last ones of a burst) is
  // probed (sent again once) after about two round trips.
  Duration probe_after() const noexcept {
    if (!have_rtt) return silence();
    return std::min(std::max<Duration>(2 * srtt, std::chrono::milliseconds(10)), silence());
  }

  void detect_losses() noexcept {
    const auto now = Clock::now();
    const Duration lost = lost_after();
    const Duration probe = probe_after();
    const Duration silent = std::max(probe, silence());
    while (Request* r = oldest) {
      if (r->seq < answered_seq) {
        // A later query was answered and this one was not: the server (or
        // the way to it) dropped it. Halve the window once per episode and
        // send it again now, instead of after a whole timeout.
        if (now - r->sent < lost) break;
        if (r->seq > recovery_seq) {
          undo_cwnd = cwnd;
          undo_ssthresh = ssthresh;
          ssthresh = std::max(cwnd / 2, std::min(kMinWindow, max_window));
          cwnd = ssthresh;
          recovery_seq = next_seq - 1;
        }
        untrack(*r);
        if (!r->holds_slot || static_cast<double>(in_window) > cwnd) {
          // Sent while the server was silent, or beyond a window that has
          // shrunk since (after a silence, to its start): sent again once it
          // gets a slot, so the re-sends too come a window at a time.
          if (r->holds_slot) {
            r->holds_slot = false;
            --in_window;
          }
          make_quiet(*r);
          continue;
        }
        if (r->sends < kMaxSends && resend(*r)) {
          sent(*r, now);
        } else {
          r->holds_slot = false;
          release_slot(false);
        }
        continue;
      }
      // Nothing sent after this query has been answered since it was sent.
      // One probe at a time (TCP's tail loss probe): its answer makes every
      // older query still unanswered lost by the rule above, while probing
      // them all would only refill a server that is merely slow right now.
      if (r->sends == 1 && now - r->sent >= probe && probe < silent) {
        if (now < probe_hold) break;
        probe_hold = now + probe;
        untrack(*r);
        if (resend(*r)) sent(*r, now);
        continue;
      }
      // Silent means nothing answered for that long, not only this query:
      // after a silence the oldest queries are older than that, and the
      // server answering the others would be taken for silent again.
      if (now - std::max(r->first_sent, last_answer) < silent) break;
      // The server is silent (dead, or far slower than the timeout). A
      // window only protects a server that answers; here it would make the
      // names wait their timeouts in turn. So the query leaves the window,
      // which stops counting until the server answers again.
      make_quiet(*r);
      go_silent();  // first: the slot freed below must not send it again
      if (r->holds_slot) {
        r->holds_slot = false;
        release_slot(false);
      }
    }
    if (server_silent && quiet_first && now >= silent_probe) {
      // TCP's retransmission timeout: one query now and then, so that a
      // server back from a silence is noticed even when nothing else is
      // outstanding to be answered (it woke only to an answer).
      silent_probe = now + silence();
      Request& q = *quiet_first;
      make_quiet(q);  // to the back: the next probe asks another
      if (q.sends < kMaxSends && resend(q)) ++q.sends;
    }
    grant_slots();  // lost queries above that wait for a slot, where there is room
    arm_loss_timer();
  }

  // Queues the query's datagram again on the UDP socket (sent with the rest
  // at the next flush).
  bool resend(const Request& r) noexcept {
    if (r.wire_len == 0) return false;
    for (const auto& s : socks) {
      if (s->tcp) continue;
      try {
        s->out.insert(s->out.end(), r.wire, r.wire + r.wire_len);
        s->out_len.push_back(r.wire_len);
      } catch (...) {
        return false;
      }
      return post_flush();
    }
    return false;
  }

  void arm_loss_timer() noexcept {
    const bool probing = server_silent && quiet_first;
    if (!oldest && !probing) {
      loss_timer.cancel();
      return;
    }
    Clock::time_point at = silent_probe;  // when only probing
    if (oldest && oldest->seq < answered_seq) {
      at = oldest->sent + lost_after();
    } else if (oldest) {
      const Duration probe = probe_after();
      const Duration silent = std::max(probe, silence());
      at = oldest->sends == 1 && probe < silent ? std::max(oldest->sent + probe, probe_hold)
                                                : std::max(oldest->first_sent, last_answer) + silent;
    }
    if (probing && oldest) at = std::min(at, silent_probe);
    try {
      loss_timer.arm(at);
    } catch (...) {
      // No hub (cannot happen on the hub's own thread): c-ares's timeouts hold.
    }
  }

  // Waits for a slot in the window, sends one query and parks until its
  // answer. Switch point.
  void ask(Answer& answer) {
    bool counted = false;
    if (prepaid > 0) {
      --prepaid;
      counted = true;
    } else if (!acquire_slot(counted)) {
      answer.status = Status::error;
      answer.error = "resolver destroyed";
      return;
    }
    Request* req;
    try {
      req = new Request{this, detail::current(), &answer};
    } catch (...) {
      if (counted) release_slot(false);
      throw;
    }
    req->holds_slot = counted;
    if (!io_ref) io_ref.emplace();
    ++outstanding;
    sending = req;
    ares_query(channel, answer.name.c_str(), ns_c_in, static_cast<int>(answer.type), &Channel::on_answer, req);
    sending = nullptr;
    // A new query expires after every armed one unless earlier tries were
    // backed off; only then is the ares_timeout walk needed. The armed
    // deadline carries rearm_timer's extra millisecond: without it here, a
    // query sent within a millisecond of the oldest outstanding one would
    // walk every query, and with fast answers that is one query in four.
    if (!timer.armed() || timer.deadline() > Clock::now() + opt.timeout + std::chrono::milliseconds(1)) rearm_timer();
    settle();
    while (!req->done) {
      detail::park();
      if (!req->done && detail::interrupt_pending()) {
        req->answer = nullptr;  // on_answer frees it
        detail::check_interrupt();
      }
    }
    delete req;
  }

  // Declared last: they name member functions.
  detail::HubTimer<Channel, &Channel::on_timer> timer{this};  // c-ares's timeouts (see rearm_timer)
  detail::HubTimer<Channel, &Channel::detect_losses> loss_timer{this};
};

const ares_socket_functions Channel::socket_functions = {
    &Channel::sock_open, &Channel::sock_close, &Channel::sock_connect, &Channel::sock_recvfrom, &Channel::sock_sendv,
};

}  // namespace

struct Resolver::Impl : detail::ForkHook {
  Options opt;
  std::vector<std::string> servers;
  double cap = 1;  // each channel's window limit
  // sockets_per_server channels per server, server by server.
  std::vector<std::unique_ptr<Channel>> channels;
  std::size_t next = 0;          // round-robin among a server's channels
  std::size_t reserve_next = 0;  // the same for wait_for_room

  void sever() noexcept override {
    for (const auto& ch : channels)
      for (const auto& sock : ch->socks) detail::sever_descriptor(sock->fd);
  }

  // New channels (new sockets, fresh flow control); destroying the old ones
  // ends their queries.
  void rebuild() override {
    for (auto& ch : channels) {
      auto fresh = std::make_unique<Channel>(opt, ch->server, cap);
      ch->forked = true;
      std::swap(ch, fresh);
    }
  }
};

Resolver::Resolver(Options options) : impl_(std::make_unique<Impl>()) {
  library_init();
  Impl& im = *impl_;
  im.opt = std::move(options);
  if (im.opt.tries < 1) throw std::invalid_argument("green::dns: tries must be at least 1");
  if (im.opt.timeout < std::chrono::milliseconds(1))
    throw std::invalid_argument("green::dns: timeout must be at least 1ms");
  std::vector<std::string> list;
  for (const auto& s : im.opt.servers) list.push_back(normalize_server(s));
  if (list.empty()) {
    // The system's servers: let c-ares read /etc/resolv.conf once, then use
    // each of them like an explicit one.
    ares_channel probe = nullptr;
    if (int rc = ares_init(&probe); rc != ARES_SUCCESS) {
      throw std::runtime_error(std::string("c-ares: cannot read the system's DNS servers: ") + ares_strerror(rc));
    }
    ares_addr_port_node* nodes = nullptr;
    ares_get_servers_ports(probe, &nodes);
    for (ares_addr_port_node* n = nodes; n; n = n->next) {
      char buf[64];
      inet_ntop(n->family, &n->addr, buf, sizeof buf);
      const int port = n->udp_port ? n->udp_port : 53;
      list.push_back(n->family == AF_INET6 ? "[" + std::string(buf) + "]:" + std::to_string(port)
                                           : std::string(buf) + ":" + std::to_string(port));
    }
    ares_free_data(nodes);
    ares_destroy(probe);
    if (list.empty()) throw std::runtime_error("no DNS servers given and none in /etc/resolv.conf");
  }
  if (im.opt.sockets_per_server < 1) throw std::invalid_argument("green::dns: sockets_per_server must be at least 1");
  if (im.opt.max_in_flight < 1) throw std::invalid_argument("green::dns: max_in_flight must be at least 1");
  // The server's limit is shared by its sockets.
  im.cap = static_cast<double>(
      std::max<std::size_t>(1, im.opt.max_in_flight / static_cast<std::size_t>(im.opt.sockets_per_server)));
  for (const auto& s : list) {
    for (int i = 0; i < im.opt.sockets_per_server; ++i)
      im.channels.push_back(std::make_unique<Channel>(im.opt, s, im.cap));
  }
  im.servers = std::move(list);
}

Resolver::~Resolver() = default;

Answer Resolver::query(std::string_view name, Type type) {
  detail::check_interrupt();
  Answer answer;
  answer.name.assign(name);
  answer.type = type;
  if (const char* why = name_error(name)) {
    answer.status = Status::error;
    answer.error = why;
    return answer;
  }
  Impl& im = *impl_;
  const std::size_t per = static_cast<std::size_t>(im.opt.sockets_per_server);
  // A socket with a slot kept by wait_for_room first, else the next in turn.
  std::size_t pick = im.next++ % per;
  for (std::size_t i = 0; i < per; ++i) {
    if (im.channels[i]->prepaid > 0) {
      pick = i;
      break;
    }
  }
  for (std::size_t server = 0; server < im.servers.size(); ++server) {
    for (int t = 0; t < im.opt.tries; ++t) {
      // A try that timed out goes behind the greenlets already ready: a
      // process that stalled past both a silent server's threshold and the
      // timeouts wakes to both at once, and the names the silence let go
      // (spawned after these wake-ups) are owed their first try before
      // anyone's second.
      if (t > 0) green::sleep(Duration::zero());
      im.channels[server * per + pick]->ask(answer);
      if (answer.status != Status::timeout) break;
    }
    const bool next = answer.status == Status::servfail || answer.status == Status::refused ||
                      answer.status == Status::timeout ||
                      (answer.status == Status::error && answer.code == std::errc::connection_refused);
    if (!next) break;
  }
  return answer;
}

void Resolver::wait_for_room() {
  detail::check_interrupt();
  Impl& im = *impl_;
  Channel& ch = *im.channels[im.reserve_next++ % static_cast<std::size_t>(im.opt.sockets_per_server)];
  bool counted = false;
  if (ch.acquire_slot(counted) && counted) ++ch.prepaid;
}

std::optional<std::string> to_ascii(std::string_view name, std::string* why) {
  if (std::all_of(name.begin(), name.end(), [](char c) { return static_cast<unsigned char>(c) < 0x80; })) {
    return std::string(name);
  }
  const std::string in(name);
  char* out = nullptr;
  const int rc = idn2_to_ascii_8z(in.c_str(), &out, IDN2_NFC_INPUT | IDN2_NONTRANSITIONAL);
  if (rc != IDN2_OK) {
    if (why) *why = idn2_strerror(rc);
    return std::nullopt;
  }
  std::string result(out);
  idn2_free(out);
  return result;
}

std::size_t Resolver::outstanding() const noexcept {
  std::size_t n = 0;
  for (const auto& ch : impl_->channels) n += ch->outstanding;
  return n;
}

std::vector<std::string> Resolver::servers() const { return impl_->servers; }

}  // namespace green::dns
