// green::dns::Resolver: c-ares 1.18 driven by the hub.
//
// c-ares tells us which sockets to watch (ARES_OPT_SOCK_STATE_CB); each one
// becomes an Asio stream_descriptor whose async_wait calls ares_process_fd.
// c-ares 1.18 has no timer callback, so one hub timer per channel is armed
// from ares_timeout(). What 1.18 does shapes the rest:
//  - Callbacks can fire inside ares_query (a send error): a query checks for
//    its answer before parking.
//  - (fd, 0, 0) comes before c-ares closes a socket: the descriptor is
//    release()d then, so Asio never closes or watches a recycled fd.
//  - Asio's epoll reactor is edge-triggered, but 1.18 reads a TCP reply in
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
#include "dns_message.hpp"

#include <green/dns.hpp>
#include <green/greenlet.hpp>
#include <green/io.hpp>

#include <ares.h>
#include <arpa/inet.h>
#include <arpa/nameser.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include <boost/asio/posix/stream_descriptor.hpp>

#include <algorithm>
#include <mutex>
#include <stdexcept>
#include <unordered_map>

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

// A c-ares socket watched by the hub. Shared with the pending Asio handlers,
// which may run after c-ares has dropped the socket (they then see closed).
struct Watch {
  Watch(Channel* owner, boost::asio::io_context& io, int f, bool is_tcp)
      : ch(owner), fd(f), tcp(is_tcp), sd(io, f) {}
  Channel* ch;
  int fd;
  bool tcp;
  bool closed = false;
  bool want_read = false;
  bool want_write = false;
  bool reading = false;
  bool writing = false;
  boost::asio::posix::stream_descriptor sd;
};

struct Request {
  Channel* ch;
  detail::GreenletBase* g;
  Answer* answer;  // null once abandoned
  bool done = false;
};

