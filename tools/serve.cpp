// `green serve echo|chat`: the seeds' first and last examples (gevent's
// StreamServer echo server and its chat server), as servers that stay up.
//
// echo: one greenlet per connection copies bytes back as they arrive.
// chat: the seed's design -- per user a reader (the connection's greenlet), a
// writer greenlet and an outgoing queue; a broadcast puts one shared message
// on every user's queue and never waits, so a slow reader only ever delays
// itself. Its queue is bounded in bytes: past the bound the user is
// disconnected and the room goes on.
#include "common/chat_text.hpp"
#include "common/duration.hpp"
#include "common/output.hpp"
#include "common/subcommand.hpp"

#include <green/green.hpp>
#include <green/net.hpp>

#include <CLI/CLI.hpp>

#include <boost/asio/post.hpp>

#include <atomic>
#include <csignal>
#include <cstdio>
#include <deque>
#include <future>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <vector>

namespace green::tools {

namespace {

using namespace std::chrono_literals;
using green::net::StreamServer;
using green::net::TcpStream;

// ---- shared helpers ------------------------------------------------------------

std::string peer_ip(const TcpStream& s) { return s.remote_endpoint().address().to_string(); }

struct ServerCommon {
  std::string host = "127.0.0.1";
  std::uint16_t port = 0;
  std::size_t max_clients = 0;
  bool verbose = false;
};

net::address host_or_usage_error(const std::string& host) {
  std::error_code ec;
  auto a = net::parse_address(host, ec);
  if (ec) throw UsageError("--host: cannot use '" + host + "': give a numeric IPv4/IPv6 address or localhost");
  return a;
}

void announce(const net::Tcp::endpoint& ep) {
  std::fprintf(stderr, "listening on %s\n", net::to_string(ep).c_str());
  std::fflush(stderr);
}

// How a server's life ended: SIGTERM (or none) is the normal stop of a
// service, so 0; SIGINT is an interrupted run, 130 as for every green tool.
int exit_status(int stop_signal) { return stop_signal == SIGINT ? kExitInterrupted : kExitOk; }

// ---- echo ------------------------------------------------------------------------

struct EchoOptions : ServerCommon {
  Duration idle_timeout = Duration::zero();
  unsigned threads = 1;
};

// Shared by every hub of `serve echo --threads N`, for the summary.
struct EchoStats {
  std::atomic<std::uint64_t> connections{0};
  std::atomic<std::uint64_t> bytes{0};
  std::atomic<int> stop_signal{0};
};

class EchoServer {
 public:
  EchoServer(const EchoOptions& opt, EchoStats& stats, Duration idle, const net::Tcp::endpoint& ep, bool reuse_port)
      : opt_(opt),
        stats_(stats),
        idle_(idle),
        server_(
            ep, [this](TcpStream& s) { handle(s); }, options(opt, reuse_port)) {}

  net::Tcp::endpoint local_endpoint() const { return server_.local_endpoint(); }

  // Serves until SIGINT/SIGTERM.
  void run() {
    green::SignalHandler signals({SIGINT, SIGTERM}, [this](int sig) {
      if (opt_.verbose) diag_line(std::string("caught ") + (sig == SIGINT ? "SIGINT" : "SIGTERM") + ", stopping");
      int none = 0;
      stats_.stop_signal.compare_exchange_strong(none, sig);
      server_.stop();
    });
    server_.serve_forever();
  }

  void stop() { server_.stop(); }

 private:
  static net::StreamServerOptions options(const EchoOptions& opt, bool reuse_port) {
    net::StreamServerOptions o;
    o.max_connections = opt.max_clients;
    o.reject_when_full = true;
    o.reuse_port = reuse_port;
    if (opt.verbose) {
      o.on_error = [](const net::Tcp::endpoint& peer, std::exception_ptr e) {
        try {
          std::rethrow_exception(e);
        } catch (const std::exception& ex) {
          diag_line(net::to_string(peer) + ": " + ex.what());
        } catch (...) {
          diag_line(net::to_string(peer) + ": unknown error");
        }
      };
    }
    return o;
  }

