// `green serve MODE`: the command line of every server. Each mode is a file
// of its own in this directory (echo.cpp, chat.cpp) over frame.hpp.
#include "common/cli_docs.hpp"
#include "common/duration.hpp"
#include "common/output.hpp"
#include "common/subcommand.hpp"
#include "serve/frame.hpp"

#include <CLI/CLI.hpp>

#include <cstddef>
#include <map>
#include <memory>
#include <set>
#include <string>

namespace green::tools {

namespace {

using serve::ChatOptions;
using serve::EchoOptions;
using serve::HttpOptions;

struct ServeOptions {
  std::string mode;
  std::string dir = ".";
  std::string host = "127.0.0.1";
  int port = -1;  // -1: the mode's default (echo 8000, chat 8001, http 8080)
  std::size_t max_clients = 0;
  bool verbose = false;
  Duration idle_timeout = Duration::zero();
  unsigned threads = 1;
  std::size_t queue_limit = 1024 * 1024;
  std::size_t backlog = 25;
  int http_port = -1;
  Duration name_timeout = std::chrono::seconds(60);
  bool json = false;
  bool follow_symlinks = false;
  bool dotfiles = false;
  std::set<std::string> given;  // the mode-specific options on the command line
};

// Which mode-specific options each mode takes.
bool applies(const std::string& mode, const std::string& option) {
  static const std::map<std::string, std::set<std::string>> takes = {
      {"echo", {"--idle-timeout", "--threads"}},
      {"chat", {"--queue-limit", "--backlog", "--http", "--name-timeout"}},
      {"http", {"DIR", "--threads", "--json", "--follow-symlinks", "--dotfiles"}},
  };
  return takes.at(mode).count(option) != 0;
}

int run_serve(const ServeOptions& o) {
  set_tool_name("serve " + o.mode);
  for (const std::string& opt : o.given) {
    if (!applies(o.mode, opt)) {
      std::string modes;
      for (const char* m : {"echo", "chat", "http"}) {
        if (!applies(m, opt)) continue;
        if (!modes.empty()) modes += " and ";
        modes += "'serve " + std::string(m) + "'";
      }
      throw UsageError((opt == "DIR" ? std::string("a directory") : opt) + " applies to " + modes + " only");
    }
  }
  // The options every mode shares, with the mode's own default port.
  auto common = [&o](auto& mode, std::uint16_t default_port) {
    static_cast<serve::ServerCommon&>(mode) = {o.host, static_cast<std::uint16_t>(o.port < 0 ? default_port : o.port),
                                               o.max_clients, o.verbose};
  };
  if (o.mode == "echo") {
    EchoOptions e;
    common(e, 8000);
    e.idle_timeout = o.idle_timeout;
    e.threads = o.threads;
    return serve::run_echo(e);
  }
  if (o.mode == "http") {
    HttpOptions h;
    common(h, 8080);
    h.dir = o.dir;
    h.threads = o.threads;
    h.json = o.json;
    h.follow_symlinks = o.follow_symlinks;
    h.dotfiles = o.dotfiles;
    return serve::run_http(h);
  }
  ChatOptions c;
  common(c, 8001);
  c.queue_limit = o.queue_limit;
  c.backlog = o.backlog;
  c.http_port = o.http_port;
  c.name_timeout = o.name_timeout;
  return serve::run_chat(c);
}

}  // namespace

void setup_serve(CLI::App& app, int& status) {
  auto o = std::make_shared<ServeOptions>();
  auto given = [o](const char* name) { return [o, name](const std::string&) { o->given.insert(name); }; };
  CLI::App* sub = app.add_subcommand("serve", "Run a server: echo, chat (the gevent seeds' servers) or http (files)");
  CLI::Option* mode = sub->add_option("MODE", o->mode,
                                      "echo: send back every byte each client sends; chat: the seeds' chat room; "
                                      "http: serve the files of DIR")
                          ->required()
                          ->check(CLI::IsMember({"echo", "chat", "http"}));
  completion_values(mode, {"echo", "chat", "http"});
  sub->add_option("DIR", o->dir, "http: the directory to serve (default: the current one)")->each(given("DIR"));
  sub->add_option("--host", o->host,
                  "Address to listen on: numeric IPv4/IPv6, or localhost for both 127.0.0.1 and ::1 (0.0.0.0 or :: "
                  "for all)")
      ->type_name("ADDR")
      ->capture_default_str();
  sub->add_option("-p,--port", o->port,
                  "TCP port (default 8000 for echo, 8001 for chat, 8080 for http); 0 picks a free one")
      ->check(CLI::Range(0, 65535));
  sub->add_option("--max-clients", o->max_clients,
                  "Most clients at once (0: no limit); more are accepted and closed at once")
      ->capture_default_str();
  sub->add_flag("-v,--verbose", o->verbose,
                "Log connects, disconnects and joins on stderr (http: an access log line per request)");
  add_duration_option(sub, "--idle-timeout", o->idle_timeout,
                      "echo: close a connection that sends nothing for this long (default: never)")
      ->each(given("--idle-timeout"));
  sub->add_option("--threads", o->threads,
                  "echo, http: hubs (threads) sharing the port with SO_REUSEPORT; the kernel spreads clients over them")
      ->capture_default_str()
      ->check(CLI::Range(1u, 256u))
      ->each(given("--threads"));
  sub->add_option("--queue-limit", o->queue_limit,
                  "chat: bytes that may wait to be sent to one user; a user further behind is disconnected")
      ->capture_default_str()
      ->check(CLI::Range(std::size_t{4096}, std::size_t{1} << 32))
      ->each(given("--queue-limit"));
  sub->add_option("--backlog", o->backlog, "chat: the last messages of a room sent to whoever joins it (0: none)")
      ->capture_default_str()
      ->check(CLI::Range(std::size_t{0}, std::size_t{10000}))
      ->each(given("--backlog"));
  sub->add_option("--http", o->http_port,
                  "chat: also serve the chat on this port over HTTP: a web page, WebSocket at /ws, long polling "
                  "(0 picks a free port)")
      ->check(CLI::Range(0, 65535))
      ->each(given("--http"));
  add_duration_option(sub, "--name-timeout", o->name_timeout,
                      "chat: drop a TCP client that has not given a valid name after DUR (default 1m; 0: never)")
      ->each(given("--name-timeout"));
  sub->add_flag("--json", o->json, "http: the access log as JSON Lines on stdout, one object per request")
      ->each(given("--json"));
  sub->add_flag("--follow-symlinks", o->follow_symlinks,
                "http: follow symlinks that lead out of DIR (by default only those that stay inside are served)")
      ->each(given("--follow-symlinks"));
  sub->add_flag("--dotfiles", o->dotfiles,
                "http: serve and list hidden files and directories (names starting with '.'); by default they are 404")
      ->each(given("--dotfiles"));
  sub->footer(
      "The server prints 'listening on HOST:PORT' on stderr once bound (--host localhost: one line for\n"
      "127.0.0.1, one for [::1], on one port; an address that cannot be bound while the other can is a\n"
      "warning, not an error). SIGTERM or SIGINT stops it\n"
      "cleanly and prints a summary on stderr. Exit status: 0 after SIGTERM (a service's normal stop),\n"
      "130 after SIGINT (an interrupted run, as for every green tool), 1 if it cannot listen, 2 on\n"
      "usage errors.\n"
      "\n"
      "echo sends back exactly the bytes each client sends (binary-safe), one greenlet per client.\n"
      "\n"
      "chat speaks the gevent seed's protocol byte for byte: the server sends 'Please enter your name: ';\n"
      "an empty name asks again, a taken one gets 'That username is already taken.' and asks again.\n"
      "Names starting with '/', '#' or '~' and 'server' are reserved (they would read as commands, server\n"
      "notices or backlog lines): refused with a line saying so, then asked again. A TCP client that has\n"
      "not given a name after --name-timeout gets '## no name given within DUR, bye' and is disconnected.\n"
      "Everyone already in gets '## NAME joined from IP.'; each line a user sends reaches every user,\n"
      "the sender too, as 'NAME> line'; '## NAME left the chat.' when a user leaves.\n"
      "Names are 1-32 printable characters without spaces and unique across the server. Users start in\n"
      "the room 'lobby'. Commands: /join ROOM moves to ROOM (created if new; the old room gets\n"
      "'## NAME went to ROOM.', the user '## you are in ROOM.'), /rooms lists the rooms with their user\n"
      "counts ('## rooms: lobby (2), x (0)'), /who lists the users of the current room, /quit leaves.\n"
      "Whoever joins a room first gets its last --backlog messages, each marked with a leading '~ '\n"
      "('~ alice> hi'). Rooms are kept while they have users or a backlog (at most 1000).\n"
      "With --http PORT the same chat is also on the web ('listening on http://HOST:PORT/' follows the\n"
      "first line): GET / is a page (choose a name and a room, see who is there, the backlog, send) that\n"
      "uses WebSocket and falls back to long polling by itself. WebSocket: GET /ws?room=ROOM&name=NAME;\n"
      "each text frame the server sends is one line as a TCP user sees it (no newline), each frame the\n"
      "client sends is one message; a refused name or room gets its line and close code 1008. Long\n"
      "polling: POST /join?room=ROOM&name=NAME answers a token (409 name taken, 400 bad name or room);\n"
      "GET /poll?name=NAME&token=T&cursor=C[&timeout=S] answers the lines after line C, waiting up to S\n"
      "seconds (25, at most 30) for one, with X-Cursor: the number of the last line sent (pass it back;\n"
      "410 once the user is gone or was too slow); POST /send?name=NAME&token=T sends each line of the\n"
      "body; POST /leave?name=NAME&token=T leaves; a user that polls for nothing for 60 s is gone.\n"
      "GET /rooms lists 'ROOM USERS' lines. Web users join 'from IP' as TCP users do (the connection's\n"
      "peer; X-Forwarded-For is not read). A WebSocket user is pinged after 15 s of silence and has\n"
      "left when no answer came by 30 s.\n"
      "Lines are stripped of surrounding whitespace (as the seed does). Lines longer than 4096 bytes are\n"
      "cut to their first 4096 bytes and the rest of the line is dropped; invalid UTF-8 and control\n"
      "characters other than tab become U+FFFD. A user with more than --queue-limit bytes waiting is\n"
      "disconnected. SIGINT/SIGTERM: everyone gets '## server shutting down', then the server stops.\n"
      "\n"
      "http serves the files under DIR over HTTP/1.1 (keep-alive, pipelining; HTTP/1.0 too): GET and HEAD,\n"
      "the exact bytes of each file (sendfile over 64 KiB), Content-Type from the extension, ETag and\n"
      "Last-Modified with 304 for If-None-Match/If-Modified-Since, a single Range as 206 (416 if\n"
      "unsatisfiable; several ranges get the whole file, 200), If-Range, If-Match. A directory shows its\n"
      "index.html or a listing. Paths with '..' or '.' segments, an encoded '/', a '\\' or NUL are 400;\n"
      "symlinks that lead out of DIR and hidden names (starting with '.', also when a symlink leads to one)\n"
      "are 404 unless --follow-symlinks or --dotfiles is given. With -v an access log line per request goes to stderr (Common Log Format);\n"
      "with --json one JSON object per request goes to stdout: time, client, method, target, status,\n"
      "bytes, duration (seconds).");
  sub->final_callback([o, &status] { status = run_serve(*o); });
}

GREEN_SUBCOMMAND(serve, setup_serve);

}  // namespace green::tools
