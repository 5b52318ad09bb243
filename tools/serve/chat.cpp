// `green serve chat`: the seeds' chat server as a server that stays up, with
// rooms (the third seed's web chat has them) and a backlog of each room's last
// messages for whoever joins it.
//
// The seed's design -- per user a reader (the connection's greenlet), a
// writer greenlet and an outgoing queue; a broadcast puts one shared message
// on every user's queue and never waits, so a slow reader only ever delays
// itself. Its queue is bounded in bytes: past the bound the user is
// disconnected and the room goes on. What a line may contain is
// common/chat_text.hpp.
#include "common/chat_text.hpp"
#include "common/output.hpp"
#include "serve/frame.hpp"

#include <green/green.hpp>
#include <green/net.hpp>

#include <atomic>
#include <deque>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>

namespace green::tools::serve {

namespace {

using namespace std::chrono_literals;
using chat::cut_line;
using chat::kMaxLine;
using chat::sanitize;
using chat::strip;
using chat::valid_name;
using green::net::StreamServer;
using green::net::TcpStream;

constexpr std::string_view kPrompt = "Please enter your name: ";
constexpr std::string_view kTaken = "That username is already taken.\n";
constexpr std::string_view kBadName = "Names are 1-32 printable characters without spaces.\n";
constexpr std::string_view kShutdown = "## server shutting down\n";
constexpr std::string_view kTooSlow = "## disconnected: you are not reading fast enough\n";
constexpr std::string_view kBadRoom = "## room names are 1-32 printable characters without spaces\n";
constexpr std::string_view kTooManyRooms = "## too many rooms\n";
constexpr std::string_view kLobby = "lobby";
// Rooms live on while they hold a backlog; this bounds what users can make
// the server keep.
constexpr std::size_t kMaxRooms = 1000;
// Backlog lines start with this (a name has no space, so no live line does).
constexpr std::string_view kBacklogMark = "~ ";

using Msg = std::shared_ptr<const std::string>;

Msg make_msg(std::string s) { return std::make_shared<const std::string>(std::move(s)); }

struct Conn {
  explicit Conn(TcpStream&& s) : stream(std::move(s)), ip(stream.remote_endpoint().address().to_string()) {}
  TcpStream stream;
  std::string ip;
  std::string name;  // empty until it joined
  struct Room* room = nullptr;
  green::Queue<Msg> out;
  std::size_t queued_bytes = 0;  // in `out` plus the batch being written
  std::uint64_t seq = 0;
  bool dropped = false;
  bool writing = false;
};

struct Room {
  std::map<std::uint64_t, Conn*> members;  // in join order
  std::deque<Msg> backlog;                 // marked, oldest first
};

class ChatRoom {
 public:
  ChatRoom(const ChatOptions& opt, const net::Tcp::endpoint& ep)
      : opt_(opt),
        rooms_{{std::string(kLobby), Room{}}},
        server_(
            ep, [this](TcpStream& s) { handle(s); }, options(opt)) {}

  net::Tcp::endpoint local_endpoint() const { return server_.local_endpoint(); }