  void handle(TcpStream& s) {
    const std::string who = opt_.verbose ? net::to_string(s.remote_endpoint()) : std::string();
    ++stats_.connections;
    if (opt_.verbose) diag_line("connect " + who + " (" + std::to_string(server_.connections()) + " clients)");
    std::error_code ec;
    s.set_nodelay(true, ec);
    std::uint64_t bytes = 0;
    // Into the summary even when a stop kills this greenlet mid-loop.
    struct Tally {
      std::atomic<std::uint64_t>& total;
      const std::uint64_t& n;
      ~Tally() { total += n; }
    } tally{stats_.bytes, bytes};
    const char* why = "closed by peer";
    // Reads go into one buffer per hub (thread) shared by every connection:
    // a connection uses it only from try_read() to the try_write() after it,
    // with no switch in between. A connection waiting for its peer holds no
    // buffer (wait_readable() reads nothing), so an idle one costs little more
    // than its greenlet's top stack page. Bytes the peer does not take at once
    // go to a buffer of the connection's own, freed once written.
    // (Allocated on first use: as a thread_local array it would be 64 KiB
    // of TLS set up for every thread the process starts, pool threads too.)
    constexpr std::size_t kShared = 64 * 1024;
    static thread_local std::unique_ptr<char[]> shared_buf;
    if (!shared_buf) shared_buf = std::make_unique_for_overwrite<char[]>(kShared);
    const std::span<char> shared(shared_buf.get(), kShared);
    // Whether to wait before reading. Request/response traffic (a read after a
    // wait came back short) waits first, so no recv is wasted on an empty
    // socket; streaming traffic (a read filled the buffer) reads until the
    // socket is empty, yielding now and then so one peer cannot starve the rest.
    bool wait_first = true;
    unsigned streak = 0;
    for (;;) {
      if (wait_first) {
        streak = 0;
        if (idle_ > Duration::zero()) {
          bool idle = false;
          green::Timeout limit(idle_);
          try {
            s.wait_readable(ec);
          } catch (const green::Timeout& t) {
            if (!(t == limit)) throw;
            idle = true;
          }
          if (idle) {
            why = "idle timeout";
            break;
          }
        } else {
          s.wait_readable(ec);
        }
        if (ec) {
          why = "read error";
          break;
        }
      } else if (++streak == 16) {
        streak = 0;
        green::sleep(Duration::zero());
      }
      const std::size_t n = s.try_read(shared, ec);
      if (ec == std::errc::operation_would_block) {
        wait_first = true;
        continue;
      }
      if (ec) {
        why = "read error";
        break;
      }
      if (n == 0) break;
      if (wait_first) wait_first = n < kShared;
      const std::size_t sent = s.try_write(std::string_view(shared.data(), n), ec);
      if (!ec && sent < n) {
        const std::string rest(shared.data() + sent, n - sent);
        s.write_all(rest, ec);
      }
      if (ec) {
        why = "write error";
        break;
      }
      bytes += n;
    }
    if (opt_.verbose) {
      diag_line("disconnect " + who + ": " + why + (ec ? " (" + ec.message() + ")" : std::string()) + ", " +
                std::to_string(bytes) + " bytes echoed");
    }
  }

