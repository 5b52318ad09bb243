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
#include <green/web.hpp>

#include <cstdio>
#include <optional>
#include <random>

#include <atomic>
#include <deque>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

namespace green::tools::serve {

namespace {

using namespace std::chrono_literals;
using chat::cut_line;
using chat::kMaxLine;
using chat::reserved_name;
using chat::sanitize;
using chat::strip;
using chat::valid_name;
using green::net::StreamServer;
using green::net::TcpStream;

constexpr std::string_view kPrompt = "Please enter your name: ";
constexpr std::string_view kTaken = "That username is already taken.\n";
constexpr std::string_view kBadName = "Names are 1-32 printable characters without spaces.\n";
constexpr std::string_view kReservedName =
    "That name is reserved: names may not start with '/', '#' or '~', nor be 'server'.\n";
constexpr std::string_view kShutdown = "## server shutting down\n";
constexpr std::string_view kTooSlow = "## disconnected: you are not reading fast enough\n";
constexpr std::string_view kBadRoom = "## room names are 1-32 printable characters without spaces\n";
constexpr std::string_view kTooManyRooms = "## too many rooms\n";
constexpr std::string_view kLobby = "lobby";
// Rooms live on while they hold a backlog; this bounds what users can make
// the server keep.
constexpr std::size_t kMaxRooms = 1000;
// Lines a user's reader says before it lets the others (writers too) run.
constexpr unsigned kLinesPerTurn = 4;
// Backlog lines start with this (a name has no space, so no live line does).
constexpr std::string_view kBacklogMark = "~ ";

// A line shared by every queue it waits on. A queue holds one Msg per
// delivery, so with users behind on their queues the queues are most of the
// server's memory (500 users each sent 10,000 lines can hold millions):
// one pointer wide with a plain count (a shared_ptr is two pointers with
// atomic counts; the chat runs on one hub, one thread).
class Msg {
 public:
  Msg() = default;
  explicit Msg(std::string text) : body_(new Body{1, std::move(text)}) {}
  Msg(const Msg& o) noexcept : body_(o.body_) {
    if (body_) ++body_->refs;
  }
  Msg(Msg&& o) noexcept : body_(std::exchange(o.body_, nullptr)) {}
  Msg& operator=(Msg o) noexcept {
    std::swap(body_, o.body_);
    return *this;
  }
  ~Msg() {
    if (body_ && --body_->refs == 0) delete body_;
  }
  const std::string& operator*() const noexcept { return body_->text; }
  const std::string* operator->() const noexcept { return &body_->text; }

 private:
  struct Body {
    std::size_t refs;
    const std::string text;
  };
  Body* body_ = nullptr;
};

Msg make_msg(std::string s) { return Msg(std::move(s)); }

// How a user is connected: a TCP line stream, a WebSocket (one frame per
// line) or long polling (the lines wait in `pending` until a poll takes them).
enum class Kind { tcp, ws, poll };

struct Conn {
  explicit Conn(TcpStream&& s)
      : kind(Kind::tcp), stream(std::move(s)), ip(stream->remote_endpoint().address().to_string()) {}
  Conn(Kind k, std::string from) : kind(k), ip(std::move(from)) {}
  Kind kind;
  std::optional<TcpStream> stream;
  web::WebSocket* ws = nullptr;  // while its handler runs
  std::string ip;
  std::string name;  // empty until it joined
  struct Room* room = nullptr;
  green::Queue<Msg> out;
  std::size_t queued_bytes = 0;  // in `out` plus the batch being written
  std::uint64_t seq = 0;
  bool dropped = false;
  bool writing = false;
  bool left = false;
  // Long polling: every line numbered; a poll with cursor C acknowledges
  // lines up to C, so a poll lost on the way loses nothing.
  std::deque<std::pair<std::uint64_t, Msg>> pending;
  std::uint64_t last_line = 0;
  green::Event ready;
  std::string token;
  Clock::time_point seen;
  int polls = 0;  // parked polls
};

struct Target {
  std::string path;
  std::map<std::string, std::string> query;
};

int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Form decoding ('+' is a space); a bad escape stays as it is.
std::string decode(std::string_view s) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '+') {
      out += ' ';
    } else if (s[i] == '%' && i + 2 < s.size() && hex_digit(s[i + 1]) >= 0 && hex_digit(s[i + 2]) >= 0) {
      out += static_cast<char>(hex_digit(s[i + 1]) * 16 + hex_digit(s[i + 2]));
      i += 2;
    } else {
      out += s[i];
    }
  }
  return out;
}