// Parses "ADDR", "ADDR:PORT", "[ADDR6]:PORT" or a bare IPv6 address into the
// form ares_set_servers_ports_csv takes; throws std::invalid_argument.
std::string normalize_server(const std::string& s) {
  auto bad = [&](const char* why) {
    return std::invalid_argument("invalid DNS server address '" + s + "': " + why);
  };
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
  struct Timer : detail::TimerNode {
    explicit Timer(Channel* c) noexcept : TimerNode(&Channel::on_timer), ch(c) {}
    Channel* ch;
  };

  const Options& opt;
  std::string server;  // "ADDR:PORT"
  ares_channel channel = nullptr;
  boost::asio::io_context& io;
  std::unordered_map<int, std::shared_ptr<Watch>> watches;
  std::unordered_map<int, int> socket_types;  // from the configure callback, until the first state callback
  Timer timer{this};
  std::size_t outstanding = 0;
  std::optional<detail::IoRef> io_ref;  // held while queries are outstanding

  Channel(const Options& o, std::string srv) : opt(o), server(std::move(srv)), io(green::io_context()) {
    const auto timeout_ms = std::chrono::duration_cast<std::chrono::milliseconds>(opt.timeout).count();
    ares_options ao{};
    int mask = ARES_OPT_SOCK_STATE_CB | ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES | ARES_OPT_FLAGS | ARES_OPT_NOROTATE |
               ARES_OPT_SERVERS | ARES_OPT_DOMAINS | ARES_OPT_NDOTS | ARES_OPT_LOOKUPS | ARES_OPT_SORTLIST;
    ao.sock_state_cb = &Channel::on_socket_state;
    ao.sock_state_cb_data = this;
    ao.timeout = static_cast<int>(std::min<long long>(timeout_ms, 1LL << 30));
    ao.tries = opt.tries;
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
    ares_set_socket_configure_callback(channel, &Channel::on_socket_created, this);
    if (int rc = ares_set_servers_ports_csv(channel, server.c_str()); rc != ARES_SUCCESS) {
      ares_destroy(channel);
      channel = nullptr;
      throw std::invalid_argument("invalid DNS server address '" + server + "': " + ares_strerror(rc));
    }
  }

  // Ends every query (callbacks with ARES_EDESTRUCTION wake their greenlets)
  // and closes the sockets, each announced with (fd, 0, 0) first.
  ~Channel() {
    if (channel) ares_destroy(channel);
    for (auto& [fd, w] : watches) close_watch(*w);
    watches.clear();
    detail::timer_cancel(timer);
  }
  Channel(const Channel&) = delete;
  Channel& operator=(const Channel&) = delete;

  // ---- c-ares callbacks (on the hub; never switch, never throw) ----------

  static int on_socket_created(ares_socket_t fd, int type, void* data) {
    auto* self = static_cast<Channel*>(data);
    if (type == SOCK_DGRAM && self->opt.udp_receive_buffer > 0) {
      int size = self->opt.udp_receive_buffer;
      ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof size);
    }
    try {
      self->socket_types[fd] = type;
    } catch (...) {
      return -1;
    }
    return 0;
  }

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
      if (it == watches.end()) return;
      close_watch(*it->second);
      watches.erase(it);
      return;
    }
    if (it == watches.end()) {
      bool tcp = false;
      if (auto t = socket_types.find(fd); t != socket_types.end()) {
        tcp = t->second == SOCK_STREAM;
        socket_types.erase(t);
      }
      it = watches.emplace(fd, std::make_shared<Watch>(this, io, fd, tcp)).first;
    }
    Watch& w = *it->second;
    w.want_read = readable;
    w.want_write = writable;
    arm(it->second);
  }

  static void close_watch(Watch& w) noexcept {
    w.closed = true;
    boost::system::error_code ignored;
    w.sd.cancel(ignored);
    w.sd.release();  // c-ares closes the descriptor itself
  }

  void arm(const std::shared_ptr<Watch>& w) {
    using boost::asio::posix::descriptor_base;
    if (w->want_read && !w->reading) {
      w->reading = true;
      w->sd.async_wait(descriptor_base::wait_read,
                       [w](const boost::system::error_code& ec) { on_ready(w, true, ec); });
    }
    if (w->want_write && !w->writing) {
      w->writing = true;
      w->sd.async_wait(descriptor_base::wait_write,
                       [w](const boost::system::error_code& ec) { on_ready(w, false, ec); });
    }
  }

  static void on_ready(const std::shared_ptr<Watch>& w, bool read, const boost::system::error_code& ec) {
    (read ? w->reading : w->writing) = false;
    if (ec || w->closed) return;
    Channel* self = w->ch;
    const int fd = w->fd;
    if (read) {
      ares_process_fd(self->channel, fd, ARES_SOCKET_BAD);
      // A TCP reply may still sit in the socket after 1.18's one-step read;
      // no new edge will come for it.
      for (int rounds = 0; w->tcp && !w->closed && rounds < 64; ++rounds) {
        int pending = 0;
        if (::ioctl(fd, FIONREAD, &pending) != 0 || pending <= 0) break;
        ares_process_fd(self->channel, fd, ARES_SOCKET_BAD);
      }
    } else {
      ares_process_fd(self->channel, ARES_SOCKET_BAD, fd);
    }
    if (!w->closed) {
      try {
        self->arm(w);
      } catch (...) {
        // Out of memory: the socket's queries end by timeout.
      }
    }
    self->settle();
  }

  static void on_answer(void* arg, int status, int /*timeouts*/, unsigned char* abuf, int alen) {
    auto* req = static_cast<Request*>(arg);
    --req->ch->outstanding;
    if (!req->answer) {  // abandoned by a killed or timed-out greenlet
      delete req;
      return;
    }
    try {
      fill(*req->answer, status, abuf, alen);
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

  static void on_timer(detail::TimerNode* t) {
    Channel* self = static_cast<Timer*>(t)->ch;
    ares_process_fd(self->channel, ARES_SOCKET_BAD, ARES_SOCKET_BAD);
    self->rearm_timer();
    self->settle();
  }

  void rearm_timer() noexcept {
    timeval tv;
    if (outstanding == 0 || !ares_timeout(channel, nullptr, &tv)) {
      detail::timer_cancel(timer);
      return;
    }
    // c-ares compares in milliseconds: one more keeps the timer from firing
    // just before c-ares thinks the query expired (and spinning).
    const auto wait = std::chrono::seconds(tv.tv_sec) + std::chrono::microseconds(tv.tv_usec) +
                      std::chrono::milliseconds(1);
    detail::timer_arm(timer, Clock::now() + std::chrono::duration_cast<Duration>(wait));
  }

  // After c-ares ran: drop the hub's I/O reference once nothing is pending.
  void settle() noexcept {
    if (outstanding == 0) {
      detail::timer_cancel(timer);
      io_ref.reset();
    } else if (!timer.armed()) {
      rearm_timer();
    }
  }

  // Sends one query and parks until its answer. Switch point.
  void ask(Answer& answer) {
    auto* req = new Request{this, detail::current(), &answer};
    if (!io_ref) io_ref.emplace();
    ++outstanding;
    ares_query(channel, answer.name.c_str(), ns_c_in, static_cast<int>(answer.type), &Channel::on_answer, req);
    // A new query expires after every armed one unless earlier tries were
    // backed off; only then is the ares_timeout walk needed.
    if (!timer.armed() || timer.deadline > Clock::now() + opt.timeout) rearm_timer();
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
};

}  // namespace

struct Resolver::Impl {
  Options opt;
  std::vector<std::string> servers;
  // sockets_per_server channels per server, server by server.
  std::vector<std::unique_ptr<Channel>> channels;
  std::size_t next = 0;  // round-robin among a server's channels
};

Resolver::Resolver(Options options) : impl_(std::make_unique<Impl>()) {
  library_init();
  Impl& im = *impl_;
  im.opt = std::move(options);
  if (im.opt.tries < 1) throw std::invalid_argument("green::dns: tries must be at least 1");
  if (im.opt.timeout < std::chrono::milliseconds(1)) throw std::invalid_argument("green::dns: timeout must be at least 1ms");
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
  for (const auto& s : list) {
    for (int i = 0; i < im.opt.sockets_per_server; ++i) im.channels.push_back(std::make_unique<Channel>(im.opt, s));
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
  const std::size_t pick = im.next++ % per;
  for (std::size_t server = 0; server < im.servers.size(); ++server) {
    im.channels[server * per + pick]->ask(answer);
    const bool next = answer.status == Status::servfail || answer.status == Status::refused ||
                      answer.status == Status::timeout ||
                      (answer.status == Status::error && answer.error == "connection refused");
    if (!next) break;
  }
  return answer;
}

std::size_t Resolver::outstanding() const noexcept {
  std::size_t n = 0;
  for (const auto& ch : impl_->channels) n += ch->outstanding;
  return n;
}

std::vector<std::string> Resolver::servers() const {
  return impl_->servers;
}

}  // namespace green::dns