  const EchoOptions& opt_;
  EchoStats& stats_;
  Duration idle_;
  StreamServer server_;
};

int run_echo(const EchoOptions& opt) {
  net::raise_open_files_limit();
  net::ignore_sigpipe();
  const auto addr = host_or_usage_error(opt.host);
  const Duration idle = opt.idle_timeout;
  const bool reuse_port = opt.threads > 1;
  EchoStats stats;
  const auto start = Clock::now();
  try {
    return green::run([&] {
      EchoServer first(opt, stats, idle, net::Tcp::endpoint(addr, opt.port), reuse_port);
      const auto bound = first.local_endpoint();
      // Extra hubs: one thread each, its own listener on the same port
      // (SO_REUSEPORT lets the kernel spread connections between them).
      // Each hub stops on SIGINT/SIGTERM by itself (every hub's signal set
      // sees the signal).
      struct Started {
        boost::asio::io_context* io;
        EchoServer* server;
      };
      std::vector<std::thread> threads;
      std::vector<std::future<Started>> ready;
      for (unsigned i = 1; i < opt.threads; ++i) {
        auto promise = std::make_shared<std::promise<Started>>();
        ready.push_back(promise->get_future());
        threads.emplace_back([&opt, &stats, idle, bound, promise] {
          try {
            green::run([&] {
              EchoServer server(opt, stats, idle, bound, true);
              promise->set_value(Started{&green::io_context(), &server});
              server.run();
            });
          } catch (...) {
            try {
              promise->set_exception(std::current_exception());
            } catch (const std::future_error&) {
              // already started: the error came later and ends only this hub
            }
          }
        });
      }
      std::vector<Started> started;
      std::string failure;
      for (auto& f : ready) {
        try {
          started.push_back(f.get());  // blocks this thread briefly, before any client is served
        } catch (const std::exception& e) {
          if (failure.empty()) failure = e.what();
        }
      }
      if (!failure.empty()) {
        diag_line("cannot start a server thread: " + failure, Severity::error);
        for (const Started& s : started) {
          // Runs on that hub; a posted callback may spawn but not switch.
          boost::asio::post(*s.io, [srv = s.server] { green::spawn([srv] { srv->stop(); }); });
        }
        for (auto& t : threads) t.join();
        return kExitFailure;
      }
      announce(bound);
      first.run();
      for (auto& t : threads) t.join();
      diag("{} connection{}, {} echoed in {:.1f} s", stats.connections.load(), stats.connections == 1 ? "" : "s",
           human_bytes(stats.bytes), seconds_since(start));
      return exit_status(stats.stop_signal);
    });
  } catch (const std::system_error& e) {
    diag_line(e.what(), Severity::error);
    return kExitFailure;
  }
}

// ---- chat ------------------------------------------------------------------------

constexpr std::size_t kMaxLine = 4096;
constexpr std::string_view kPrompt = "Please enter your name: ";
constexpr std::string_view kTaken = "That username is already taken.\n";
constexpr std::string_view kBadName = "Names are 1-32 printable characters without spaces.\n";
constexpr std::string_view kShutdown = "## server shutting down\n";
constexpr std::string_view kTooSlow = "## disconnected: you are not reading fast enough\n";

struct ChatOptions : ServerCommon {
  std::size_t queue_limit = 1024 * 1024;
};

using Msg = std::shared_ptr<const std::string>;

Msg make_msg(std::string s) { return std::make_shared<const std::string>(std::move(s)); }

using chat::sanitize;
using chat::strip;
using chat::valid_name;

struct Conn {
  explicit Conn(TcpStream&& s) : stream(std::move(s)), ip(peer_ip(stream)) {}
  TcpStream stream;
  std::string ip;
  std::string name;  // empty until it joined
  green::Queue<Msg> out;
  std::size_t queued_bytes = 0;  // in `out` plus the batch being written
  std::uint64_t seq = 0;
  bool dropped = false;
  bool writing = false;
};

class ChatRoom {
 public:
  ChatRoom(const ChatOptions& opt, const net::Tcp::endpoint& ep)
      : opt_(opt),
        server_(
            ep, [this](TcpStream& s) { handle(s); }, options(opt)) {}

  net::Tcp::endpoint local_endpoint() const { return server_.local_endpoint(); }

  // Serves until SIGINT/SIGTERM; returns the exit status.
  int run() {
    const auto start = Clock::now();
    green::SignalHandler signals({SIGINT, SIGTERM}, [this](int sig) {
      if (!stop_signal_) stop_signal_ = sig;
      shutdown();
    });
    announce(server_.local_endpoint());
    server_.serve_forever();
    writers_.kill();
    diag("{} connection{}, {} joined, {} message{} in {:.1f} s", server_.accepted(), server_.accepted() == 1 ? "" : "s",
         joins_, messages_, messages_ == 1 ? "" : "s", seconds_since(start));
    return exit_status(stop_signal_);
  }

