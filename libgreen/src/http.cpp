// green::http: one curl multi handle per hub, driven by the hub.
//
// How the pieces fit (see notes/design-notes.md §3 for the pitfalls):
//  - The multi handle lives in an Asio service of the hub's io_context, so it
//    is created on first use and cleaned up when the hub ends.
//  - curl's sockets are opened and closed by us (OPENSOCKETFUNCTION /
//    CLOSESOCKETFUNCTION). A socket is wrapped in a posix::stream_descriptor
//    when it is opened and release()d (deregistered, never closed by Asio)
//    before we close it, so a late or missing CURL_POLL_REMOVE can never
//    touch a descriptor that was closed or reused. Descriptors curl opens
//    itself (the threaded resolver's socketpair) are watched through a dup()
//    we own, for the same reason.
//  - A descriptor is a detail::FdWatch (fd_watch.hpp), waited on for exactly
//    the directions curl asked for in its last socket callback: a socket curl
//    stopped wanting (CURL_POLL_REMOVE, an idle keep-alive connection in its
//    cache) costs at most one wake-up when its peer closes it, never a loop.
//  - A connection to a loopback peer, or one less than a millisecond away,
//    gets a 1 MiB receive buffer once it is up (widen_if_near below).
//  - curl's timer is one hub timer; a 0 timeout is posted as a hub callback
//    instead of calling back into curl from inside curl.
//  - Every curl callback runs on the hub (inside socket_action) and never
//    switches: bodies are appended, counted, written to a file or handed to a
//    non-switching callback. Finished transfers are drained with
//    curl_multi_info_read and wake their greenlets.
//  - green::fork: the child severs every connection it shares with the
//    parent and starts with a new multi handle; transfers in flight fail
//    there (fork.hpp).
//  - A request waits with await_op, which holds an IoRef for the hub while
//    the transfer is in flight; a kill or Timeout removes the easy handle
//    (aborting the transfer) and raises.
#include "fd_watch.hpp"
#include "fork.hpp"

#include <green/http.hpp>
#include <green/io.hpp>

#include <boost/asio/posix/stream_descriptor.hpp>

#include <curl/curl.h>

#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <strings.h>
#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>
#include <mutex>

