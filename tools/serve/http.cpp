// `green serve http [DIR]`: a static file server. What a request gets is
// http_files.hpp (pure rules, unit-tested); this file is the server around
// them: green::web's HTTP/1.1 server on N hubs, big files sent with
// sendfile, the access log and the summary.
#include "common/json.hpp"
#include "common/output.hpp"
#include "common/subcommand.hpp"
#include "serve/frame.hpp"
#include "serve/http_files.hpp"
#include "serve/round_cache.hpp"

#include <green/green.hpp>
#include <green/net.hpp>
#include <green/web.hpp>

#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>

namespace green::tools::serve {

namespace {

namespace hf = http_files;

// Shared by every hub, for the summary.
struct HttpStats {
  std::atomic<std::uint64_t> requests{0};
  std::atomic<std::uint64_t> errors{0};  // 4xx and 5xx answers
  std::atomic<std::uint64_t> bytes{0};   // body bytes sent
  std::atomic<int> stop_signal{0};
  std::atomic<bool> stdout_closed{false};
};

// One request, as the access log shows it.
struct Access {
  std::chrono::system_clock::time_point when;
  const net::Tcp::endpoint* client;
  std::string_view method;
  std::string_view target;
  unsigned version;  // 10 or 11
  int status;
  std::uint64_t bytes;
  double seconds;
};

// A whole line in one write(2): lines from several hubs never interleave
// (they are far below PIPE_BUF), and nothing is held back in a buffer when
// the server is killed. nginx writes its access log the same way.
bool write_line(int fd, const std::string& line) {
  std::size_t done = 0;
  while (done < line.size()) {
    const ssize_t n = ::write(fd, line.data() + done, line.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    done += static_cast<std::size_t>(n);
  }
  return true;
}

// A request target as a CLF field: '"', '\' and bytes outside printable
// ASCII as \xHH, so a line cannot be split or faked by what a client sends.
void append_clf_escaped(std::string& out, std::string_view s) {
  static constexpr char kHex[] = "0123456789abcdef";
  for (const char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    if (c < 0x20 || c >= 0x7f || c == '"' || c == '\\') {
      out += "\\x";
      out += kHex[c >> 4];
      out += kHex[c & 15];
    } else {
      out += ch;
    }
  }
}

// Common Log Format: 127.0.0.1 - - [03/Dec/2026:07:55:00 +0000] "GET / HTTP/1.1" 200 13
std::string clf_line(const Access& a) {
  static constexpr const char* kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                            "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  const std::time_t t = std::chrono::system_clock::to_time_t(a.when);
  std::tm tm{};
  ::gmtime_r(&t, &tm);
  char when[48];
  std::snprintf(when, sizeof when, "[%02d/%s/%04d:%02d:%02d:%02d +0000]", tm.tm_mday,
                kMonths[static_cast<std::size_t>(tm.tm_mon) % 12], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
  std::string line = a.client->address().to_string();
  line += " - - ";
  line += when;
  if (a.method.empty()) {
    line += " \"-\" ";  // no request line was read (Apache's and nginx's way)
  } else {
    line += " \"";
    append_clf_escaped(line, a.method);
    line += ' ';
    append_clf_escaped(line, a.target);
    line += a.version == 10 ? " HTTP/1.0\" " : " HTTP/1.1\" ";
  }
  line += std::to_string(a.status);
  line += ' ';
  line += std::to_string(a.bytes);
  line += '\n';
  return line;
}

std::string json_line(const Access& a) {
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(a.when.time_since_epoch()).count() % 1000;
  const std::time_t t = std::chrono::system_clock::to_time_t(a.when);
  std::tm tm{};
  ::gmtime_r(&t, &tm);
  char when[80];
  std::snprintf(when, sizeof when, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<int>(ms));
  JsonWriter j;
  j.field("time", when).field("client", net::to_string(*a.client));
  if (a.method.empty()) {  // the server's answer to a request it could not read
    j.field_null("method").field_null("target");
  } else {
    j.field("method", a.method).field("target", a.target);
  }
  j.field("status", a.status).field("bytes", a.bytes).field("duration", a.seconds);
  std::string line = j.finish();
  line += '\n';
  return line;
}

// The Date header, formatted once a second per hub.
struct DateNow {
  std::time_t second = 0;
  std::string text;
};
const DateNow& date_now() {
  thread_local DateNow d;
  const std::time_t now = std::time(nullptr);
  if (now != d.second) {
    d.second = now;
    d.text = hf::http_date(now);
  }
  return d;
}

// How a request may use the answer cached for its target: a GET or HEAD
// with no Range and no precondition gets it as it is ("plain": one such
// request fills the cache); with If-None-Match as its only precondition
// (If-Modified-Since beside it is ignored, RFC 9110 13.1.3) it gets a 304
// when that names the cached ETag, the cached 200 when not: what respond()
// would answer.
struct Reuse {
  bool ok = false;
  bool plain = false;
  std::string_view if_none_match;
};
Reuse reuse_of(const web::Request& req) {
  using web::http::field;
  Reuse r;
  if (req.method() != web::http::verb::get && req.method() != web::http::verb::head) return r;
  bool if_modified_since = false;
  for (const auto& f : req) {
    switch (f.name()) {
      case field::range:
      case field::if_match:
      case field::if_unmodified_since:
      case field::if_range:
        return r;
      case field::if_none_match:
        if (!r.if_none_match.empty()) return r;  // two of them: respond() decides
        r.if_none_match = std::string_view(f.value().data(), f.value().size());
        if (r.if_none_match.empty()) return r;
        break;
      case field::if_modified_since:
        if_modified_since = true;
        break;
      default:
        break;
    }
  }
  r.plain = r.if_none_match.empty() && !if_modified_since;
  r.ok = r.plain || !r.if_none_match.empty();
  return r;
}

// ---- the server ------------------------------------------------------------------

// Files up to this size are read into the response and go out with their
// header in one write; bigger ones follow it with sendfile.
constexpr std::uint64_t kInline = 64 * 1024;

// A 200 for a small file, as a plain request for its target got it in this
// round of the hub (round_cache.hpp): the serialized header and the bytes.
// Later plain requests for the same target in the round get it without a
// system call (open, fstat, pread, close) or a header built again. At most
// kCached of them (kInline each) per round.
struct CachedFile {
  web::PreparedHeader header;
  std::string body;
  std::string etag, last_modified;  // for a 304
  std::time_t date = 0;             // the second its Date field names
};
constexpr std::size_t kCached = 64;

class HttpServer final : public HubServer {
 public:
  HttpServer(const HttpOptions& opt, const hf::Root& root, HttpStats& stats, const net::Tcp::endpoint& ep,
             bool reuse_port)
      : opt_(opt),
        root_(root),
        stats_(stats),
        server_(ep, web::Server::StreamingHandler([this](web::Request& req, web::Reply& reply) { handle(req, reply); }),
                options(opt, reuse_port)) {
    server_.on_request([this](const web::AccessRecord& a) { record(a); });
  }

  net::Tcp::endpoint local_endpoint() const override { return server_.local_endpoint(); }

  void run() override {
    StopSignals signals(stats_.stop_signal, opt_.verbose, [this](int) { stop(); });
    server_.serve_forever();
  }

  // Graceful: idle keep-alive connections close at once, responses in
  // progress get 2 s to finish (as serve chat; a stalled client must not hold a stop).
  void stop() override { server_.stop(std::chrono::seconds(2)); }

 private:
  static web::Options options(const HttpOptions& opt, bool reuse_port) {
    web::Options o;
    o.max_connections = opt.max_clients;
    o.reuse_port = reuse_port;
    o.max_body_bytes = 64 * 1024;  // GET and HEAD need none; others get 405 after it
    return o;
  }

  void handle(web::Request& req, web::Reply& reply) {
    const DateNow& date = date_now();
    const Reuse reuse = reuse_of(req);
    const bool plain = reuse.plain;
    const std::string_view target(req.target().data(), req.target().size());
    if (reuse.ok && req.waited) {  // a request that did not wait may have been sent after the entry's file changed
      if (const auto hit = cache_.find(target); hit && hit->date == date.second) {
        if (!reuse.if_none_match.empty() && hf::etag_matches(reuse.if_none_match, hit->etag, true)) {
          web::Response res{web::http::status::not_modified, req.version()};
          res.insert(web::http::field::etag, hit->etag);
          res.insert(web::http::field::last_modified, hit->last_modified);
          res.insert(web::http::field::date, date.text);
          reply.send(std::move(res));
        } else {
          reply.send(hit->header, hit->body);  // holds `hit`: the send may wait for the client
        }
        return;
      }
    }
    const auto field = [&](web::http::field f) {
      auto it = req.find(f);
      return it == req.end() ? std::string_view() : std::string_view(it->value().data(), it->value().size());
    };
    using web::http::field;
    hf::Request r;
    r.method = std::string_view(req.method_string().data(), req.method_string().size());
    r.target = target;
    r.range = field(field::range);
    r.conditions.if_match = field(field::if_match);
    r.conditions.if_none_match = field(field::if_none_match);
    r.conditions.if_modified_since = field(field::if_modified_since);
    r.conditions.if_unmodified_since = field(field::if_unmodified_since);
    r.conditions.if_range = field(field::if_range);
    hf::Reply answer = hf::respond(root_, hf::Rules{.dotfiles = opt_.dotfiles}, r);
    const auto status = static_cast<web::http::status>(answer.status);
    const std::uint64_t length = answer.content_length();

    if (answer.has_file() && length > kInline && !reply.head_only()) {
      reply.header().result(status);
      for (const auto& [k, v] : answer.headers) reply.header().set(k, v);
      reply.header().set(field::date, date.text);
      reply.content_length(length);
      reply.sendfile(answer.file.get(), answer.offset, length);
      return;
    }
    if (plain && answer.status == 200 && answer.has_file() && !reply.head_only()) {
      web::http::response_header<> head;
      head.result(status);
      for (const auto& [k, v] : answer.headers) head.insert(k, v);
      head.insert(field::date, date.text);
      auto entry = std::make_shared<CachedFile>();
      entry->header = reply.prepare(std::move(head), length);
      entry->date = date.second;
      entry->etag = answer.header("ETag");
      entry->last_modified = answer.header("Last-Modified");
      read_body(answer, entry->body);
      cache_.put(target, entry);
      reply.send(entry->header, entry->body);
      return;
    }
    web::Response res{status, req.version()};
    // insert, not set: the names are distinct, so no lookup for one to replace.
    for (const auto& [k, v] : answer.headers) res.insert(k, v);
    res.insert(field::date, date.text);
    if (answer.has_file() && reply.head_only()) {
      res.content_length(length);  // announced, not read
    } else if (answer.has_file()) {
      read_body(answer, res.body());
    } else {
      res.body() = std::move(answer.body);
    }
    reply.send(std::move(res));
  }

  static void read_body(const hf::Reply& answer, std::string& body) {
    body.resize(answer.length);
    const ssize_t n = ::pread(answer.file.get(), body.data(), answer.length, static_cast<off_t>(answer.offset));
    if (n != static_cast<ssize_t>(answer.length)) {
      throw std::system_error(std::make_error_code(std::errc::io_error), "the file changed while being read");
    }
  }

  // Called by the server after each response (must not switch).
  void record(const web::AccessRecord& rec) {
    ++stats_.requests;
    if (rec.status == 0 || rec.status >= 400) ++stats_.errors;
    stats_.bytes += rec.body_bytes;
    if (!opt_.verbose && !opt_.json) return;
    Access a{std::chrono::system_clock::now(),
             &rec.peer,
             std::string_view(rec.method.data(), rec.method.size()),
             std::string_view(rec.target.data(), rec.target.size()),
             rec.version,
             static_cast<int>(rec.status),
             rec.body_bytes,
             std::chrono::duration<double>(rec.elapsed).count()};
    if (opt_.json) {
      if (!stats_.stdout_closed && !write_line(1, json_line(a))) stats_.stdout_closed = true;
    } else {
      Output::err().diag(clf_line(a));  // never blocks: a stalled stderr drops lines, counted
    }
  }

  const HttpOptions& opt_;
  const hf::Root& root_;
  HttpStats& stats_;
  RoundCache<CachedFile> cache_{kCached};  // before server_: its connections use it
  web::Server server_;
};

}  // namespace

int run_http(const HttpOptions& opt) {
  std::optional<hf::Root> root;
  try {
    root.emplace(opt.dir, opt.follow_symlinks);
  } catch (const std::system_error& e) {
    throw UsageError(std::string(e.what()));
  }
  HttpStats stats;
  const auto start = Clock::now();
  return serve_on_hub(opt, [&](const std::vector<net::address>& addrs) {
    const int status =
        run_hubs(opt.threads, addrs, opt.port, [&](const net::Tcp::endpoint& ep, bool reuse_port) {
          return std::make_unique<HttpServer>(opt, *root, stats, ep, reuse_port);
        });
    if (status != kExitOk) return status;
    const std::uint64_t n = stats.requests;
    diag_summary("{} request{} ({} failed), {} sent in {:.1f} s", n, n == 1 ? "" : "s", stats.errors.load(),
         human_bytes(stats.bytes), seconds_since(start));
    return exit_status(stats.stop_signal);
  });
}

}  // namespace green::tools::serve
