// A neutral load client for the server benchmarks: plain epoll, one thread,
// no libgreen (so it measures every server the same way).
//
//   loadgen rr     HOST PORT CONNS DEPTH SECONDS   64-byte request/response, DEPTH in flight per connection
//   loadgen stream HOST PORT CONNS SECONDS         every connection sends and reads continuously
//   loadgen idle   HOST PORT CONNS SECONDS         opens CONNS idle connections and holds them
//   loadgen chat   HOST PORT CLIENTS LINES PROTO   PROTO seed (green/gevent chat) or ncat (ncat --chat)
//
// Prints one line of key=value results on stdout.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <string>
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
  std::fprintf(stderr,
               "usage: loadgen rr HOST PORT CONNS DEPTH SECONDS | stream HOST PORT CONNS SECONDS |\n"
               "               idle HOST PORT CONNS SECONDS | chat HOST PORT CLIENTS LINES seed|ncat\n");
  return 2;
}