namespace green::http {

namespace {

using boost::asio::posix::stream_descriptor;

constexpr std::size_t kMaxIdleEasy = 1024;
constexpr long kDefaultCachedConnections = 512;

struct Transfer {
  CURL* easy = nullptr;
  const Request* req = nullptr;
  Response* res = nullptr;
  curl_slist* headers = nullptr;
  curl_slist* resolve = nullptr;
  int file_fd = -1;
  std::string write_error;
  std::function<void(CURLcode)> done;
  std::size_t slot = 0;  // in Multi's list of transfers in flight
  char errbuf[CURL_ERROR_SIZE] = {0};
};

// One descriptor watched for curl.
struct Watch {
  detail::FdWatch watch;  // on curl's descriptor, or on our dup of one curl opened itself
  bool owned = false;     // opened by on_open, closed by on_close
  bool sized = false;     // widen_if_near has decided about its receive buffer
};

// A new TCP connection starts with tcp_rmem's default receive buffer (128
// KiB, a 64 KiB window) and the kernel grows it only as fast as each round
// trip shows the reader keeping up. With many connections read one burst at
// a time, a near server keeps stalling on the small window; on loopback its
// next transmission then runs inside our recv() (the window update's softirq),
// segment by segment. Fetching 1 MiB files from a local nginx at -c 100 cost
// 744 us of our CPU per file with the default buffer and 285 us with this
// one, the server's CPU unchanged (bench/RESULTS.md, issue 17).
//
// SO_RCVBUF also stops the kernel's autotuning, which caps a connection at
// buffer / round trip: 1 MiB / 1 ms is 1 GiB/s, so only loopback peers and
// those whose handshake took under a millisecond get it (farther ones keep
// autotuning, which grows past 1 MiB when the path needs it; loopback by its
// address, as a busy machine can take longer than that to answer its own
// SYN), and only where net.core.rmem_max allows all of it.
constexpr int kNearReceiveBuffer = 1 << 20;
constexpr unsigned kNearRttMicros = 1000;

bool rmem_max_allows(int bytes) {
  static const long max = [] {
    long v = 0;
    if (FILE* f = std::fopen("/proc/sys/net/core/rmem_max", "re")) {
      if (std::fscanf(f, "%ld", &v) != 1) v = 0;
      std::fclose(f);
    }
    return v;
  }();
  return max >= bytes;
}

enum class Widened { not_yet, no, yes };

bool loopback_peer(int fd) {
  sockaddr_storage a{};
  socklen_t len = sizeof a;
  if (::getpeername(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0) return false;
  if (a.ss_family == AF_INET) {
    return (ntohl(reinterpret_cast<const sockaddr_in&>(a).sin_addr.s_addr) >> 24) == 127;
  }
  if (a.ss_family == AF_INET6) {
    const in6_addr& v6 = reinterpret_cast<const sockaddr_in6&>(a).sin6_addr;
    return IN6_IS_ADDR_LOOPBACK(&v6) || (IN6_IS_ADDR_V4MAPPED(&v6) && v6.s6_addr[12] == 127);
  }
  return false;
}

// `fd` is curl's connection; "not yet" until it is established (the round
// trip is measured by then).
Widened widen_if_near(int fd) {
  tcp_info info{};
  socklen_t len = sizeof info;
  if (::getsockopt(fd, IPPROTO_TCP, TCP_INFO, &info, &len) != 0) return Widened::no;  // not TCP
  if (info.tcpi_state != TCP_ESTABLISHED) return Widened::not_yet;
  const bool near = info.tcpi_rtt > 0 && info.tcpi_rtt < kNearRttMicros;
  if (!near && !loopback_peer(fd)) return Widened::no;
  int current = 0;
  len = sizeof current;
  // The kernel reports (and keeps) twice what SO_RCVBUF was given.
  if (::getsockopt(fd, SOL_SOCKET, SO_RCVBUF, &current, &len) != 0 || current >= 2 * kNearReceiveBuffer) {
    return Widened::no;
  }
  if (!rmem_max_allows(kNearReceiveBuffer)) return Widened::no;
  const int size = kNearReceiveBuffer;
  return ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof size) == 0 ? Widened::yes : Widened::no;
}

void global_init() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

class Multi : public boost::asio::execution_context::service, detail::ForkHook {
 public:
  using key_type = Multi;
  static boost::asio::execution_context::id id;

  explicit Multi(boost::asio::execution_context& ctx)
      : boost::asio::execution_context::service(ctx),
        io_(static_cast<boost::asio::io_context&>(ctx)),
        posted_(this),
        timer_(this) {
    // Register the descriptor service before this one: services shut down
    // newest first, so ours (which releases descriptors) runs while the
    // reactor is still intact.
    { stream_descriptor probe(io_); }
    global_init();
    multi_ = make_multi();
  }

  CURLM* make_multi() {
    CURLM* m = curl_multi_init();
    if (!m) throw std::runtime_error("green::http: curl_multi_init failed");
    curl_multi_setopt(m, CURLMOPT_SOCKETFUNCTION, &Multi::on_socket);
    curl_multi_setopt(m, CURLMOPT_SOCKETDATA, this);
    curl_multi_setopt(m, CURLMOPT_TIMERFUNCTION, &Multi::on_timer);
    curl_multi_setopt(m, CURLMOPT_TIMERDATA, this);
    // curl sizes its connection cache from the handles added so far, so a
    // burst of concurrent requests would close connections it could reuse.
    curl_multi_setopt(m, CURLMOPT_MAXCONNECTS, kDefaultCachedConnections);
    return m;
  }

