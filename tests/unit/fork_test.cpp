// green::fork reinitialises what the hub drives for C libraries and threads:
// the child of a fork resolves through c-ares sockets of its own, fetches
// over connections of its own and gets new thread-pool workers, while the
// parent keeps what it had. The servers here are threads of the test
// process on loopback ports: the child inherits their sockets but not the
// threads, so only the parent's copy serves, and each request says where
// it came from (its source port).
#include <green/dns.hpp>
#include <green/http.hpp>
#include <green/threadpool.hpp>

#include "green_test.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace {

int bound_socket(int type, std::uint16_t& port) {
  const int fd = ::socket(AF_INET, type | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) std::abort();
  socklen_t len = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  port = ntohs(a.sin_port);
  return fd;
}

// Answers every A query with 192.0.2.7 (others with no records), except
// names starting "slow", held until release(). Records each name's source
// port.
class DnsServer {
 public:
  DnsServer() : fd_(bound_socket(SOCK_DGRAM, port_)), thread_([this] { serve(); }) {}
  ~DnsServer() {
    stop_ = true;
    thread_.join();
    ::close(fd_);
  }
  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }
  int port_of(const std::string& name) {
    std::lock_guard lock(mutex_);
    return ports_.count(name) ? ports_[name] : -1;
  }
  void release() { released_ = true; }

 private:
  struct Held {
    std::string reply;
    sockaddr_in to;
  };
  void serve() {
    std::vector<Held> held;
    while (!stop_) {
      if (released_) {
        for (const Held& h : held)
          ::sendto(fd_, h.reply.data(), h.reply.size(), 0, reinterpret_cast<const sockaddr*>(&h.to), sizeof h.to);
        held.clear();
      }
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, 20) != 1) continue;
      unsigned char q[512];
      sockaddr_in from{};
      socklen_t len = sizeof from;
      const ssize_t n = ::recvfrom(fd_, q, sizeof q, 0, reinterpret_cast<sockaddr*>(&from), &len);
      if (n < 17) continue;
      std::string name;
      std::size_t i = 12;
      while (i < static_cast<std::size_t>(n) && q[i] != 0 && q[i] < 64) {
        if (!name.empty()) name += '.';
        name.append(reinterpret_cast<const char*>(q + i + 1), q[i]);
        i += 1 + q[i];
      }
      const std::size_t end = i + 5;  // the root label, type and class
      if (end > static_cast<std::size_t>(n)) continue;
      const bool a = q[i + 1] == 0 && q[i + 2] == 1;
      std::string r(reinterpret_cast<const char*>(q), end);
      r[2] = static_cast<char>(0x81);  // QR, RD
      r[3] = static_cast<char>(0x80);  // RA, NOERROR
      r[4] = 0, r[5] = 1, r[6] = 0, r[7] = a ? 1 : 0, r[8] = r[9] = r[10] = r[11] = 0;
      if (a) r += std::string("\xc0\x0c\x00\x01\x00\x01\x00\x00\x00\x3c\x00\x04\xc0\x00\x02\x07", 16);
      {
        std::lock_guard lock(mutex_);
        ports_[name] = ntohs(from.sin_port);
      }
      if (name.rfind("slow", 0) == 0 && !released_) {
        held.push_back({r, from});
        continue;
      }
      ::sendto(fd_, r.data(), r.size(), 0, reinterpret_cast<const sockaddr*>(&from), len);
    }
  }
  std::uint16_t port_ = 0;
  int fd_;
  std::atomic<bool> stop_{false};
  std::atomic<bool> released_{false};
  std::mutex mutex_;
  std::map<std::string, int> ports_;
  std::thread thread_;
};