 private:
  static net::StreamServerOptions options(const ChatOptions& opt) {
    net::StreamServerOptions o;
    o.max_connections = opt.max_clients;
    o.reject_when_full = true;
    o.full_message = "## server full, try again later\n";
    return o;
  }

  // Everyone (named or not) gets the notice; queues close, so writers flush
  // and close their sockets, which ends the readers.
  void shutdown() {
    if (stopping_) return;
    stopping_ = true;
    server_.stop_accepting();
    auto note = make_msg(std::string(kShutdown));
    for (auto& [seq, c] : conns_) {
      if (!c->out.closed()) {
        c->out.put_nowait(note);
        c->out.close();
      }
    }
    server_.stop(2s);
  }

  // Never switches: a slow user is dropped, never waited for.
  void deliver(Conn& c, const Msg& m) {
    if (c.dropped || c.out.closed()) return;
    if (c.queued_bytes + m->size() > opt_.queue_limit) {
      drop(c);
      return;
    }
    c.queued_bytes += m->size();
    c.out.put_nowait(m);
  }

  void drop(Conn& c) {
    c.dropped = true;
    diag_line((c.name.empty() ? c.ip : c.name) + " disconnected: more than " + std::to_string(opt_.queue_limit) +
                  " bytes waiting to be sent",
              Severity::warning);
    // The notice only goes out if it cannot land inside a half-written line.
    if (!c.writing) {
      std::error_code ec;
      c.stream.try_write(kTooSlow, ec);
    }
    c.out.close();
    c.stream.close();  // ends the reader and the writer
  }

  void broadcast(const Msg& m) {
    for (auto& [seq, c] : members_) deliver(*c, m);
  }

  void writer(const std::shared_ptr<Conn>& c) {
    std::string batch;
    bool stalled = false;
    while (auto m = c->out.next()) {
      batch.assign(**m);
      while (!c->out.empty() && batch.size() < 64 * 1024) batch += *c->out.get_nowait();
      std::error_code ec;
      c->writing = true;
      {
        green::Timeout limit(60s);  // a peer that takes nothing for a minute is gone
        try {
          c->stream.write_all(batch, ec);
        } catch (const green::Timeout& t) {
          if (!(t == limit)) throw;
          stalled = true;
        }
      }
      c->writing = false;
      c->queued_bytes -= std::min(c->queued_bytes, batch.size());
      if (ec || stalled) break;
    }
    std::error_code ignored;
    c->stream.shutdown_write(ignored);
    c->stream.close();
    c->out.close();
  }

  // Reads one line of at most kMaxLine bytes; the rest of a longer line is
  // discarded. Returns false at end of stream with nothing read.
  static bool read_message(Conn& c, std::string& line) {
    line = c.stream.read_line(kMaxLine + 1);
    if (line.empty()) return false;
    if (line.size() > kMaxLine && line.back() != '\n') {
      line.resize(kMaxLine);
      for (;;) {  // skip to the end of this line
        std::string rest = c.stream.read_line(kMaxLine);
        if (rest.empty() || rest.back() == '\n') break;
      }
    }
    return true;
  }

  // The seed's read_name: prompt until a free, valid name arrives.
  bool read_name(Conn& c) {
    std::string line;
    for (;;) {
      deliver(c, prompt_);
      if (!read_message(c, line)) return false;
      const std::string_view name = strip(line);
      if (name.empty()) continue;
      if (!valid_name(name)) {
        deliver(c, bad_name_);
        continue;
      }
      if (names_.count(std::string(name))) {
        deliver(c, taken_);
        continue;
      }
      c.name = name;
      return true;
    }
  }

  void who(Conn& c) {
    std::string s = "## " + std::to_string(members_.size()) + (members_.size() == 1 ? " user: " : " users: ");
    bool first = true;
    for (auto& [seq, m] : members_) {
      if (!first) s += ", ";
      s += m->name;
      first = false;
    }
    s += '\n';
    deliver(c, make_msg(std::move(s)));
  }