Target parse_target(std::string_view target) {
  Target t;
  const auto q = target.find('?');
  t.path = decode(target.substr(0, q));
  if (q == std::string_view::npos) return t;
  std::string_view rest = target.substr(q + 1);
  while (!rest.empty()) {
    const auto amp = rest.find('&');
    const std::string_view kv = rest.substr(0, amp);
    rest.remove_prefix(amp == std::string_view::npos ? rest.size() : amp + 1);
    const auto eq = kv.find('=');
    t.query[decode(kv.substr(0, eq))] = eq == std::string_view::npos ? "" : decode(kv.substr(eq + 1));
  }
  return t;
}

// The page: everything inline, every line shown with textContent. It talks
// WebSocket and falls back to long polling when that does not open
// (?transport=poll forces it; ?name=N&room=R joins at once, for tests).
constexpr std::string_view kPage = R"PAGE(<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>green chat</title>
<style>
body{font:16px/1.4 system-ui,sans-serif;margin:0;padding:.5em;max-width:50em}
#log{height:60vh;overflow-y:auto;border:1px solid #ccc;padding:.3em;white-space:pre-wrap;word-break:break-word}
.notice{color:#666;font-style:italic}.backlog{color:#888}.err{color:#a00}
input,button{font-size:1em;padding:.3em}#say{width:70%}#who{color:#264;margin:.3em 0}
.hidden{display:none}
</style></head><body>
<form id="start"><h1>green chat</h1>
<p><input id="name" placeholder="your name" required maxlength="32"></p>
<p><input id="room" placeholder="room" value="lobby" list="roomlist" maxlength="32"><datalist id="roomlist"></datalist></p>
<p id="rooms"></p><p><button>Enter</button></p><p id="error" class="err"></p></form>
<div id="chat" class="hidden"><div id="head"></div><div id="who"></div><div id="log"></div>
<form id="send"><input id="say" autocomplete="off" placeholder="message, /join ROOM, /rooms, /who"><button>Send</button></form></div>
<script>
"use strict";
const $ = (id) => document.getElementById(id);
const params = new URLSearchParams(location.search);
let me = "", room = "", sendLine = null;
function show(line) {
  if (/^## \d+ users?: /.test(line)) { $("who").textContent = line.slice(3); return; }
  const m = /^## you are in (.*)\.$/.exec(line);
  if (m) { room = m[1]; $("head").textContent = me + " in " + room; $("log").textContent = ""; }
  const div = document.createElement("div");
  div.textContent = line;
  if (line.startsWith("~ ")) div.className = "backlog";
  else if (line.startsWith("## ")) div.className = "notice";
  $("log").appendChild(div);
  $("log").scrollTop = $("log").scrollHeight;
  if (/^## \S+ (joined|left|went) /.test(line) || m) sendLine("/who");
}
function fail(text) {
  $("chat").className = "hidden"; $("start").className = "";
  $("error").textContent = text;
}
function entered() {
  $("start").className = "hidden"; $("chat").className = "";
  $("head").textContent = me + " in " + room;
}
// A refused WebSocket gets one of these lines, then close code 1008.
const refusal = /^(That username|Names are|## room names|## too many rooms|## server shutting down)/;
function viaWebSocket(fallback) {
  const ws = new WebSocket((location.protocol === "https:" ? "wss://" : "ws://") + location.host +
                           "/ws?room=" + encodeURIComponent(room) + "&name=" + encodeURIComponent(me));
  let opened = false, first = true, refused = "";
  ws.onopen = () => { opened = true; sendLine = (l) => ws.send(l); ws.send("/who"); };
  ws.onmessage = (e) => {
    if (first) {
      first = false;
      if (refusal.test(e.data)) { refused = e.data; return; }
      entered();
    }
    show(e.data);
  };
  ws.onclose = (e) => {
    if (!opened) return fallback();
    if (refused) return fail(refused);
    show("## disconnected");
  };
}
async function viaPolling() {
  const q = "name=" + encodeURIComponent(me);
  const r = await fetch("/join?room=" + encodeURIComponent(room) + "&" + q, {method: "POST"});
  const body = await r.text();
  if (!r.ok) return fail(body.trim());
  const auth = q + "&token=" + body.trim();
  sendLine = (l) => fetch("/send?" + auth, {method: "POST", body: l});
  entered();
  sendLine("/who");
  let cursor = 0;
  for (;;) {
    let p;
    try { p = await fetch("/poll?" + auth + "&cursor=" + cursor); } catch (e) { await new Promise((ok) => setTimeout(ok, 1000)); continue; }
    const text = await p.text();
    cursor = Number(p.headers.get("X-Cursor") || cursor);
    for (const line of text.split("\n")) if (line) show(line);
    if (p.status === 410 || p.status === 403) { show("## disconnected"); return; }
  }
}
function start() {
  me = $("name").value.trim(); room = $("room").value.trim() || "lobby";
  $("error").textContent = "";
  if (typeof WebSocket === "undefined" || params.get("transport") === "poll") viaPolling();
  else viaWebSocket(viaPolling);
}
$("start").onsubmit = (e) => { e.preventDefault(); start(); };
$("send").onsubmit = (e) => { e.preventDefault(); const l = $("say").value; if (l && sendLine) sendLine(l); $("say").value = ""; };
fetch("/rooms").then((r) => r.text()).then((t) => {
  for (const line of t.split("\n")) {
    if (!line) continue;
    const [name, n] = line.split(" ");
    const o = document.createElement("option"); o.value = name; $("roomlist").appendChild(o);
    const b = document.createElement("button"); b.type = "button"; b.textContent = name + " (" + n + ")";
    b.onclick = () => { $("room").value = name; }; $("rooms").appendChild(b);
  }
});
if (params.get("name")) { $("name").value = params.get("name"); $("room").value = params.get("room") || "lobby"; start(); }
</script></body></html>
)PAGE";

struct Room {
  std::map<std::uint64_t, Conn*> members;  // in join order
  std::deque<Msg> backlog;                 // marked, oldest first
};

class ChatRoom {
 public:
  // One listener per address (--host localhost: both families), one chat.
  ChatRoom(const ChatOptions& opt, const std::vector<net::address>& addrs)
      : opt_(opt), rooms_{{std::string(kLobby), Room{}}} {
    servers_ = listen_on_each(addrs, opt.port, [this](const net::Tcp::endpoint& ep) {
      return std::make_unique<StreamServer>(
          ep, [this](TcpStream& s) { handle(s); }, options(opt_));
    });
    if (opt.http_port >= 0) {
      web::Options wo;
      wo.max_connections = opt.max_clients;
      wo.max_message_bytes = 64 * 1024;
      wo.max_body_bytes = 64 * 1024;
      wo.idle_timeout = 65s;  // above the longest poll
      // A WebSocket user silent for 15 s is pinged; one that has not
      // answered by 30 s is gone (and the room hears it leave), even when
      // its queue is too short to overflow.
      wo.websocket_idle_timeout = 30s;
      std::vector<net::address> bound;
      for (const auto& s : servers_) bound.push_back(s->local_endpoint().address());
      webs_ = listen_on_each(bound, static_cast<std::uint16_t>(opt.http_port), [&](const net::Tcp::endpoint& ep) {
        return std::make_unique<web::Server>(
            ep, [this](web::Request& req, web::Reply& reply) { web(req, reply); }, wo);
      });
    }
  }

  // Serves until SIGINT/SIGTERM; returns the exit status.
  int run() {
    const auto start = Clock::now();
    StopSignals signals(stop_signal_, false, [this](int) { shutdown(); });
    for (const auto& s : servers_) announce(s->local_endpoint());
    green::Greenlet<void> reaper;
    for (const auto& w : webs_) {
      Output::err().diag("listening on http://" + net::to_string(w->local_endpoint()) + "/\n", /*keep=*/true);
      w->start();
    }
    if (!webs_.empty()) reaper = green::spawn([this] { reap(); });
    for (std::size_t i = 1; i < servers_.size(); ++i) servers_[i]->start();
    servers_.front()->serve_forever();  // until shutdown() stops them all
    if (reaper) reaper.kill();
    writers_.kill();
    std::size_t accepted = 0;
    for (const auto& s : servers_) accepted += s->accepted();
    diag_summary("{} connection{}, {} joined, {} message{} in {:.1f} s", accepted, accepted == 1 ? "" : "s", joins_, messages_,
         messages_ == 1 ? "" : "s", seconds_since(start));
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
    for (const auto& srv : servers_) srv->stop_accepting();
    auto note = make_msg(std::string(kShutdown));
    for (auto& [seq, c] : conns_) {
      if (c->kind == Kind::poll) {
        deliver(*c, note);
      } else if (!c->out.closed()) {
        c->out.put_nowait(note);
      }
      c->out.close();
    }
    // Parked polls answer with the notice; give them a moment to collect it.
    for (const auto& w : webs_) w->stop(2s);
    for (const auto& srv : servers_) srv->stop(2s);
  }

  // Never switches: a slow user is dropped, never waited for.
  void deliver(Conn& c, const Msg& m) {
    if (c.dropped || c.out.closed()) return;
    if (c.queued_bytes + m->size() > opt_.queue_limit) {
      drop(c);
      return;
    }
    c.queued_bytes += m->size();
    if (c.kind == Kind::poll) {
      c.pending.emplace_back(++c.last_line, m);
      c.ready.set();
    } else {
      c.out.put_nowait(m);
    }
  }

  void drop(Conn& c) {
    c.dropped = true;
    diag_line((c.name.empty() ? c.ip : c.name) + " disconnected: more than " + std::to_string(opt_.queue_limit) +
                  " bytes waiting to be sent",
              Severity::warning);
    c.out.close();
    c.ready.set();  // a parked poll answers 410
    if (c.kind == Kind::ws) {
      // Its writer is likely parked in a send the client does not take: the
      // connection ends now, so the send fails and the room hears it leave
      // (not after write_timeout). No close frame: it would queue behind.
      if (c.ws) c.ws->abort();
      return;
    }
    if (c.kind != Kind::tcp) return;
    // The notice only goes out if it cannot land inside a half-written line.
    if (!c.writing) {
      std::error_code ec;
      c.stream->try_write(kTooSlow, ec);
    }
    c.stream->close();  // ends the reader and the writer
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
    // A batch is gathered in one buffer per hub (thread) that every writer
    // shares: a writer uses it only from the first copy to the try_write()
    // after it, with no switch in between. Only what the peer does not take
    // at once is copied to a string of the connection's own, held while it
    // waits. (A batch string per writer kept its 64-128 KiB capacity for the
    // connection's life: 30-60 MiB with 500 users behind on their queues.)
    static thread_local std::string shared;
    bool stalled = false;
    while (auto m = c->out.next()) {
      shared.assign(**m);
      while (!c->out.empty() && shared.size() < 64 * 1024) shared += *c->out.get_nowait();
      const std::size_t size = shared.size();
      std::error_code ec;
      const std::size_t sent = c->stream->try_write(shared, ec);
      if (!ec && sent < size) {
        const std::string rest(shared, sent);
        c->writing = true;          // a line may be cut: drop() must not write into it
        green::Timeout limit(60s);  // a peer that takes nothing for a minute is gone
        try {
          c->stream->write_all(rest, ec);
        } catch (const green::Timeout& t) {
          if (!(t == limit)) throw;
          stalled = true;
        }
        c->writing = false;
      }
      c->queued_bytes -= std::min(c->queued_bytes, size);
      if (ec || stalled) break;
    }
    std::error_code ignored;
    c->stream->shutdown_write(ignored);
    c->stream->close();
    c->out.close();
  }

  // Reads one line of at most kMaxLine bytes; the rest of a longer line is
  // discarded. Returns false at end of stream with nothing read.
  static bool read_message(Conn& c, std::string& line) {
    line = c.stream->read_line(kMaxLine + 1);
    if (line.empty()) return false;
    if (cut_line(line)) {
      for (;;) {  // skip to the end of this line
        std::string rest = c.stream->read_line(kMaxLine);
        if (rest.empty() || rest.back() == '\n') break;
      }
    }
    return true;
  }

  // The seed's read_name: prompt until a free, valid name arrives. A client
  // that gives none within --name-timeout is told so and dropped: it would
  // hold a --max-clients slot without ever joining.
  bool read_name(Conn& c) {
    std::optional<green::Timeout> limit;
    if (opt_.name_timeout > Duration::zero()) limit.emplace(opt_.name_timeout);
    try {
      return prompt_for_name(c);
    } catch (const green::Timeout& t) {
      if (!limit || !(t == *limit)) throw;
    }
    deliver(c, name_timeout_);
    if (opt_.verbose) log_event(c.ip + " gave no name within --name-timeout: dropped");
    return false;
  }

  bool prompt_for_name(Conn& c) {
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
      if (reserved_name(name)) {
        deliver(c, reserved_name_);
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
    unsigned said = 0;
    while (read_message(*c, line)) {
      if (!handle_text(*c, strip(line))) break;
      // Lines that came in one read are said a few per turn, so the writers
      // drain between them: a user's queue then holds a few lines per talker
      // instead of everything every reader had buffered (500 users sending
      // 20 lines at once queued all 5 million deliveries, 40 MiB).
      if (c->stream->buffered() == 0) {
        said = 0;
      } else if (++said == kLinesPerTurn) {
        said = 0;
        green::sleep(Duration::zero());
      }
    }
  }

  // ---- the web side: the page, WebSocket users and long-polling users ----

  // Why `name` may not enter `room` now (a line as the TCP chat says it), or
  // "" with `*out` set to the room, made if new.
  std::string admit(const std::string& name, const std::string& room, Room** out) {
    if (stopping_) return std::string(kShutdown);
    if (!valid_name(name)) return std::string(kBadName);
    if (reserved_name(name)) return std::string(kReservedName);
    if (names_.count(name)) return std::string(kTaken);
    if (!valid_name(room)) return std::string(kBadRoom);
    auto it = rooms_.find(room);
    if (it == rooms_.end()) {
      if (rooms_.size() >= kMaxRooms) return std::string(kTooManyRooms);
      it = rooms_.emplace(room, Room{}).first;
    }
    *out = &it->second;
    return {};
  }

  std::shared_ptr<Conn> web_join(Kind kind, const std::string& name, Room& r, const web::Request& req) {
    auto c = std::make_shared<Conn>(kind, req.peer.address().to_string());
    c->seq = ++next_seq_;
    c->name = name;
    c->seen = Clock::now();
    conns_.emplace(c->seq, c);
    names_.emplace(name, c.get());
    ++joins_;
    enter(*c, r);
    if (opt_.verbose) log_event(name + " joined from " + c->ip + (kind == Kind::ws ? " (WebSocket)" : " (polling)"));
    return c;
  }

  // Never switches; safe twice.
  void web_leave(Conn& c) {
    if (c.left) return;
    c.left = true;
    names_.erase(c.name);
    if (opt_.verbose) log_event(c.name + " left");
    leave_room(c, "## " + c.name + " left the chat.\n");
    c.out.close();
    c.ready.set();
    if (c.kind == Kind::poll) pollers_.erase(c.name);
    conns_.erase(c.seq);  // the caller still holds c
  }

  void websocket(web::Request& req, web::Reply& reply, const std::string& name, const std::string& room) {
    if (!web::is_websocket_upgrade(req)) {
      web::Response res{web::http::status::bad_request, req.version()};
      res.body() = "/ws wants a WebSocket upgrade\n";
      return reply.send(std::move(res));
    }
    web::WebSocket ws = reply.accept_websocket(req);
    Room* r = nullptr;
    const std::string refused = admit(name, room, &r);
    if (!refused.empty()) {
      ws.send(strip(refused));
      ws.close(1008, "refused");
      return;
    }
    auto c = web_join(Kind::ws, name, *r, req);
    c->ws = &ws;
    // A kill unwinding this handler must not leave the reader using `ws`.
    struct Guard {
      ChatRoom& self;
      std::shared_ptr<Conn> c;
      green::GreenletRef reader;
      ~Guard() {
        c->ws = nullptr;
        if (reader && !reader.dead()) reader.kill(green::GreenletExit{}, false);
        self.web_leave(*c);
      }
    } guard{*this, c, {}};
    guard.reader = green::spawn([this, c, &ws] {
      while (auto m = ws.receive()) {
        if (m->data.size() > kMaxLine) m->data.resize(kMaxLine);
        if (!handle_text(*c, strip(m->data)) || c->out.closed()) break;
      }
      c->out.close();  // the writer sends what is queued, then ends
    });
    // What waits goes out in one write (a frame per line), as the TCP
    // writer's batches do: one system call for many lines, not one each.
    std::vector<Msg> batch;
    std::vector<std::string_view> lines;
    while (auto m = c->out.next()) {
      if (c->dropped) break;
      batch.assign(1, std::move(*m));
      std::size_t bytes = batch[0]->size();
      while (!c->out.empty() && bytes < 64 * 1024) {
        batch.push_back(c->out.get_nowait());
        bytes += batch.back()->size();
      }
      lines.clear();
      for (const Msg& b : batch) {
        std::string_view line = *b;
        if (!line.empty() && line.back() == '\n') line.remove_suffix(1);
        lines.push_back(line);
      }
      c->writing = true;
      try {
        ws.send_many(lines);
      } catch (const std::system_error&) {
        break;
      }
      c->writing = false;
      c->queued_bytes -= std::min(c->queued_bytes, bytes);
      batch.clear();                 // the lines are freed as soon as they are sent
      if (lines.capacity() > 256) {  // a big batch is not kept for the connection's life
        std::vector<Msg>().swap(batch);
        std::vector<std::string_view>().swap(lines);
      }
    }
    c->writing = false;
    if (!guard.reader.dead()) guard.reader.kill();
    web_leave(*c);
    if (!c->dropped && ws.is_open()) {
      green::Timeout limit(2s);
      try {
        ws.close(1000);
      } catch (const green::Timeout& t) {
        if (!(t == limit)) throw;
      }
    }
  }

  std::shared_ptr<Conn> poller(const std::string& name, const std::string& token) {
    auto it = pollers_.find(name);
    if (it == pollers_.end() || token.empty() || it->second->token != token) return nullptr;
    return it->second;
  }

  // A long-polling user that has not polled for a minute is gone.
  void reap() {
    for (;;) {
      green::sleep(5s);
      const auto now = Clock::now();
      std::vector<std::shared_ptr<Conn>> gone;
      for (auto& [name, c] : pollers_) {
        if (c->polls == 0 && (c->dropped || now - c->seen > 60s)) gone.push_back(c);
      }
      for (auto& c : gone) web_leave(*c);
    }
  }

  static std::string token() {
    static std::random_device rd;
    char buf[33];
    std::snprintf(buf, sizeof buf, "%08x%08x%08x%08x", rd(), rd(), rd(), rd());
    return buf;
  }

  void web(web::Request& req, web::Reply& reply) {
    namespace http = web::http;
    const Target t = parse_target(req.target());
    auto param = [&](const char* k) {
      auto it = t.query.find(k);
      return it == t.query.end() ? std::string() : it->second;
    };
    if (t.path == "/ws") {
      std::string room = param("room");
      return websocket(req, reply, param("name"), room.empty() ? std::string(kLobby) : room);
    }
    web::Response res{http::status::ok, req.version()};
    res.set(http::field::content_type, "text/plain; charset=utf-8");
    res.set(http::field::cache_control, "no-store");
    const auto method = req.method();
    const bool get = method == http::verb::get || method == http::verb::head;
    const bool post = method == http::verb::post;
    auto fail = [&](http::status st, std::string_view body) {
      res.result(st);
      res.body() = body;
    };
    if (t.path == "/" && get) {
      res.set(http::field::content_type, "text/html; charset=utf-8");
      res.body() = kPage;
    } else if (t.path == "/rooms" && get) {
      for (auto& [name, r] : rooms_) res.body() += name + " " + std::to_string(r.members.size()) + "\n";
    } else if (t.path == "/join" && post) {
      Room* r = nullptr;
      std::string room = param("room");
      const std::string refused = admit(param("name"), room.empty() ? std::string(kLobby) : room, &r);
      if (!refused.empty()) {
        fail(refused == kTaken ? http::status::conflict : http::status::bad_request, refused);
      } else {
        auto c = web_join(Kind::poll, param("name"), *r, req);
        c->token = token();
        pollers_.emplace(c->name, c);
        res.body() = c->token + "\n";
      }
    } else if ((t.path == "/poll" && get) || ((t.path == "/send" || t.path == "/leave") && post)) {
      auto c = poller(param("name"), param("token"));
      if (!c) {
        fail(http::status::forbidden, "## not in the chat (unknown name or token)\n");
      } else if (t.path == "/leave") {
        web_leave(*c);
      } else if (t.path == "/send") {
        c->seen = Clock::now();
        std::string_view body = req.body();
        while (!body.empty() && !c->left) {
          const auto nl = body.find('\n');
          std::string_view line = body.substr(0, nl);
          body.remove_prefix(nl == std::string_view::npos ? body.size() : nl + 1);
          if (line.size() > kMaxLine) line = line.substr(0, kMaxLine);
          if (!handle_text(*c, strip(line))) web_leave(*c);
        }
      } else {
        poll(*c, param("cursor"), param("timeout"), res);
      }
    } else {
      fail(http::status::not_found, "not found\n");
    }
    reply.send(std::move(res));
  }

  // Answers at once with the lines after `cursor` (dropping those up to it:
  // the client has them), or waits up to `timeout` seconds (25, at most 30)
  // for some. X-Cursor is the number of the last line sent.
  void poll(Conn& c, const std::string& cursor_arg, const std::string& timeout_arg, web::Response& res) {
    const std::uint64_t cursor = std::strtoull(cursor_arg.c_str(), nullptr, 10);
    const long secs = timeout_arg.empty() ? 25 : std::clamp(std::strtol(timeout_arg.c_str(), nullptr, 10), 0L, 30L);
    while (!c.pending.empty() && c.pending.front().first <= cursor) {
      c.queued_bytes -= std::min(c.queued_bytes, c.pending.front().second->size());
      c.pending.pop_front();
    }
    c.seen = Clock::now();
    if (c.pending.empty() && !c.dropped && !c.left) {
      c.ready.clear();
      ++c.polls;
      c.ready.wait(std::chrono::seconds(secs));
      --c.polls;
      c.seen = Clock::now();
    }
    if (c.dropped) {
      res.result(web::http::status::gone);
      res.body() = kTooSlow;
      web_leave(c);
      return;
    }
    std::uint64_t last = cursor;
    for (auto& [n, m] : c.pending) {
      if (res.body().size() >= 64 * 1024) break;
      res.body() += *m;
      last = n;
    }
    if (c.left && c.pending.empty()) res.result(web::http::status::gone);
    res.set("X-Cursor", std::to_string(last));
  }

  void log_event(const std::string& what) { diag_line(what + " (" + std::to_string(names_.size()) + " in the chat)"); }

  const ChatOptions& opt_;
  std::vector<std::unique_ptr<web::Server>> webs_;        // --http, on each address of servers_
  std::map<std::string, std::shared_ptr<Conn>> pollers_;  // long-polling users by name
  std::map<std::string, Room, std::less<>> rooms_;        // by name: /rooms lists them sorted
  std::vector<std::unique_ptr<StreamServer>> servers_;    // one per --host address
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
  const Msg reserved_name_ = make_msg(std::string(kReservedName));
  const Msg name_timeout_ = make_msg("## no name given within " + format_duration(opt_.name_timeout) + ", bye\n");
};

}  // namespace

int run_chat(const ChatOptions& opt) {
  return serve_on_hub(opt, [&](const std::vector<net::address>& addrs) {
    ChatRoom room(opt, addrs);
    return room.run();
  });
}

}  // namespace green::tools::serve
