// A neutral load client for the server benchmarks: plain epoll, one thread,
// no libgreen (so it measures every server the same way).
//
//   loadgen rr     HOST PORT CONNS DEPTH SECONDS   64-byte request/response, DEPTH in flight per connection
//   loadgen stream HOST PORT CONNS SECONDS         every connection sends and reads continuously
//   loadgen idle   HOST PORT CONNS SECONDS         opens CONNS idle connections and holds them
//   loadgen chat   HOST PORT CLIENTS LINES PROTO   PROTO seed (green/gevent chat) or ncat (ncat --chat)
//   loadgen wschat HOST PORT CLIENTS SENDERS LINES  WebSocket users of one room (/ws?room=bench&name=cN)
//   loadgen pollchat HOST PORT CLIENTS SENDERS LINES PROTO   long polling; PROTO green (green serve chat
//                                                   --http) or seed (the third seed's Flask chat)
//
// The chat modes are closed loops: every client joins, then each of the
// first SENDERS clients sends LINES lines as fast as the server takes them
// and every client counts what it receives (every line reaches every user,
// the sender too), lost and out of order per sender.
// Prints one line of key=value results on stdout; the chat modes include
// client_cpu, this process's CPU time over the wall time of the send phase
// (near 1 would mean the client, not the server, sets the pace).
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

std::uint64_t now_ns() {
  return static_cast<std::uint64_t>(
      std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch()).count());
}

[[noreturn]] void die(const char* what) {
  std::fprintf(stderr, "loadgen: %s: %s\n", what, std::strerror(errno));
  std::exit(1);
}

int connect_to(const char* host, int port) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<std::uint16_t>(port));
  if (inet_pton(AF_INET, host, &a.sin_addr) != 1) die("bad host");
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) die("socket");
  for (int attempt = 0;; ++attempt) {
    if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0) break;
    // A server with a small backlog (socat, python) may refuse for a moment.
    if (attempt < 100 && (errno == ECONNREFUSED || errno == EAGAIN)) {
      ::close(fd);
      fd = ::socket(AF_INET, SOCK_STREAM, 0);
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
      continue;
    }
    die("connect");
  }
  int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);
  return fd;
}

void raise_nofile() {
  rlimit rl{};
  ::getrlimit(RLIMIT_NOFILE, &rl);
  rl.rlim_cur = rl.rlim_max;
  ::setrlimit(RLIMIT_NOFILE, &rl);
}

struct Epoll {
  int fd = ::epoll_create1(0);
  void add(int s, std::uint32_t ev, std::uint64_t data) {
    epoll_event e{};
    e.events = ev;
    e.data.u64 = data;
    if (::epoll_ctl(fd, EPOLL_CTL_ADD, s, &e) != 0) die("epoll_ctl");
  }
  void mod(int s, std::uint32_t ev, std::uint64_t data) {
    epoll_event e{};
    e.events = ev;
    e.data.u64 = data;
    ::epoll_ctl(fd, EPOLL_CTL_MOD, s, &e);
  }
};

double pct(std::vector<std::uint64_t>& v, double p) {
  if (v.empty()) return 0;
  const std::size_t k = std::min(v.size() - 1, static_cast<std::size_t>(p * static_cast<double>(v.size())));
  std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(k), v.end());
  return static_cast<double>(v[k]) / 1e6;  // ms
}

// Writes what it can of `out` (kept for later when the socket is full).
bool flush(int fd, std::string& out) {
  while (!out.empty()) {
    const ssize_t n = ::send(fd, out.data(), out.size(), MSG_NOSIGNAL);
    if (n > 0) {
      out.erase(0, static_cast<std::size_t>(n));
      continue;
    }
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) return true;
    return false;
  }
  return true;
}

// ---- request/response ----------------------------------------------------------