  void handle(TcpStream& s) {
    auto c = std::make_shared<Conn>(std::move(s));
    c->seq = ++next_seq_;
    if (stopping_) return;
    conns_.emplace(c->seq, c);
    writers_.spawn([this, c] { writer(c); });
    bool joined = false;
    // Leaving never switches, so it is safe in a destructor while a kill
    // unwinds this greenlet.
    struct Leave {
      ChatRoom& room;
      std::shared_ptr<Conn>& c;
      bool& joined;
      ~Leave() {
        room.conns_.erase(c->seq);
        if (joined) {
          room.members_.erase(c->seq);
          room.names_.erase(c->name);
          if (room.opt_.verbose) room.log_event(c->name + " left");
          room.broadcast(make_msg("## " + c->name + " left the chat.\n"));
        }
        c->out.close();
      }
    } leave{*this, c, joined};

    std::error_code ec;
    if (!read_name(*c)) return;
    // The seed announces before adding the user: only those already in hear it.
    broadcast(make_msg("## " + c->name + " joined from " + c->ip + ".\n"));
    members_.emplace(c->seq, c.get());
    names_.emplace(c->name, c.get());
    joined = true;
    ++joins_;
    if (opt_.verbose) log_event(c->name + " joined from " + c->ip);

    std::string line;
    while (read_message(*c, line)) {
      const std::string_view text = strip(line);
      if (text == "/quit") break;
      if (text == "/who") {
        who(*c);
        continue;
      }
      std::string msg;
      msg.reserve(c->name.size() + text.size() + 4);
      msg += c->name;
      msg += "> ";
      msg += sanitize(text);
      msg += '\n';
      broadcast(make_msg(std::move(msg)));
      ++messages_;
    }
  }

  void log_event(const std::string& what) {
    diag_line(what + " (" + std::to_string(members_.size()) + " in the room)");
  }