  void sever() noexcept override {
    for (const auto& w : watches_)
      if (w && w->watch.fd() >= 0) detail::sever_descriptor(w->watch.fd());
  }

  // The parent's connections and transfers stay the parent's: the child gets
  // an empty multi (limits set by set_pool_limits are not carried over).
  void rebuild() override {
    std::vector<Transfer*> lost;
    lost.swap(transfers_);
    for (Transfer* t : lost) {
      // No join of a resolver thread the child does not have.
      curl_easy_setopt(t->easy, CURLOPT_QUICK_EXIT, 1L);
      curl_multi_remove_handle(multi_, t->easy);
    }
    timer_.cancel();
    curl_multi_cleanup(multi_);  // writes only reach the severed sockets
    multi_ = nullptr;
    watches_.clear();
    watched_ = open_sockets_ = in_flight_ = 0;
    multi_ = make_multi();
    for (Transfer* t : lost) {
      std::snprintf(t->errbuf, sizeof t->errbuf, "%s",
                    "the process forked during the transfer (green::fork): it goes on in the parent only");
      if (auto done = std::move(t->done)) {
        t->done = nullptr;
        done(CURLE_ABORTED_BY_CALLBACK);
      }
    }
  }

  void shutdown() override {
    timer_.cancel();
    if (multi_) {
      curl_multi_cleanup(multi_);  // closes cached connections through on_close
      multi_ = nullptr;
    }
    for (CURL* e : idle_) curl_easy_cleanup(e);
    idle_.clear();
    watches_.clear();
  }

  CURLM* handle() const noexcept { return multi_; }

  CURL* take_easy() {
    if (!idle_.empty()) {
      CURL* e = idle_.back();
      idle_.pop_back();
      return e;
    }
    CURL* e = curl_easy_init();
    if (!e) throw std::runtime_error("green::http: curl_easy_init failed");
    return e;
  }

  void give_easy(CURL* e) noexcept {
    if (idle_.size() >= kMaxIdleEasy) {
      curl_easy_cleanup(e);
      return;
    }
    curl_easy_reset(e);
    idle_.push_back(e);
  }

  void start(Transfer& t) {
    t.slot = transfers_.size();
    transfers_.push_back(&t);
    ++in_flight_;  // before adding: curl asks for its timer from inside add_handle
    const CURLMcode rc = curl_multi_add_handle(multi_, t.easy);
    if (rc != CURLM_OK) {
      finished(&t);
      throw std::runtime_error(std::string("green::http: ") + curl_multi_strerror(rc));
    }
  }

  // Called from the waiting greenlet on kill or Timeout, never from inside
  // curl: removing the handle aborts the transfer (its connection is closed
  // through on_close) and completes the wait.
  void abort(Transfer& t) noexcept {
    curl_multi_remove_handle(multi_, t.easy);
    finished(&t);
    if (t.done) {
      auto done = std::move(t.done);
      t.done = nullptr;
      done(CURLE_ABORTED_BY_CALLBACK);
    }
  }

  Stats stats() const noexcept {
    Stats s;
    s.in_flight = in_flight_;
    s.open_sockets = open_sockets_;
    s.watched_sockets = watched_;
    s.sockets_opened = sockets_opened_;
    s.receive_buffers_widened = widened_;
    return s;
  }

  static curl_socket_t on_open(void* clientp, curlsocktype purpose, curl_sockaddr* addr) {
    auto* m = static_cast<Multi*>(clientp);
    if (purpose != CURLSOCKTYPE_IPCXN) return CURL_SOCKET_BAD;
    const int fd = ::socket(addr->family, addr->socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, addr->protocol);
    if (fd < 0) return CURL_SOCKET_BAD;
    try {
      // A descriptor number curl closed behind our back (a resolver
      // socketpair) may still have a stale watch: it is ours to drop.
      if (m->find(fd)) m->erase(fd);
      m->insert(fd, Watch{m->watch(fd, fd, false), true});
    } catch (...) {
      ::close(fd);
      return CURL_SOCKET_BAD;
    }
    ++m->open_sockets_;
    ++m->sockets_opened_;
    return fd;
  }