int run_rr(const char* host, int port, int conns, int depth, double seconds) {
  struct Conn {
    int fd;
    std::deque<std::uint64_t> sent;
    std::size_t partial = 0;
    std::string out;
  };
  const std::string msg(64, 'r');
  std::vector<Conn> cs(static_cast<std::size_t>(conns));
  Epoll ep;
  for (int i = 0; i < conns; ++i) {
    cs[static_cast<std::size_t>(i)].fd = connect_to(host, port);
    ep.add(cs[static_cast<std::size_t>(i)].fd, EPOLLIN, static_cast<std::uint64_t>(i));
  }
  for (auto& c : cs) {
    for (int d = 0; d < depth; ++d) {
      c.sent.push_back(now_ns());
      c.out += msg;
    }
    if (!flush(c.fd, c.out)) die("send");
  }
  std::vector<std::uint64_t> lat;
  lat.reserve(4'000'000);
  const std::uint64_t start = now_ns();
  const std::uint64_t warm = start + 1'000'000'000ULL;
  const std::uint64_t end = warm + static_cast<std::uint64_t>(seconds * 1e9);
  std::uint64_t done = 0;
  std::vector<epoll_event> evs(1024);
  char buf[65536];
  std::uint64_t t = start;
  while (t < end) {
    const int n = ::epoll_wait(ep.fd, evs.data(), static_cast<int>(evs.size()), 100);
    t = now_ns();
    for (int i = 0; i < n; ++i) {
      Conn& c = cs[evs[static_cast<std::size_t>(i)].data.u64];
      if (evs[static_cast<std::size_t>(i)].events & EPOLLOUT) {
        if (!flush(c.fd, c.out)) die("send");
        if (c.out.empty()) ep.mod(c.fd, EPOLLIN, evs[static_cast<std::size_t>(i)].data.u64);
      }
      const ssize_t r = ::recv(c.fd, buf, sizeof buf, 0);
      if (r == 0) die("server closed a connection");
      if (r < 0) {
        if (errno == EAGAIN) continue;
        die("recv");
      }
      c.partial += static_cast<std::size_t>(r);
      while (c.partial >= 64) {
        c.partial -= 64;
        const std::uint64_t s = c.sent.front();
        c.sent.pop_front();
        if (t >= warm) {
          lat.push_back(t - s);
          ++done;
        }
        c.sent.push_back(t);
        c.out += msg;
      }
      const bool had = !c.out.empty();
      if (!flush(c.fd, c.out)) die("send");
      if (had && !c.out.empty()) ep.mod(c.fd, EPOLLIN | EPOLLOUT, evs[static_cast<std::size_t>(i)].data.u64);
    }
  }
  const double secs = static_cast<double>(t - warm) / 1e9;
  std::printf("mode=rr conns=%d depth=%d rt_per_s=%.0f p50_ms=%.3f p99_ms=%.3f\n", conns, depth,
              static_cast<double>(done) / secs, pct(lat, 0.50), pct(lat, 0.99));
  for (auto& c : cs) ::close(c.fd);
  return 0;
}

// ---- streaming -----------------------------------------------------------------

int run_stream(const char* host, int port, int conns, double seconds) {
  constexpr std::uint64_t kWindow = 256 * 1024;  // bytes in flight per connection at most
  struct Conn {
    int fd;
    std::uint64_t sent = 0, recvd = 0;
    bool want_out = true;
  };
  std::vector<Conn> cs(static_cast<std::size_t>(conns));
  Epoll ep;
  for (int i = 0; i < conns; ++i) {
    cs[static_cast<std::size_t>(i)].fd = connect_to(host, port);
    ep.add(cs[static_cast<std::size_t>(i)].fd, EPOLLIN | EPOLLOUT, static_cast<std::uint64_t>(i));
  }
  static char chunk[16384];
  std::memset(chunk, 's', sizeof chunk);
  char buf[65536];
  const std::uint64_t start = now_ns();
  const std::uint64_t warm = start + 1'000'000'000ULL;
  const std::uint64_t end = warm + static_cast<std::uint64_t>(seconds * 1e9);
  std::uint64_t bytes = 0;
  std::vector<epoll_event> evs(1024);
  std::uint64_t t = start;
  while (t < end) {
    const int n = ::epoll_wait(ep.fd, evs.data(), static_cast<int>(evs.size()), 100);
    t = now_ns();
    for (int i = 0; i < n; ++i) {
      const auto id = evs[static_cast<std::size_t>(i)].data.u64;
      Conn& c = cs[id];
      for (;;) {
        const ssize_t r = ::recv(c.fd, buf, sizeof buf, 0);
        if (r > 0) {
          c.recvd += static_cast<std::uint64_t>(r);
          if (t >= warm) bytes += static_cast<std::uint64_t>(r);
          continue;
        }
        if (r == 0) die("server closed a connection");
        if (errno != EAGAIN) die("recv");
        break;
      }
      while (c.sent - c.recvd < kWindow) {
        const ssize_t w = ::send(c.fd, chunk, sizeof chunk, MSG_NOSIGNAL);
        if (w <= 0) break;
        c.sent += static_cast<std::uint64_t>(w);
      }
      const bool want = c.sent - c.recvd < kWindow;
      if (want != c.want_out) {
        c.want_out = want;
        ep.mod(c.fd, EPOLLIN | (want ? EPOLLOUT : 0u), id);
      }
    }
  }
  const double secs = static_cast<double>(t - warm) / 1e9;
  std::printf("mode=stream conns=%d mb_per_s=%.1f\n", conns, static_cast<double>(bytes) / secs / 1e6);
  for (auto& c : cs) ::close(c.fd);
  return 0;
}