  const ChatOptions& opt_;
  StreamServer server_;
  green::Group writers_;
  std::map<std::uint64_t, std::shared_ptr<Conn>> conns_;  // every connection
  std::map<std::uint64_t, Conn*> members_;                // named users, in join order
  std::unordered_map<std::string, Conn*> names_;
  std::uint64_t next_seq_ = 0;
  std::uint64_t joins_ = 0;
  std::uint64_t messages_ = 0;
  int stop_signal_ = 0;
  bool stopping_ = false;
  const Msg prompt_ = make_msg(std::string(kPrompt));
  const Msg taken_ = make_msg(std::string(kTaken));
  const Msg bad_name_ = make_msg(std::string(kBadName));
};

int run_chat(const ChatOptions& opt) {
  net::raise_open_files_limit();
  net::ignore_sigpipe();
  const auto addr = host_or_usage_error(opt.host);
  try {
    return green::run([&] {
      ChatRoom room(opt, net::Tcp::endpoint(addr, opt.port));
      return room.run();
    });
  } catch (const std::system_error& e) {
    diag_line(e.what(), Severity::error);
    return kExitFailure;
  }
}

struct ServeOptions {
  std::string mode;
  std::string host = "127.0.0.1";
  int port = -1;  // -1: the mode's default (echo 8000, chat 8001, as in the seeds)
  std::size_t max_clients = 0;
  bool verbose = false;
  Duration idle_timeout = Duration::zero();
  unsigned threads = 1;
  std::size_t queue_limit = 1024 * 1024;
  bool echo_only_given = false;
  bool chat_only_given = false;
};

int run_serve(const ServeOptions& o) {
  set_tool_name("serve " + o.mode);
  if (o.mode == "echo" && o.chat_only_given) throw UsageError("--queue-limit applies to 'serve chat' only");
  if (o.mode == "chat" && o.echo_only_given)
    throw UsageError("--idle-timeout and --threads apply to 'serve echo' only");
  if (o.mode == "echo") {
    EchoOptions e;
    e.host = o.host;
    e.port = static_cast<std::uint16_t>(o.port < 0 ? 8000 : o.port);
    e.max_clients = o.max_clients;
    e.verbose = o.verbose;
    e.idle_timeout = o.idle_timeout;
    e.threads = o.threads;
    return run_echo(e);
  }
  ChatOptions c;
  c.host = o.host;
  c.port = static_cast<std::uint16_t>(o.port < 0 ? 8001 : o.port);
  c.max_clients = o.max_clients;
  c.verbose = o.verbose;
  c.queue_limit = o.queue_limit;
  return run_chat(c);
}

}  // namespace

void setup_serve(CLI::App& app, int& status) {
  auto o = std::make_shared<ServeOptions>();
  CLI::App* sub = app.add_subcommand("serve", "Run a server: echo or chat (the gevent seeds' servers)");
  sub->add_option("MODE", o->mode, "echo: send back every byte each client sends; chat: the seeds' chat room")
      ->required()
      ->check(CLI::IsMember({"echo", "chat"}));
  sub->add_option("--host", o->host, "Address to listen on: numeric IPv4/IPv6 or localhost (0.0.0.0 or :: for all)")
      ->capture_default_str();
  sub->add_option("-p,--port", o->port, "TCP port (default 8000 for echo, 8001 for chat); 0 picks a free one")
      ->check(CLI::Range(0, 65535));
  sub->add_option("--max-clients", o->max_clients,
                  "Most clients at once (0: no limit); more are accepted and closed at once")
      ->capture_default_str();
  sub->add_flag("-v,--verbose", o->verbose, "Log connects, disconnects and joins on stderr");
  add_duration_option(sub, "--idle-timeout", o->idle_timeout,
                      "echo: close a connection that sends nothing for this long (default: never)")
      ->each([o](const std::string&) { o->echo_only_given = true; });
  sub->add_option("--threads", o->threads,
                  "echo: hubs (threads) sharing the port with SO_REUSEPORT; the kernel spreads clients over them")
      ->capture_default_str()
      ->check(CLI::Range(1u, 256u))
      ->each([o](const std::string&) { o->echo_only_given = true; });
  sub->add_option("--queue-limit", o->queue_limit,
                  "chat: bytes that may wait to be sent to one user; a user further behind is disconnected")
      ->capture_default_str()
      ->check(CLI::Range(std::size_t{4096}, std::size_t{1} << 32))
      ->each([o](const std::string&) { o->chat_only_given = true; });
  sub->footer(
      "The server prints 'listening on HOST:PORT' on stderr once bound. SIGTERM or SIGINT stops it\n"
      "cleanly and prints a summary on stderr. Exit status: 0 after SIGTERM (a service's normal stop),\n"
      "130 after SIGINT (an interrupted run, as for every green tool), 1 if it cannot listen, 2 on\n"
      "usage errors.\n"
      "\n"
      "echo sends back exactly the bytes each client sends (binary-safe), one greenlet per client.\n"
      "\n"
      "chat speaks the gevent seed's protocol byte for byte: the server sends 'Please enter your name: ';\n"
      "an empty name asks again, a taken one gets 'That username is already taken.' and asks again.\n"
      "Everyone already in gets '## NAME joined from IP.'; each line a user sends reaches every user,\n"
      "the sender too, as 'NAME> line'; '## NAME left the chat.' when a user leaves.\n"
      "Names are 1-32 printable characters without spaces. Commands: /who lists the users, /quit leaves.\n"
      "Lines are stripped of surrounding whitespace (as the seed does). Lines longer than 4096 bytes are\n"
      "cut to their first 4096 bytes and the rest of the line is dropped; invalid UTF-8 and control\n"
      "characters other than tab become U+FFFD. A user with more than --queue-limit bytes waiting is\n"
      "disconnected. SIGINT/SIGTERM: everyone gets '## server shutting down', then the server stops.");
  sub->final_callback([o, &status] { status = run_serve(*o); });
}

GREEN_SUBCOMMAND(serve, setup_serve);

}  // namespace green::tools