  static int on_close(void* clientp, curl_socket_t fd) {
    auto* m = static_cast<Multi*>(clientp);
    if (Watch* w = m->find(fd); w && w->owned) {
      m->erase(fd);
      --m->open_sockets_;
    }
    return ::close(fd);
  }

 private:
  static int on_socket(CURL*, curl_socket_t fd, int what, void* userp, void*) {
    auto* m = static_cast<Multi*>(userp);
    Watch* w = m->find(fd);
    if (what == CURL_POLL_REMOVE) {
      if (!w) return 0;  // unknown or already closed: nothing to touch
      if (w->owned) {
        w->watch.want(false, false);  // keep the descriptor until on_close
      } else {
        m->erase(fd);
      }
      return 0;
    }
    if (!w) w = m->adopt_foreign(fd);
    if (!w) return 0;  // could not watch it; curl's timer still drives the transfer
    // Curl waits to read once the connection is up (and the request sent).
    if ((what & CURL_POLL_IN) && w->owned && !w->sized) {
      const Widened r = widen_if_near(fd);
      w->sized = r != Widened::not_yet;
      if (r == Widened::yes) ++m->widened_;
    }
    try {
      w->watch.want((what & CURL_POLL_IN) != 0, (what & CURL_POLL_OUT) != 0);
    } catch (...) {
      // Out of memory: curl's timer still drives the transfer.
    }
    return 0;
  }

  static int on_timer(CURLM*, long timeout_ms, void* userp) {
    auto* m = static_cast<Multi*>(userp);
    m->timer_.cancel();
    if (timeout_ms < 0 || m->in_flight_ == 0) return 0;
    if (timeout_ms == 0) {
      m->posted_.post();
    } else {
      m->timer_.arm(Clock::now() + std::chrono::milliseconds(timeout_ms));
    }
    return 0;
  }

  void on_timeout() {
    if (multi_) action(CURL_SOCKET_TIMEOUT, 0);
  }

  Watch* find(int fd) const noexcept {
    if (fd < 0 || static_cast<std::size_t>(fd) >= watches_.size()) return nullptr;
    return watches_[static_cast<std::size_t>(fd)].get();
  }

  // Watches `watched` (curl's `fd` or our dup of it) for curl's descriptor `fd`.
  detail::FdWatch watch(int watched, curl_socket_t fd, bool own) {
    return detail::FdWatch(
        watched, [this, fd](bool read, const bool&) { action(fd, read ? CURL_CSELECT_IN : CURL_CSELECT_OUT); }, own);
  }

  void insert(int fd, Watch w) {
    const auto i = static_cast<std::size_t>(fd);
    if (i >= watches_.size()) watches_.resize(std::max<std::size_t>(i + 1, watches_.size() * 2));
    watches_[i] = std::make_unique<Watch>(std::move(w));
    ++watched_;
  }

  // A descriptor curl opened itself (the threaded resolver's socketpair) may
  // be closed by curl without a word: we watch a dup we own instead.
  Watch* adopt_foreign(int fd) {
    const int copy = ::fcntl(fd, F_DUPFD_CLOEXEC, 0);
    if (copy < 0) return nullptr;
    try {
      insert(fd, Watch{watch(copy, fd, true), false});
    } catch (...) {
      return nullptr;  // the watch closed its copy
    }
    return find(fd);
  }

  // Stops watching: pending waits complete and do nothing.
  void erase(int fd) noexcept {
    --watched_;
    watches_[static_cast<std::size_t>(fd)].reset();
  }