// HTTP/1.1 with keep-alive: the body of every reply is the client's source
// port; replies to /slow are held until release().
class HttpServer {
 public:
  HttpServer() : fd_(bound_socket(SOCK_STREAM, port_)) {
    ::listen(fd_, 16);
    thread_ = std::thread([this] { serve(); });
  }
  ~HttpServer() {
    stop_ = true;
    thread_.join();
    ::close(fd_);
  }
  std::string url(const std::string& path) const { return "http://127.0.0.1:" + std::to_string(port_) + path; }
  void release() { released_ = true; }
  int requests() const { return requests_; }

 private:
  struct Conn {
    int fd;
    std::string port;
    std::string in;
    bool held = false;
  };
  static void reply(Conn& c) {
    const std::string r = "HTTP/1.1 200 OK\r\nContent-Length: " + std::to_string(c.port.size()) + "\r\n\r\n" + c.port;
    if (::send(c.fd, r.data(), r.size(), MSG_NOSIGNAL) < 0) return;
  }
  void serve() {
    std::vector<Conn> conns;
    while (!stop_) {
      std::vector<pollfd> p{{fd_, POLLIN, 0}};
      for (const Conn& c : conns) p.push_back({c.fd, POLLIN, 0});
      const int n = ::poll(p.data(), p.size(), 20);
      for (Conn& c : conns) {
        if (c.held && released_) {
          reply(c);
          c.held = false;
        }
      }
      if (n <= 0) continue;
      if (p[0].revents & POLLIN) {
        sockaddr_in from{};
        socklen_t len = sizeof from;
        const int c = ::accept4(fd_, reinterpret_cast<sockaddr*>(&from), &len, SOCK_CLOEXEC);
        if (c >= 0) conns.push_back({c, std::to_string(ntohs(from.sin_port)), {}});
      }
      for (std::size_t i = 1; i < p.size(); ++i) {
        if (!(p[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
        Conn& c = conns[i - 1];
        char buf[4096];
        const ssize_t got = ::recv(c.fd, buf, sizeof buf, 0);
        if (got <= 0) {
          ::close(c.fd);
          c.fd = -1;
          continue;
        }
        c.in.append(buf, static_cast<std::size_t>(got));
        for (std::size_t end; (end = c.in.find("\r\n\r\n")) != std::string::npos;) {
          const bool slow = c.in.rfind("GET /slow", 0) == 0;
          c.in.erase(0, end + 4);
          ++requests_;
          if (slow && !released_)
            c.held = true;
          else
            reply(c);
        }
      }
      std::erase_if(conns, [](const Conn& c) { return c.fd < 0; });
    }
    for (const Conn& c : conns) ::close(c.fd);
  }
  std::uint16_t port_ = 0;
  int fd_;
  std::atomic<bool> stop_{false};
  std::atomic<bool> released_{false};
  std::atomic<int> requests_{0};
  std::thread thread_;
};

// The child's exit status, waited for without blocking the hub.
int wait_child(pid_t pid) {
  int status = 0;
  while (::waitpid(pid, &status, WNOHANG) == 0) green::sleep(1ms);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

bool contains(const std::string& s, const char* part) { return s.find(part) != std::string::npos; }

}  // namespace

GREEN_TEST(Fork, TheChildResolvesThroughCaresSocketsOfItsOwn) {
  green::Timeout limit(green::testing::scaled(30s));  // a child that shares the parent's socket may take its answers
  DnsServer server;
  green::dns::Resolver r({.servers = {server.address()}, .timeout = green::testing::scaled(2s)});
  ASSERT_TRUE(r.query("before.test", green::dns::Type::a).ok());
  auto held = green::spawn([&] { return r.query("slow.test", green::dns::Type::a); });
  while (server.port_of("slow.test") < 0) green::sleep(1ms);
  const pid_t pid = green::fork();
  if (pid == 0) try {
      // The query in flight at the fork fails here; a new one goes out on a
      // socket of the child's.
      const green::dns::Answer lost = held.get();
      int code = lost.status == green::dns::Status::error && contains(lost.error, "forked") ? 0 : 1;
      const green::dns::Answer a = r.query("child.test", green::dns::Type::a);
      if (!a.ok() || a.records.at(0).value() != "192.0.2.7") code |= 2;
      std::_Exit(code);
    } catch (...) {
      std::_Exit(99);
    }
  ASSERT_GT(pid, 0);
  EXPECT_EQ(wait_child(pid), 0) << "1: the query in flight did not fail in the child; 2: the child's query failed";
  EXPECT_NE(server.port_of("child.test"), server.port_of("before.test")) << "the child used the parent's socket";
  server.release();
  EXPECT_TRUE(held.get().ok()) << "the parent's query in flight goes on";
  EXPECT_TRUE(r.query("after.test", green::dns::Type::a).ok());
  EXPECT_EQ(server.port_of("after.test"), server.port_of("before.test")) << "the parent keeps its socket";
}

GREEN_TEST(Fork, TheChildFetchesOverConnectionsOfItsOwn) {
  green::Timeout limit(green::testing::scaled(30s));  // a child that shares the parent's connection may take its reply
  HttpServer server;
  namespace http = green::http;
  const auto get = [&](const char* path) {
    return http::fetch(http::Request{.url = server.url(path), .timeout = green::testing::scaled(10s)});
  };
  const std::string parent_port = get("/").body;  // its connection stays in curl's cache
  auto held = green::spawn([&] {
    std::error_code ec;
    http::Response r =
        http::fetch(http::Request{.url = server.url("/slow"), .timeout = green::testing::scaled(10s)}, ec);
    return ec ? "error: " + r.error : r.body;
  });
  while (server.requests() < 2) green::sleep(1ms);
  const pid_t pid = green::fork();
  if (pid == 0) try {
      int code = contains(held.get(), "forked") ? 0 : 1;
      std::error_code ec;
      const http::Response r = http::fetch(http::Request{.url = server.url("/")}, ec);
      if (ec || r.body.empty() || r.body == parent_port) code |= 2;
      std::_Exit(code);
    } catch (...) {
      std::_Exit(99);
    }
  ASSERT_GT(pid, 0);
  EXPECT_EQ(wait_child(pid), 0)
      << "1: the transfer in flight did not fail in the child; 2: the child's fetch failed or used the parent's "
         "connection";
  server.release();
  EXPECT_EQ(held.get().rfind("error", 0), std::string::npos) << "the parent's transfer in flight goes on";
  EXPECT_EQ(get("/").body, parent_port) << "the parent reuses its connection";
}

GREEN_TEST(Fork, TheChildGetsNewThreadPoolWorkers) {
  green::Timeout limit(green::testing::scaled(30s));
  green::ThreadPool pool(1);
  std::atomic<bool> started{false}, release{false};
  auto busy = green::spawn([&] {
    return pool.run([&] {
      started = true;
      while (!release) std::this_thread::sleep_for(1ms);
      return 1;
    });
  });
  while (!started) green::sleep(1ms);
  const pid_t pid = green::fork();
  if (pid == 0) try {
      green::Timeout child_limit(green::testing::scaled(10s));
      int code = 0;
      try {
        busy.get();
        code |= 1;
      } catch (const std::runtime_error& e) {
        if (!contains(e.what(), "forked")) code |= 1;
      }
      // The pool's one worker is the parent's: without a new one this waits.
      if (pool.run([] { return 7; }) != 7) code |= 2;
      if (green::run_in_thread([] { return 8; }) != 8) code |= 4;
      std::_Exit(code);
    } catch (...) {
      std::_Exit(99);  // the Timeout: a call never ran
    }
  ASSERT_GT(pid, 0);
  EXPECT_EQ(wait_child(pid), 0) << "1: the running call did not fail in the child; 2, 4, 99: no worker in the child";
  release = true;
  EXPECT_EQ(busy.get(), 1);
  EXPECT_EQ(pool.run([] { return 2; }), 2);
}