// ---- idle ----------------------------------------------------------------------

int run_idle(const char* host, int port, int conns, double seconds) {
  std::vector<int> fds;
  fds.reserve(static_cast<std::size_t>(conns));
  for (int i = 0; i < conns; ++i) fds.push_back(connect_to(host, port));
  // One round trip on the last connection: the server has accepted them all.
  const char ping = 'p';
  ::send(fds.back(), &ping, 1, MSG_NOSIGNAL);
  char c = 0;
  for (int i = 0; i < 500 && ::recv(fds.back(), &c, 1, 0) != 1; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  std::printf("mode=idle conns=%d connected\n", conns);
  std::fflush(stdout);
  std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
  for (int fd : fds) ::close(fd);
  return 0;
}

// ---- chat ----------------------------------------------------------------------

int run_chat(const char* host, int port, int clients, int lines, bool ncat) {
  struct Client {
    int fd;
    int next_line = 0;
    std::string out, in;
  };
  std::vector<Client> cs(static_cast<std::size_t>(clients));
  Epoll ep;
  std::uint64_t notices = 0;
  for (int i = 0; i < clients; ++i) {
    Client& c = cs[static_cast<std::size_t>(i)];
    c.fd = connect_to(host, port);
    if (!ncat) c.out = "c" + std::to_string(i) + "\n";
    if (!flush(c.fd, c.out)) die("send");
    ep.add(c.fd, EPOLLIN, static_cast<std::uint64_t>(i));
  }
  std::vector<epoll_event> evs(1024);
  char buf[65536];
  // Wait until everyone is in: the seed protocol announces each join to those
  // already in (C(C-1)/2 notices); ncat gives no count, so wait for quiet.
  const std::uint64_t want_notices = static_cast<std::uint64_t>(clients) * static_cast<std::uint64_t>(clients - 1) / 2;
  std::uint64_t quiet_since = now_ns();
  for (;;) {
    const int n = ::epoll_wait(ep.fd, evs.data(), static_cast<int>(evs.size()), 50);
    for (int i = 0; i < n; ++i) {
      Client& c = cs[evs[static_cast<std::size_t>(i)].data.u64];
      ssize_t r;
      while ((r = ::recv(c.fd, buf, sizeof buf, 0)) > 0) {
        for (ssize_t k = 0; k + 2 < r; ++k) notices += (buf[k] == '#' && buf[k + 1] == '#' && buf[k + 2] == ' ');
        quiet_since = now_ns();
      }
    }
    if (!ncat && notices >= want_notices) break;
    if (ncat && now_ns() - quiet_since > 500'000'000ULL) break;
    if (now_ns() - quiet_since > 30'000'000'000ULL) {
      std::fprintf(stderr, "loadgen: chat join phase stalled (%llu of %llu notices)\n",
                   static_cast<unsigned long long>(notices), static_cast<unsigned long long>(want_notices));
      return 1;
    }
  }
  // Expected deliveries: the seed sends each line to everyone, ncat to the others.
  const std::uint64_t expected = static_cast<std::uint64_t>(clients) * static_cast<std::uint64_t>(lines) *
                                 static_cast<std::uint64_t>(ncat ? clients - 1 : clients);
  std::vector<int> next(static_cast<std::size_t>(clients) * static_cast<std::size_t>(clients), 0);
  std::vector<std::uint64_t> lat;
  lat.reserve(expected);
  std::uint64_t got = 0, reordered = 0;
  for (int i = 0; i < clients; ++i)
    ep.mod(cs[static_cast<std::size_t>(i)].fd, EPOLLIN | EPOLLOUT, static_cast<std::uint64_t>(i));
  const std::uint64_t start = now_ns();
  std::uint64_t last = start, last_progress = start;
  while (got < expected) {
    const int n = ::epoll_wait(ep.fd, evs.data(), static_cast<int>(evs.size()), 100);
    const std::uint64_t t = now_ns();
    if (t - last_progress > 10'000'000'000ULL) break;  // lost lines: give up after 10 s of silence
    for (int i = 0; i < n; ++i) {
      const auto id = evs[static_cast<std::size_t>(i)].data.u64;
      Client& c = cs[id];
      if (evs[static_cast<std::size_t>(i)].events & EPOLLOUT) {
        // Hand the server lines as fast as it takes them.
        while (c.out.size() < 65536 && c.next_line < lines) {
          c.out +=
              "@" + std::to_string(id) + ":" + std::to_string(c.next_line++) + ":" + std::to_string(now_ns()) + "\n";
        }
        if (!flush(c.fd, c.out)) die("send");
        if (c.out.empty() && c.next_line >= lines) ep.mod(c.fd, EPOLLIN, id);
      }
      ssize_t r;
      while ((r = ::recv(c.fd, buf, sizeof buf, 0)) > 0) {
        c.in.append(buf, static_cast<std::size_t>(r));
      }
      std::size_t pos = 0;
      for (;;) {
        const std::size_t nl = c.in.find('\n', pos);
        if (nl == std::string::npos) break;
        const std::size_t at = c.in.find('@', pos);
        if (at != std::string::npos && at < nl) {
          char* e = nullptr;
          const long sender = std::strtol(c.in.c_str() + at + 1, &e, 10);
          const long seq = std::strtol(e + 1, &e, 10);
          const unsigned long long ts = std::strtoull(e + 1, &e, 10);
          if (sender >= 0 && sender < clients) {
            int& want = next[id * static_cast<std::size_t>(clients) + static_cast<std::size_t>(sender)];
            if (seq != want) ++reordered;
            want = static_cast<int>(seq) + 1;
            lat.push_back(t - ts);
            ++got;
            last = t;
            last_progress = t;
          }
        }
        pos = nl + 1;
      }
      c.in.erase(0, pos);
    }
  }
  const double secs = static_cast<double>(last - start) / 1e9;
  std::printf(
      "mode=chat clients=%d lines=%d deliveries=%llu expected=%llu lost=%llu reordered=%llu "
      "deliveries_per_s=%.0f p50_ms=%.2f p99_ms=%.2f seconds=%.2f\n",
      clients, lines, static_cast<unsigned long long>(got), static_cast<unsigned long long>(expected),
      static_cast<unsigned long long>(expected - std::min(expected, got)), static_cast<unsigned long long>(reordered),
      static_cast<double>(got) / secs, pct(lat, 0.5), pct(lat, 0.99), secs);
  for (auto& c : cs) ::close(c.fd);
  return 0;
}

// ---- web chat: WebSocket and long polling ------------------------------------

double cpu_seconds() {
  rusage u{};
  ::getrusage(RUSAGE_SELF, &u);
  auto sec = [](const timeval& t) { return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_usec) / 1e6; };
  return sec(u.ru_utime) + sec(u.ru_stime);
}

// What every web mode counts: a line carrying '@SENDER:SEQ:NS' anywhere
// (after the server's 'NAME> ' or the seed's 'NAME:') is one delivery.
struct Tally {
  Tally(int clients_, int senders, int lines)
      : clients(clients_),
        expected(static_cast<std::uint64_t>(senders) * static_cast<std::uint64_t>(lines) *
                 static_cast<std::uint64_t>(clients_)),
        next(static_cast<std::size_t>(clients_) * static_cast<std::size_t>(clients_), 0) {
    lat.reserve(expected);
  }
  // `s` lies inside a std::string, so the number parsing stops at its NUL
  // at worst; a mark that runs past `s` does not count.
  void line(std::size_t receiver, std::string_view s, std::uint64_t t) {
    const std::size_t at = s.find('@');
    if (at == std::string_view::npos) return;
    char* e = nullptr;
    const long sender = std::strtol(s.data() + at + 1, &e, 10);
    if (*e != ':') return;
    const long seq = std::strtol(e + 1, &e, 10);
    if (*e != ':') return;
    const unsigned long long ts = std::strtoull(e + 1, &e, 10);
    if (e > s.data() + s.size() || sender < 0 || sender >= clients) return;
    int& want = next[receiver * static_cast<std::size_t>(clients) + static_cast<std::size_t>(sender)];
    if (seq != want) ++reordered;
    want = static_cast<int>(seq) + 1;
    lat.push_back(t - ts);
    ++got;
    last = t;
  }
  void start() {
    t0 = now_ns();
    last = t0;
    cpu0 = cpu_seconds();
  }
  void report(const char* mode, int senders, int lines) {
    const double secs = static_cast<double>(last - t0) / 1e9;
    const double cpu = (cpu_seconds() - cpu0) / (static_cast<double>(now_ns() - t0) / 1e9);
    std::printf(
        "mode=%s clients=%d senders=%d lines=%d deliveries=%llu expected=%llu lost=%llu reordered=%llu "
        "deliveries_per_s=%.0f p50_ms=%.2f p99_ms=%.2f seconds=%.2f client_cpu=%.2f\n",
        mode, clients, senders, lines, static_cast<unsigned long long>(got), static_cast<unsigned long long>(expected),
        static_cast<unsigned long long>(expected - std::min(expected, got)), static_cast<unsigned long long>(reordered),
        static_cast<double>(got) / secs, pct(lat, 0.5), pct(lat, 0.99), secs, cpu);
  }
  int clients;
  std::uint64_t expected, got = 0, reordered = 0, t0 = 0, last = 0;
  double cpu0 = 0;
  std::vector<int> next;
  std::vector<std::uint64_t> lat;
};

std::string mark(std::size_t id, int seq) {
  return "@" + std::to_string(id) + ":" + std::to_string(seq) + ":" + std::to_string(now_ns());
}

// A client's frame: text, masked with the key 0 (legal; the payload goes as is).
void ws_frame(std::string& out, std::string_view payload, unsigned opcode = 0x1) {
  out += static_cast<char>(0x80 | opcode);
  const std::size_t n = payload.size();
  if (n < 126) {
    out += static_cast<char>(0x80 | n);
  } else {
    out += static_cast<char>(0x80 | 126);
    out += static_cast<char>((n >> 8) & 0xff);
    out += static_cast<char>(n & 0xff);
  }
  out.append(4, '\0');
  out += payload;
}

int run_wschat(const char* host, int port, int clients, int senders, int lines) {
  struct Client {
    int fd = -1;
    bool open = false;
    int next_line = 0;
    std::string out, in, frag;
  };
  std::vector<Client> cs(static_cast<std::size_t>(clients));
  Epoll ep;
  Tally tally(clients, senders, lines);
  std::uint64_t notices = 0;
  int opened = 0;
  for (int i = 0; i < clients; ++i) {
    Client& c = cs[static_cast<std::size_t>(i)];
    c.fd = connect_to(host, port);
    c.out = "GET /ws?room=bench&name=c" + std::to_string(i) +
            " HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";
    if (!flush(c.fd, c.out)) die("send");
    ep.add(c.fd, EPOLLIN, static_cast<std::uint64_t>(i));
  }
  // Reads what arrived: the handshake's answer, then frames; each whole text
  // message goes to `on_line`. Returns false when the server closed.
  char buf[65536];
  auto pump = [&](std::size_t id, auto&& on_line) {
    Client& c = cs[id];
    ssize_t r;
    bool eof = false;
    while ((r = ::recv(c.fd, buf, sizeof buf, 0)) != 0) {
      if (r < 0) {
        if (errno == EAGAIN || errno == EINTR) break;
        eof = true;
        break;
      }
      c.in.append(buf, static_cast<std::size_t>(r));
    }
    if (r == 0) eof = true;
    std::size_t pos = 0;
    if (!c.open) {
      const std::size_t end = c.in.find("\r\n\r\n");
      if (end == std::string::npos) return !eof;
      if (c.in.compare(0, 12, "HTTP/1.1 101") != 0) {
        std::fprintf(stderr, "loadgen: handshake refused: %s\n", c.in.substr(0, c.in.find('\r')).c_str());
        std::exit(1);
      }
      c.open = true;
      ++opened;
      pos = end + 4;
    }
    const auto* p = reinterpret_cast<const unsigned char*>(c.in.data());
    for (;;) {
      const std::size_t avail = c.in.size() - pos;
      if (avail < 2) break;
      const unsigned op = p[pos] & 0x0f;
      const bool fin = p[pos] & 0x80;
      std::uint64_t len = p[pos + 1] & 0x7f;
      std::size_t hdr = 2;
      if (len == 126) {
        if (avail < 4) break;
        len = (std::uint64_t{p[pos + 2]} << 8) | p[pos + 3];
        hdr = 4;
      } else if (len == 127) {
        if (avail < 10) break;
        len = 0;
        for (int k = 0; k < 8; ++k) len = (len << 8) | p[pos + 2 + static_cast<std::size_t>(k)];
        hdr = 10;
      }
      if (p[pos + 1] & 0x80) hdr += 4;  // servers do not mask; skip a key anyway
      if (avail < hdr + len) break;
      const std::string_view payload(c.in.data() + pos + hdr, static_cast<std::size_t>(len));
      pos += hdr + static_cast<std::size_t>(len);
      if (op == 0x8) {
        eof = true;
        break;
      }
      if (op == 0x9) {  // ping: pong
        ws_frame(c.out, payload, 0xA);
        if (!flush(c.fd, c.out)) die("send");
        continue;
      }
      if (op != 0x1 && op != 0x0) continue;
      if (!fin || !c.frag.empty()) {
        c.frag += payload;
        if (!fin) continue;
        on_line(id, std::string_view(c.frag));
        c.frag.clear();
      } else {
        on_line(id, payload);
      }
    }
    c.in.erase(0, pos);
    return !eof;
  };
  std::vector<epoll_event> evs(1024);
  // Everyone is in once each has heard those after it join: C(C-1)/2 notices.
  const std::uint64_t want_notices = static_cast<std::uint64_t>(clients) * static_cast<std::uint64_t>(clients - 1) / 2;
  std::uint64_t progress = now_ns();
  while (notices < want_notices || opened < clients) {
    const int n = ::epoll_wait(ep.fd, evs.data(), static_cast<int>(evs.size()), 50);
    for (int i = 0; i < n; ++i) {
      const bool alive = pump(evs[static_cast<std::size_t>(i)].data.u64, [&](std::size_t, std::string_view l) {
        if (l.substr(0, 3) == "## " && l.find(" joined") != std::string_view::npos) ++notices;
      });
      if (!alive) die("the server closed a connection while joining");
      progress = now_ns();
    }
    if (now_ns() - progress > 30'000'000'000ULL) {
      std::fprintf(stderr, "loadgen: wschat join phase stalled (%d open, %llu of %llu notices)\n", opened,
                   static_cast<unsigned long long>(notices), static_cast<unsigned long long>(want_notices));
      return 1;
    }
  }
  for (int i = 0; i < senders; ++i)
    ep.mod(cs[static_cast<std::size_t>(i)].fd, EPOLLIN | EPOLLOUT, static_cast<std::uint64_t>(i));
  tally.start();
  progress = tally.t0;
  while (tally.got < tally.expected) {
    const int n = ::epoll_wait(ep.fd, evs.data(), static_cast<int>(evs.size()), 100);
    const std::uint64_t t = now_ns();
    if (t - progress > 10'000'000'000ULL) break;  // lost lines: give up after 10 s of silence
    for (int i = 0; i < n; ++i) {
      const auto id = evs[static_cast<std::size_t>(i)].data.u64;
      Client& c = cs[id];
      if (evs[static_cast<std::size_t>(i)].events & EPOLLOUT) {
        while (c.out.size() < 65536 && c.next_line < lines) ws_frame(c.out, mark(id, c.next_line++));
        if (!flush(c.fd, c.out)) die("send");
        if (c.out.empty() && c.next_line >= lines) ep.mod(c.fd, EPOLLIN, id);
      }
      const std::uint64_t before = tally.got;
      const bool alive = pump(id, [&](std::size_t rid, std::string_view l) { tally.line(rid, l, t); });
      if (tally.got != before) progress = t;
      if (!alive) ep.mod(c.fd, 0, id);  // dropped by the server: its lines count as lost
    }
  }
  tally.report("wschat", senders, lines);
  for (auto& c : cs) ::close(c.fd);
  return 0;
}

// One HTTP/1.1 response with a Content-Length body at the front of `in`:
// returns false until it is whole.
struct HttpResponse {
  int status = 0;
  std::string head, body;
};

bool take_response(std::string& in, HttpResponse& r) {
  const std::size_t end = in.find("\r\n\r\n");
  if (end == std::string::npos) return false;
  std::string head = in.substr(0, end + 2);
  std::string lower = head;
  for (char& ch : lower) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  if (lower.find("\r\ntransfer-encoding: chunked") != std::string::npos) {
    std::fprintf(stderr, "loadgen: a chunked response (not supported)\n");
    std::exit(1);
  }
  const std::size_t cl = lower.find("\r\ncontent-length:");
  const std::size_t len = cl == std::string::npos ? 0 : std::strtoul(lower.c_str() + cl + 17, nullptr, 10);
  if (in.size() < end + 4 + len) return false;
  r.status = std::atoi(head.c_str() + 9);
  r.body = in.substr(end + 4, len);
  r.head = std::move(lower);
  in.erase(0, end + 4 + len);
  return true;
}

int run_pollchat(const char* host, int port, int clients, int senders, int lines, bool seed) {
  // Per client two keep-alive connections, one request at a time on each:
  // one always has a poll parked, the other joins, then sends one line per
  // POST (what the page and the seed's page do).
  struct Http {
    int fd = -1;
    std::string in, out;
  };
  struct Client {
    Http poll, send;
    std::string name, token;
    std::string cursor = "0";
    bool joined = false;
    int next_line = 0;
  };
  std::vector<Client> cs(static_cast<std::size_t>(clients));
  Epoll ep;
  Tally tally(clients, senders, lines);
  int joined = 0;
  bool sending = false;
  auto conn = [&](std::uint64_t key) -> Http& {
    Client& c = cs[key / 2];
    return key % 2 ? c.send : c.poll;
  };
  auto request = [&](std::uint64_t key, const std::string& req) {
    Http& h = conn(key);
    h.out += req;
    if (!flush(h.fd, h.out)) die("send");
    if (!h.out.empty()) ep.mod(h.fd, EPOLLIN | EPOLLOUT, key);
  };
  auto poll = [&](std::size_t i) {
    Client& c = cs[i];
    request(i * 2, seed ? "POST /poll/" + c.name + " HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 0\r\n\r\n"
                        : "GET /poll?name=" + c.name + "&token=" + c.token + "&cursor=" + c.cursor +
                              " HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
  };
  auto send_next = [&](std::size_t i) {
    Client& c = cs[i];
    if (c.next_line >= lines) return;
    std::string m = mark(i, c.next_line++);
    std::string body, target;
    if (seed) {
      body = "message=%40" + m.substr(1);
      for (std::size_t k; (k = body.find(':')) != std::string::npos;) body.replace(k, 1, "%3A");
      target = "/put/topic1/" + c.name;
    } else {
      body = m + "\n";
      target = "/send?name=" + c.name + "&token=" + c.token;
    }
    request(i * 2 + 1, "POST " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\n" +
                           (seed ? "Content-Type: application/x-www-form-urlencoded\r\n" : "") +
                           "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body);
  };
  for (int i = 0; i < clients; ++i) {
    Client& c = cs[static_cast<std::size_t>(i)];
    c.name = "c" + std::to_string(i);
    c.poll.fd = connect_to(host, port);
    c.send.fd = connect_to(host, port);
    ep.add(c.poll.fd, EPOLLIN, static_cast<std::uint64_t>(i) * 2);
    ep.add(c.send.fd, EPOLLIN, static_cast<std::uint64_t>(i) * 2 + 1);
    request(static_cast<std::uint64_t>(i) * 2 + 1,
            seed
                ? "GET /topic1/" + c.name + " HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
                : "POST /join?room=bench&name=" + c.name + " HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 0\r\n\r\n");
  }
  std::vector<epoll_event> evs(1024);
  char buf[65536];
  std::uint64_t progress = now_ns();
  for (;;) {
    if (sending && tally.got >= tally.expected) break;
    const int n = ::epoll_wait(ep.fd, evs.data(), static_cast<int>(evs.size()), 100);
    const std::uint64_t t = now_ns();
    if (t - progress > (sending ? 10'000'000'000ULL : 30'000'000'000ULL)) {
      if (!sending) {
        std::fprintf(stderr, "loadgen: pollchat join phase stalled (%d of %d joined)\n", joined, clients);
        return 1;
      }
      break;  // lost lines: give up after 10 s of silence
    }
    for (int e = 0; e < n; ++e) {
      const std::uint64_t key = evs[static_cast<std::size_t>(e)].data.u64;
      const std::size_t i = key / 2;
      Client& c = cs[i];
      Http& h = conn(key);
      if (evs[static_cast<std::size_t>(e)].events & EPOLLOUT) {
        if (!flush(h.fd, h.out)) die("send");
        if (h.out.empty()) ep.mod(h.fd, EPOLLIN, key);
      }
      ssize_t r;
      while ((r = ::recv(h.fd, buf, sizeof buf, 0)) > 0) h.in.append(buf, static_cast<std::size_t>(r));
      if (r == 0) die("the server closed a connection");
      HttpResponse res;
      while (take_response(h.in, res)) {
        if (res.status != 200) {
          std::fprintf(stderr, "loadgen: %s got HTTP %d: %s\n", c.name.c_str(), res.status, res.body.c_str());
          std::exit(1);
        }
        progress = t;
        if (key % 2 == 0) {  // a poll's answer
          if (seed) {
            tally.line(i, res.body, t);  // one JSON string, or [] after 10 s
          } else {
            std::size_t pos = 0;
            for (std::size_t nl; (nl = res.body.find('\n', pos)) != std::string::npos; pos = nl + 1)
              tally.line(i, std::string_view(res.body).substr(pos, nl - pos), t);
            const std::size_t x = res.head.find("\r\nx-cursor:");
            if (x != std::string::npos) {
              const std::size_t v = res.head.find_first_not_of(' ', x + 11);
              c.cursor = res.head.substr(v, res.head.find('\r', v) - v);
            }
          }
          poll(i);
        } else if (!c.joined) {
          c.joined = true;
          if (!seed) c.token = res.body.substr(0, res.body.find('\n'));
          poll(i);
          if (++joined == clients) {
            sending = true;
            tally.start();
            for (int s = 0; s < senders; ++s) send_next(static_cast<std::size_t>(s));
          }
        } else {
          send_next(i);
        }
      }
    }
  }
  tally.report(seed ? "pollchat-seed" : "pollchat", senders, lines);
  for (auto& c : cs) {
    ::close(c.poll.fd);
    ::close(c.send.fd);
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  raise_nofile();
  const std::string mode = argc > 1 ? argv[1] : "";
  if (mode == "rr" && argc == 7)
    return run_rr(argv[2], std::atoi(argv[3]), std::atoi(argv[4]), std::atoi(argv[5]), std::atof(argv[6]));
  if (mode == "stream" && argc == 6)
    return run_stream(argv[2], std::atoi(argv[3]), std::atoi(argv[4]), std::atof(argv[5]));
  if (mode == "idle" && argc == 6) return run_idle(argv[2], std::atoi(argv[3]), std::atoi(argv[4]), std::atof(argv[5]));
  if (mode == "chat" && argc == 7) {
    return run_chat(argv[2], std::atoi(argv[3]), std::atoi(argv[4]), std::atoi(argv[5]),
                    std::string(argv[6]) == "ncat");
  }
  if (mode == "wschat" && argc == 7) {
    return run_wschat(argv[2], std::atoi(argv[3]), std::atoi(argv[4]), std::atoi(argv[5]), std::atoi(argv[6]));
  }
  if (mode == "pollchat" && argc == 8) {
    return run_pollchat(argv[2], std::atoi(argv[3]), std::atoi(argv[4]), std::atoi(argv[5]), std::atoi(argv[6]),
                        std::string(argv[7]) == "seed");
  }
  std::fprintf(stderr,
               "usage: loadgen rr HOST PORT CONNS DEPTH SECONDS | stream HOST PORT CONNS SECONDS |\n"
               "               idle HOST PORT CONNS SECONDS | chat HOST PORT CLIENTS LINES seed|ncat |\n"
               "               wschat HOST PORT CLIENTS SENDERS LINES |\n"
               "               pollchat HOST PORT CLIENTS SENDERS LINES green|seed\n");
  return 2;
}