  void action(curl_socket_t fd, int ev) {
    int running = 0;
    curl_multi_socket_action(multi_, fd, ev, &running);
    drain();
  }

  void drain() {
    int left = 0;
    while (CURLMsg* msg = curl_multi_info_read(multi_, &left)) {
      if (msg->msg != CURLMSG_DONE) continue;
      CURL* easy = msg->easy_handle;
      const CURLcode rc = msg->data.result;  // msg is invalid after remove_handle
      Transfer* t = nullptr;
      curl_easy_getinfo(easy, CURLINFO_PRIVATE, &t);
      curl_multi_remove_handle(multi_, easy);
      finished(t);
      if (t && t->done) {
        auto done = std::move(t->done);
        t->done = nullptr;
        done(rc);
      }
    }
  }

  void finished(Transfer* t) noexcept {
    if (t && t->slot < transfers_.size() && transfers_[t->slot] == t) {
      transfers_[t->slot] = transfers_.back();
      transfers_[t->slot]->slot = t->slot;
      transfers_.pop_back();
    }
    if (in_flight_ > 0) --in_flight_;
    if (in_flight_ == 0) timer_.cancel();
  }

  boost::asio::io_context& io_;
  CURLM* multi_ = nullptr;
  detail::HubCall<Multi, &Multi::on_timeout> posted_;
  detail::HubTimer<Multi, &Multi::on_timeout> timer_;
  std::vector<std::unique_ptr<Watch>> watches_;  // by curl's descriptor number
  std::vector<CURL*> idle_;
  std::vector<Transfer*> transfers_;  // in flight
  std::size_t in_flight_ = 0;
  std::size_t open_sockets_ = 0;
  std::size_t watched_ = 0;
  std::uint64_t sockets_opened_ = 0;
  std::uint64_t widened_ = 0;
};

boost::asio::execution_context::id Multi::id;

Multi& multi() { return boost::asio::use_service<Multi>(green::io_context()); }

// ---- curl's per-transfer callbacks (on the hub; never switch) -------------

bool write_all(int fd, const char* p, std::size_t n) {
  while (n > 0) {
    const ssize_t w = ::write(fd, p, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    p += w;
    n -= static_cast<std::size_t>(w);
  }
  return true;
}

bool open_file(Transfer& t) {
  if (t.file_fd >= 0) return true;
  t.file_fd = ::open(t.req->sink.path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (t.file_fd < 0) {
    t.write_error = "cannot write " + t.req->sink.path + ": " + std::strerror(errno);
    return false;
  }
  return true;
}

std::size_t on_write(char* data, std::size_t, std::size_t n, void* userp) {
  auto* t = static_cast<Transfer*>(userp);
  t->res->bytes += n;
  switch (t->req->sink.kind) {
    case Sink::Kind::memory:
      try {
        t->res->body.append(data, n);
      } catch (...) {
        t->write_error = "out of memory for the response body";
        return 0;
      }
      break;
    case Sink::Kind::discard:
      break;
    case Sink::Kind::file:
      if (!open_file(*t)) return 0;
      if (!write_all(t->file_fd, data, n)) {
        t->write_error = "cannot write " + t->req->sink.path + ": " + std::strerror(errno);
        return 0;
      }
      break;
    case Sink::Kind::callback:
      try {
        if (t->req->sink.on_data && !t->req->sink.on_data(std::string_view(data, n))) {
          t->write_error = "the body callback stopped the transfer";
          return 0;
        }
      } catch (...) {
        t->write_error = "the body callback threw";
        return 0;
      }
      break;
  }
  return n;
}

std::size_t on_header(char* data, std::size_t, std::size_t n, void* userp) {
  auto* t = static_cast<Transfer*>(userp);
  std::string_view line(data, n);
  while (!line.empty() && (line.back() == '\n' || line.back() == '\r')) line.remove_suffix(1);
  try {
    if (line.substr(0, 5) == "HTTP/") {
      t->res->headers.clear();  // a new response (redirect, 100 Continue)
    } else if (const auto colon = line.find(':'); colon != std::string_view::npos && colon > 0) {
      std::string_view value = line.substr(colon + 1);
      while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) value.remove_prefix(1);
      t->res->headers.push_back({std::string(line.substr(0, colon)), std::string(value)});
    }
  } catch (...) {
    return 0;
  }
  return n;
}

long millis(Duration d) {
  const auto ms = std::chrono::ceil<std::chrono::milliseconds>(d).count();
  return ms < 1 ? 1 : static_cast<long>(ms);
}

bool is_https(const std::string& url) { return url.size() >= 8 && strncasecmp(url.c_str(), "https://", 8) == 0; }

template <class T>
void set(CURL* e, CURLoption opt, T value) {
  const CURLcode rc = curl_easy_setopt(e, opt, value);
  if (rc != CURLE_OK) throw std::invalid_argument(std::string("green::http: ") + curl_easy_strerror(rc));
}

void configure(Multi& m, Transfer& t) {
  CURL* e = t.easy;
  const Request& r = *t.req;
  set(e, CURLOPT_URL, r.url.c_str());
  set(e, CURLOPT_PRIVATE, static_cast<void*>(&t));
  set(e, CURLOPT_NOSIGNAL, 1L);
  set(e, CURLOPT_ERRORBUFFER, t.errbuf);
  set(e, CURLOPT_WRITEFUNCTION, &on_write);
  set(e, CURLOPT_WRITEDATA, static_cast<void*>(&t));
  set(e, CURLOPT_HEADERFUNCTION, &on_header);
  set(e, CURLOPT_HEADERDATA, static_cast<void*>(&t));
  set(e, CURLOPT_OPENSOCKETFUNCTION, &Multi::on_open);
  set(e, CURLOPT_OPENSOCKETDATA, static_cast<void*>(&m));
  set(e, CURLOPT_CLOSESOCKETFUNCTION, &Multi::on_close);
  set(e, CURLOPT_CLOSESOCKETDATA, static_cast<void*>(&m));
  set(e, CURLOPT_PROTOCOLS_STR, "http,https");
  set(e, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
  set(e, CURLOPT_FOLLOWLOCATION, r.follow_redirects ? 1L : 0L);
  set(e, CURLOPT_MAXREDIRS, r.max_redirects);
  if (r.timeout != forever) set(e, CURLOPT_TIMEOUT_MS, millis(r.timeout));
  if (r.connect_timeout != forever) set(e, CURLOPT_CONNECTTIMEOUT_MS, millis(r.connect_timeout));
  if (r.low_speed_limit > 0 && r.low_speed_time > Duration::zero()) {
    set(e, CURLOPT_LOW_SPEED_LIMIT, r.low_speed_limit);
    set(e, CURLOPT_LOW_SPEED_TIME,
        std::max(1L, static_cast<long>(std::chrono::ceil<std::chrono::seconds>(r.low_speed_time).count())));
  }
  for (const auto& entry : r.resolve) {
    curl_slist* next = curl_slist_append(t.resolve, entry.c_str());
    if (!next) throw std::bad_alloc();
    t.resolve = next;
  }
  if (t.resolve) set(e, CURLOPT_RESOLVE, t.resolve);
  const bool tls = is_https(r.url);
  switch (r.version) {
    case Version::automatic:
      set(e, CURLOPT_HTTP_VERSION, static_cast<long>(CURL_HTTP_VERSION_2TLS));
      break;
    case Version::http1_1:
      set(e, CURLOPT_HTTP_VERSION, static_cast<long>(CURL_HTTP_VERSION_1_1));
      break;
    case Version::http2:
      set(e, CURLOPT_HTTP_VERSION, static_cast<long>(CURL_HTTP_VERSION_2_0));
      break;
  }
  // Wait for a connection that may multiplex rather than opening a new one.
  if (r.version != Version::http1_1 && (tls || r.version == Version::http2)) set(e, CURLOPT_PIPEWAIT, 1L);
  if (!r.ca_file.empty()) set(e, CURLOPT_CAINFO, r.ca_file.c_str());
  if (!r.verify_tls) {
    set(e, CURLOPT_SSL_VERIFYPEER, 0L);
    set(e, CURLOPT_SSL_VERIFYHOST, 0L);
  }
  if (!r.user_agent.empty()) set(e, CURLOPT_USERAGENT, r.user_agent.c_str());
  for (const auto& h : r.headers) {
    curl_slist* next = curl_slist_append(t.headers, h.c_str());
    if (!next) throw std::bad_alloc();
    t.headers = next;
  }
  if (t.headers) set(e, CURLOPT_HTTPHEADER, t.headers);
  if (r.data) {
    set(e, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(r.data->size()));
    set(e, CURLOPT_POSTFIELDS, r.data->data());
  }
  if (!r.method.empty()) {
    if (strcasecmp(r.method.c_str(), "HEAD") == 0)
      set(e, CURLOPT_NOBODY, 1L);
    else
      set(e, CURLOPT_CUSTOMREQUEST, r.method.c_str());
  }
  // Bigger reads mean fewer callbacks for big bodies.
  set(e, CURLOPT_BUFFERSIZE, 64L * 1024);
}

Duration micros(CURL* e, CURLINFO what) {
  curl_off_t v = 0;
  curl_easy_getinfo(e, what, &v);
  return std::chrono::microseconds(v);
}

void collect(Transfer& t) {
  CURL* e = t.easy;
  Response& r = *t.res;
  curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &r.status);
  const char* url = nullptr;
  if (curl_easy_getinfo(e, CURLINFO_EFFECTIVE_URL, &url) == CURLE_OK && url) r.url = url;
  curl_easy_getinfo(e, CURLINFO_REDIRECT_COUNT, &r.redirects);
  long v = 0;
  curl_easy_getinfo(e, CURLINFO_HTTP_VERSION, &v);
  switch (v) {
    case CURL_HTTP_VERSION_1_0:
      r.http_version = "1.0";
      break;
    case CURL_HTTP_VERSION_1_1:
      r.http_version = "1.1";
      break;
    case CURL_HTTP_VERSION_2_0:
      r.http_version = "2";
      break;
    case CURL_HTTP_VERSION_3:
      r.http_version = "3";
      break;
    default:
      r.http_version.clear();
      break;
  }
  r.timings.name_lookup = micros(e, CURLINFO_NAMELOOKUP_TIME_T);
  r.timings.connect = micros(e, CURLINFO_CONNECT_TIME_T);
  r.timings.tls_handshake = micros(e, CURLINFO_APPCONNECT_TIME_T);
  r.timings.first_byte = micros(e, CURLINFO_STARTTRANSFER_TIME_T);
  r.timings.total = micros(e, CURLINFO_TOTAL_TIME_T);
  curl_off_t retry = -1;
  if (curl_easy_getinfo(e, CURLINFO_RETRY_AFTER, &retry) == CURLE_OK && retry > 0) {
    r.retry_after = std::chrono::seconds(retry);
  }
}

class CurlCategory : public std::error_category {
 public:
  const char* name() const noexcept override { return "curl"; }
  std::string message(int code) const override { return curl_easy_strerror(static_cast<CURLcode>(code)); }
};

}  // namespace

const std::error_category& error_category() noexcept {
  static const CurlCategory category;
  return category;
}

ErrorClass classify(const std::error_code& ec) noexcept {
  if (!ec) return ErrorClass::none;
  if (ec.category() != error_category()) return ErrorClass::other;
  switch (static_cast<CURLcode>(ec.value())) {
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
    case CURLE_COULDNT_CONNECT:
      return ErrorClass::connect;
    case CURLE_OPERATION_TIMEDOUT:
      return ErrorClass::timeout;
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CIPHER:
    case CURLE_SSL_ISSUER_ERROR:
    case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
    case CURLE_SSL_INVALIDCERTSTATUS:
      return ErrorClass::tls;
    case CURLE_GOT_NOTHING:
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_PARTIAL_FILE:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
    case CURLE_WEIRD_SERVER_REPLY:
      return ErrorClass::protocol;
    case CURLE_WRITE_ERROR:
      return ErrorClass::write;
    default:
      return ErrorClass::other;
  }
}

std::optional<std::string_view> Response::header(std::string_view name) const {
  for (const auto& h : headers) {
    if (h.name.size() == name.size() && strncasecmp(h.name.data(), name.data(), name.size()) == 0) {
      return std::string_view(h.value);
    }
  }
  return std::nullopt;
}

namespace {
std::string stall_reason(const Request& r) {
  const auto secs =
      std::to_string(std::max<long long>(1, std::chrono::ceil<std::chrono::seconds>(r.low_speed_time).count()));
  if (r.low_speed_limit <= 1) return "stalled: no data for " + secs + " s";
  return "stalled: less than " + std::to_string(r.low_speed_limit) + " bytes/s for " + secs + " s";
}
}  // namespace

Response fetch(const Request& req, std::error_code& ec) {
  Multi& m = multi();
  Response res;
  Transfer t;
  t.req = &req;
  t.res = &res;
  t.easy = m.take_easy();
  struct Cleanup {
    Multi& m;
    Transfer& t;
    ~Cleanup() {
      if (t.headers) curl_slist_free_all(t.headers);
      if (t.resolve) curl_slist_free_all(t.resolve);
      if (t.file_fd >= 0) ::close(t.file_fd);
      m.give_easy(t.easy);
    }
  } cleanup{m, t};
  configure(m, t);

  auto [rc] = green::await_op<CURLcode>(
      [&](auto handler) {
        t.done = std::move(handler);
        m.start(t);
      },
      [&] { m.abort(t); });

  collect(t);
  if (rc == CURLE_OK && req.sink.kind == Sink::Kind::file && !open_file(t)) rc = CURLE_WRITE_ERROR;
  if (rc == CURLE_OK) {
    ec.clear();
    return res;
  }
  ec = std::error_code(static_cast<int>(rc), error_category());
  if (!t.write_error.empty())
    res.error = t.write_error;
  else if (rc == CURLE_OPERATION_TIMEDOUT && std::strncmp(t.errbuf, "Operation too slow", 18) == 0)
    res.error = stall_reason(req);
  else if (t.errbuf[0])
    res.error = t.errbuf;
  else
    res.error = curl_easy_strerror(rc);
  return res;
}

Response fetch(const Request& req) {
  std::error_code ec;
  Response res = fetch(req, ec);
  if (ec) {
    std::string what = res.error;
    throw Error(ec, what, std::move(res));
  }
  return res;
}

void set_pool_limits(const PoolLimits& limits) {
  CURLM* h = multi().handle();
  if (limits.max_host_connections > 0) curl_multi_setopt(h, CURLMOPT_MAX_HOST_CONNECTIONS, limits.max_host_connections);
  if (limits.max_total_connections > 0)
    curl_multi_setopt(h, CURLMOPT_MAX_TOTAL_CONNECTIONS, limits.max_total_connections);
  if (limits.max_cached_connections > 0) curl_multi_setopt(h, CURLMOPT_MAXCONNECTS, limits.max_cached_connections);
  if (limits.max_concurrent_streams > 0) {
    curl_multi_setopt(h, CURLMOPT_MAX_CONCURRENT_STREAMS, limits.max_concurrent_streams);
  }
}

Stats stats() { return multi().stats(); }

std::string curl_version() {
  global_init();
  return ::curl_version();
}

}  // namespace green::http