  // Serves until SIGINT/SIGTERM; returns the exit status.
  int run() {
    const auto start = Clock::now();
    StopSignals signals(stop_signal_, false, [this](int) { shutdown(); });
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

  void broadcast(Room& r, const Msg& m) {
    for (auto& [seq, c] : r.members) deliver(*c, m);
  }

  // The seed announces before adding the user: only those already in hear it.
  void enter(Conn& c, Room& r) {
    broadcast(r, make_msg("## " + c.name + " joined from " + c.ip + ".\n"));
    r.members.emplace(c.seq, &c);
    c.room = &r;
    for (const Msg& m : r.backlog) deliver(c, m);
  }

  // Never switches. An empty room without a backlog is forgotten.
  void leave_room(Conn& c, const std::string& notice) {
    Room* r = c.room;
    if (!r) return;
    r->members.erase(c.seq);
    c.room = nullptr;
    broadcast(*r, make_msg(notice));
    if (r->members.empty() && r->backlog.empty()) {
      for (auto it = rooms_.begin(); it != rooms_.end(); ++it) {
        if (&it->second == r && it->first != kLobby) {
          rooms_.erase(it);
          break;
        }
      }
    }
  }

  void say(Conn& c, std::string_view text) {
    std::string msg;
    msg.reserve(c.name.size() + text.size() + 4);
    msg += c.name;
    msg += "> ";
    msg += sanitize(text);
    msg += '\n';
    Msg m = make_msg(std::move(msg));
    broadcast(*c.room, m);
    ++messages_;
    if (opt_.backlog == 0) return;
    c.room->backlog.push_back(make_msg(std::string(kBacklogMark) + *m));
    if (c.room->backlog.size() > opt_.backlog) c.room->backlog.pop_front();
  }

  void join_room(Conn& c, std::string_view name) {
    if (!valid_name(name)) return deliver(c, make_msg(std::string(kBadRoom)));
    const std::string room(name);
    auto it = rooms_.find(room);
    if (it == rooms_.end()) {
      if (rooms_.size() >= kMaxRooms) return deliver(c, make_msg(std::string(kTooManyRooms)));
      it = rooms_.emplace(room, Room{}).first;
    }
    if (c.room != &it->second) {
      leave_room(c, "## " + c.name + " went to " + room + ".\n");
      it = rooms_.find(room);  // still there: it was not c's room
      deliver(c, make_msg("## you are in " + room + ".\n"));
      enter(c, it->second);
    } else {
      deliver(c, make_msg("## you are in " + room + ".\n"));
    }
  }

  void list_rooms(Conn& c) {
    std::string s = "## rooms:";
    bool first = true;
    for (auto& [name, r] : rooms_) {
      s += first ? " " : ", ";
      s += name + " (" + std::to_string(r.members.size()) + ")";
      first = false;
    }
    s += '\n';
    deliver(c, make_msg(std::move(s)));
  }

  // One line a user sent. Returns false for /quit.
  bool handle_text(Conn& c, std::string_view text) {
    if (text == "/quit") return false;
    if (text == "/who") {
      who(c);
    } else if (text == "/rooms") {
      list_rooms(c);
    } else if (text.substr(0, 6) == "/join " || text == "/join") {
      join_room(c, strip(text.substr(std::min<std::size_t>(text.size(), 6))));
    } else {
      say(c, text);
    }
    return true;
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
    if (cut_line(line)) {
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
    const auto& members = c.room->members;
    std::string s = "## " + std::to_string(members.size()) + (members.size() == 1 ? " user: " : " users: ");
    bool first = true;
    for (auto& [seq, m] : members) {
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
          room.names_.erase(c->name);
          if (room.opt_.verbose) room.log_event(c->name + " left");
          room.leave_room(*c, "## " + c->name + " left the chat.\n");
        }
        c->out.close();
      }
    } leave{*this, c, joined};

    std::error_code ec;
    if (!read_name(*c)) return;
    enter(*c, rooms_.at(std::string(kLobby)));
    names_.emplace(c->name, c.get());
    joined = true;
    ++joins_;
    if (opt_.verbose) log_event(c->name + " joined from " + c->ip);

    std::string line;
    while (read_message(*c, line)) {
      if (!handle_text(*c, strip(line))) break;
    }
  }

  void log_event(const std::string& what) {
    diag_line(what + " (" + std::to_string(names_.size()) + " in the chat)");
  }

  const ChatOptions& opt_;
  std::map<std::string, Room, std::less<>> rooms_;  // by name: /rooms lists them sorted
  StreamServer server_;
  green::Group writers_;
  std::map<std::uint64_t, std::shared_ptr<Conn>> conns_;  // every connection
  std::unordered_map<std::string, Conn*> names_;
  std::uint64_t next_seq_ = 0;
  std::uint64_t joins_ = 0;
  std::uint64_t messages_ = 0;
  std::atomic<int> stop_signal_{0};
  bool stopping_ = false;
  const Msg prompt_ = make_msg(std::string(kPrompt));
  const Msg taken_ = make_msg(std::string(kTaken));
  const Msg bad_name_ = make_msg(std::string(kBadName));
};

}  // namespace

int run_chat(const ChatOptions& opt) {
  return serve_on_hub(opt, [&](const net::address& addr) {
    ChatRoom room(opt, net::Tcp::endpoint(addr, opt.port));
    return room.run();
  });
}

}  // namespace green::tools::serve
