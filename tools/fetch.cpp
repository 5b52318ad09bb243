// `green fetch [FILE|-]...`: the seeds' `Pool(20).map(download, urls)` as a
// tool. URLs are read one per line and streamed through a Pool; each one is
// a green::http request on the hub (curl multi), so connection reuse, HTTP/2
// and TLS come from curl while concurrency, rate, per-host caps, retries and
// ordering are greenlets and semaphores.
#include "common/color.hpp"
#include "common/duration.hpp"
#include "common/input.hpp"
#include "common/json.hpp"
#include "common/output.hpp"
#include "common/progress.hpp"
#include "common/rate.hpp"
#include "common/run.hpp"
#include "common/shard.hpp"
#include "common/subcommand.hpp"
#include "common/url_name.hpp"

#include <green/green.hpp>
#include <green/http.hpp>
#include <green/in_order.hpp>
#include <green/version.hpp>

#include <fmt/format.h>
#include <CLI/CLI.hpp>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

namespace green::tools {

namespace {

namespace http = green::http;
using namespace std::chrono_literals;

struct FetchOptions {
  std::vector<std::string> files;
  std::size_t concurrency = 20;
  std::size_t max_per_host = 0;
  double rate = 0;  // per second; 0: no limit
  Duration timeout = forever;
  Duration connect_timeout = 30s;
  long speed_limit = 1;
  Duration speed_time = 60s;
  unsigned retries = 0;
  Duration retry_delay = 1s;
  Duration retry_max_time = 60s;
  bool follow = true;
  long max_redirs = 20;
  std::optional<std::string> method;
  std::vector<std::string> headers;
  std::vector<std::string> resolve;
  std::optional<std::string> data;
  bool http11 = false;
  bool http2 = false;
  std::string cacert;
  bool insecure = false;
  std::string user_agent = std::string("green-fetch/") + green::version();
  std::string output_dir;
  bool cat = false;
  bool ordered = false;
  bool json = false;
  bool no_progress = false;
  bool quiet = false;
  Shard shard;
};

// ---- small helpers ----------------------------------------------------------

// Bodies waiting for their turn under --cat are kept in memory up to this
// much in all; past it they wait in temporary files.
constexpr std::uint64_t kCatMemory = 64 << 20;
// The buffers of bodies written out, kept for the next ones (up to kSpares
// of them, kSpareBytes in all): a 1 MiB body in a new string grew through
// every size up to 1 MiB, in fresh pages (glibc maps each one above 128
// KiB): 275 page faults and 1 MiB more copying per body.
constexpr std::size_t kSpares = 64;
constexpr std::size_t kSpareBytes = 16 << 20;
struct SpareBuffers {
  SpareBuffers() { list.reserve(kSpares); }  // giving one back never allocates
  std::vector<std::string> list;
  std::size_t bytes = 0;
};

// A URL as shown on stdout and stderr: the password of user:password@
// replaced by "***".
std::string redact(std::string_view url) {
  const auto sep = url.find("://");
  if (sep == std::string_view::npos) return std::string(url);
  const auto start = sep + 3;
  const auto end = url.find_first_of("/?#", start);
  const std::string_view authority = url.substr(start, end == std::string_view::npos ? end : end - start);
  const auto at = authority.rfind('@');
  const auto colon = authority.find(':');
  if (at == std::string_view::npos || colon == std::string_view::npos || colon > at) return std::string(url);
  return std::string(url.substr(0, start + colon + 1)) + "***" + std::string(url.substr(start + at));
}

// RFC 9110 token characters: what a method or a header name is made of.
bool is_token(std::string_view s) {
  if (s.empty()) return false;
  for (const char c : s) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
    if (!ok) return false;
  }
  return true;
}

constexpr const char* kTokenChars = "letters, digits and !#$%&'*+-.^_`|~ only";

void check_header(const std::string& h) {
  if (h.find_first_of(std::string_view("\r\n\0", 3)) != std::string::npos) {
    throw UsageError("-H: '" + printable(h) + "' contains a line break or NUL byte");
  }
  const auto colon = h.find(':');
  std::string_view name(h);
  if (colon != std::string::npos)
    name = name.substr(0, colon);
  else if (!h.empty() && h.back() == ';')
    name = name.substr(0, h.size() - 1);  // curl's "Name;": the header with an empty value
  else
    throw UsageError("-H: '" + printable(h) + "' is not 'Name: value'");
  if (!is_token(name)) {
    throw UsageError("-H: '" + printable(h) + "': '" + printable(name) + "' is not a header name (" + kTokenChars +
                     ")");
  }
}

// --resolve HOST:PORT:ADDR[,ADDR]...: the lookup key "host:port" (host in
// lower case, as curl's URL parser gives it).
std::string resolve_key(const std::string& entry) {
  const auto bad = [&](const std::string& why) {
    return UsageError("--resolve: '" + printable(entry) + "' " + why + " (want HOST:PORT:ADDR[,ADDR]...)");
  };
  const auto c1 = entry.find(':');
  const auto c2 = c1 == std::string::npos ? c1 : entry.find(':', c1 + 1);
  if (c1 == 0 || c2 == std::string::npos) throw bad("is not HOST:PORT:ADDR");
  const std::string port = entry.substr(c1 + 1, c2 - c1 - 1);
  unsigned n = 0;
  const auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), n);
  if (port.empty() || ec != std::errc() || end != port.data() + port.size() || n == 0 || n > 65535) {
    throw bad("has no port 1-65535");
  }
  if (c2 + 1 >= entry.size()) throw bad("has no address");
  std::string key = entry.substr(0, c1);
  for (char& c : key) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return key + ":" + port;
}

// A --cat body waiting for its turn: in memory while all waiting bodies
// together stay under kCatMemory, then in an unlinked temporary file, so
// memory stays flat behind one slow URL however many bodies finish after it.
class Spool {
 public:
  Spool(std::uint64_t& in_memory, SpareBuffers& spare) : in_memory_(in_memory), spare_(spare) {
    if (!spare_.list.empty()) {
      mem_ = std::move(spare_.list.back());
      spare_.list.pop_back();
      spare_.bytes -= mem_.capacity();
    }
  }
  ~Spool() {
    in_memory_ -= mem_.size();
    if (fd_ >= 0) ::close(fd_);
    if (mem_.capacity() > std::string().capacity() && spare_.list.size() < kSpares &&
        spare_.bytes + mem_.capacity() <= kSpareBytes) {
      mem_.clear();
      spare_.bytes += mem_.capacity();
      spare_.list.push_back(std::move(mem_));
    }
  }
  Spool(const Spool&) = delete;
  Spool& operator=(const Spool&) = delete;

  // A new attempt starts over (in the buffer it has).
  void clear() {
    in_memory_ -= mem_.size();
    mem_.clear();
    if (fd_ >= 0 && ::ftruncate(fd_, 0) != 0) error_ = std::strerror(errno);
    size_ = 0;
  }

  // On the hub inside curl's write callback: never switches.
  bool append(std::string_view data) {
    if (fd_ < 0 && in_memory_ + data.size() > kCatMemory && !spill()) return false;
    if (fd_ >= 0) {
      if (!write_all(data)) return false;
    } else {
      mem_.append(data);
      in_memory_ += data.size();
    }
    size_ += data.size();
    return true;
  }

  const std::string& error() const noexcept { return error_; }

  // Hands the body to `write` in pieces. `write` may switch.
  template <class F>
  void drain(F&& write) {
    if (fd_ < 0) {
      write(std::string_view(mem_));
      return;
    }
    std::string buf(1 << 18, '\0');
    for (std::uint64_t off = 0; off < size_;) {
      const ssize_t n = ::pread(fd_, buf.data(), buf.size(), static_cast<off_t>(off));
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        diag_error("--cat: cannot read back a spooled body: {}", n < 0 ? std::strerror(errno) : "short file");
        return;
      }
      write(std::string_view(buf.data(), static_cast<std::size_t>(n)));
      off += static_cast<std::uint64_t>(n);
    }
  }

 private:
  bool spill() {
    const char* dir = std::getenv("TMPDIR");
    std::string path = (dir && *dir ? dir : "/tmp");
    fd_ = ::open(path.c_str(), O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
    if (fd_ < 0) {
      std::string tmpl = path + "/green-fetch-cat.XXXXXX";
      fd_ = ::mkostemp(tmpl.data(), O_CLOEXEC);
      if (fd_ >= 0) ::unlink(tmpl.c_str());
    }
    if (fd_ < 0) {
      error_ = "cannot spool the body to " + path + ": " + std::strerror(errno);
      return false;
    }
    const bool ok = write_all(mem_);
    in_memory_ -= mem_.size();
    std::string().swap(mem_);
    return ok;
  }

  bool write_all(std::string_view data) {
    while (!data.empty()) {
      const ssize_t n = ::write(fd_, data.data(), data.size());
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) {
        error_ = std::string("cannot spool the body: ") + std::strerror(errno);
        return false;
      }
      data.remove_prefix(static_cast<std::size_t>(n));
    }
    return true;
  }

  std::uint64_t& in_memory_;
  SpareBuffers& spare_;
  std::string mem_;
  int fd_ = -1;
  std::uint64_t size_ = 0;
  std::string error_;
};

// Log-bucketed latency histogram: constant memory for any number of URLs,
// percentiles within 1%.
class Latency {
 public:
  void add(Duration d) {
    const double us = std::max(1.0, std::chrono::duration<double, std::micro>(d).count());
    const auto b = static_cast<std::size_t>(std::log(us) / kLogStep);
    ++buckets_[std::min(b, buckets_.size() - 1)];
    ++n_;
  }
  // The p-th percentile in seconds (0 when empty).
  double percentile(double p) const {
    if (n_ == 0) return 0;
    const auto rank = static_cast<std::uint64_t>(std::ceil(p / 100.0 * static_cast<double>(n_)));
    std::uint64_t seen = 0;
    for (std::size_t b = 0; b < buckets_.size(); ++b) {
      seen += buckets_[b];
      if (seen >= std::max<std::uint64_t>(rank, 1)) return std::exp((static_cast<double>(b) + 0.5) * kLogStep) / 1e6;
    }
    return 0;
  }

 private:
  static constexpr double kLogStep = 0.01;     // ~1% per bucket
  std::array<std::uint64_t, 2400> buckets_{};  // 1 us .. ~26000 s
  std::uint64_t n_ = 0;
};

std::string human_seconds(double s) {
  if (s < 1e-3) return fmt::format("{:.0f} us", s * 1e6);
  if (s < 1) return fmt::format("{:.1f} ms", s * 1e3);
  return fmt::format("{:.2f} s", s);
}

struct Result {
  std::uint64_t seq = 0;
  std::string url;
  http::Response res;
  std::unique_ptr<Spool> body;  // --cat
  bool failed = false;          // transfer error (ERR)
  bool interrupted = false;
  std::string error;
  std::string path;
  unsigned attempts = 0;
};

// ---- the run ----------------------------------------------------------------

class Fetcher {
 public:
  explicit Fetcher(const FetchOptions& opt)
      : opt_(opt), out_(Output::out()), progress_("URL", "URLs", "error", "errors", !opt.no_progress) {
    base_.follow_redirects = opt.follow;
    base_.max_redirects = opt.max_redirs;
    base_.timeout = opt.timeout;
    base_.connect_timeout = opt.connect_timeout;
    base_.method = opt.method.value_or("");
    base_.headers = opt.headers;
    base_.low_speed_limit = opt.speed_time > Duration::zero() ? opt.speed_limit : 0;
    base_.low_speed_time = opt.speed_time;
    // Entries for one HOST:PORT add up (curl would keep only the last), so
    // a name with several addresses may come as several --resolve options.
    for (const auto& entry : opt.resolve) {
      const std::string key = resolve_key(entry);
      const std::string addrs = entry.substr(entry.find(':', entry.find(':') + 1) + 1);
      std::vector<std::string>& merged = resolve_[key];
      if (merged.empty())
        merged.push_back(key + ":" + addrs);
      else
        merged.front() += "," + addrs;
    }
    base_.data = opt.data;
    base_.version = opt.http11 ? http::Version::http1_1 : opt.http2 ? http::Version::http2 : http::Version::automatic;
    base_.ca_file = opt.cacert;
    base_.verify_tls = !opt.insecure;
    base_.user_agent = opt.user_agent;
    ordered_ = opt.ordered || opt.cat;
    if (ordered_) in_order_.emplace(std::max<std::size_t>(opt.concurrency * 4, 256));
  }

  int run() {
    if (!opt_.output_dir.empty()) make_output_dir();
    InputLines input(opt_.files);
    progress_.set_total(input.count_if_files());
    start_ = Clock::now();
    Pool pool(opt_.concurrency);
    bool interrupted = false;
    try {
      while (auto line = input.next()) {
        std::optional<http::Url> url;
        try {
          url = http::parse_url(line->text);
        } catch (const http::BadUrl& e) {
          ++bad_lines_;
          diag_error("{}:{}: {}: {}", line->source, line->lineno, input.overlong() ? "line too long" : e.what(),
                     printable(redact(line->text)));
          continue;
        }
        if (!in_shard(url->host, opt_.shard)) continue;
        // Read and not yet running in a greenlet (waiting for a slot, or
        // spawned but killed before it starts): reported if interrupted.
        const std::uint64_t seq = next_seq_++;
        unstarted_.emplace(seq, std::move(line->text));
        if (ordered_) in_order_->start();
        pool.spawn([this, seq, u = std::move(*url)]() mutable {
          std::string text = std::move(unstarted_.extract(seq).mapped());
          deliver(fetch_one(seq, std::move(text), u));
        });
      }
      pool.join();
      out_.flush();
    } catch (const GreenletExit&) {
      interrupted = true;  // SIGINT/SIGTERM or a closed stdout: stop, then report
    }
    if (interrupted) {
      pool.kill();
      report_interrupted();
    }
    out_.flush();  // after a stop it gives up on a reader that does not read
    progress_.finish();
    std::optional<std::size_t> unread;
    if (interrupted) unread = input.count_rest();
    if (!opt_.quiet && !out_.closed()) summary(interrupted, unread);  // `| head -n 1` ends quietly
    if (bad_lines_ > 0 || input.unreadable() > 0) return kExitUsage;
    return failures_ > 0 ? kExitFailure : kExitOk;
  }

 private:
  // Every URL read ends up on stdout and stderr, interrupted or not: those
  // still in flight, waiting to retry or waiting for a slot get an ERR line
  // ("interrupted"), and under --ordered/--cat the finished results held
  // back behind them come out too. Not when stdout was closed: whoever
  // read it wanted no more.
  void report_interrupted() {
    if (out_.closed()) return;
    for (auto& [seq, url] : unstarted_) killed_.push_back({seq, std::move(url), 0});
    unstarted_.clear();
    for (auto& k : killed_) {
      Result r;
      r.seq = k.seq;
      r.url = std::move(k.url);
      r.attempts = k.attempts;
      r.failed = true;
      r.error = "interrupted";
      r.interrupted = true;
      ++interrupted_;
      if (ordered_)
        in_order_->put(r.seq, std::move(r));
      else
        emit(r);
    }
    killed_.clear();
    if (ordered_)
      for (const Result& r : in_order_->take_all()) emit(r);
  }

  void make_output_dir() {
    std::string path;
    for (std::size_t i = 0; i <= opt_.output_dir.size(); ++i) {
      if (i == opt_.output_dir.size() || opt_.output_dir[i] == '/') {
        path = opt_.output_dir.substr(0, i);
        if (!path.empty() && ::mkdir(path.c_str(), 0755) != 0 && errno != EEXIST) {
          throw UsageError("-o: cannot create " + path + ": " + std::strerror(errno));
        }
      }
    }
    struct stat st {};
    if (::stat(opt_.output_dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
      throw UsageError("-o: " + opt_.output_dir + " is not a directory");
    }
    // Once here rather than once per URL: a file is really created (access()
    // would say yes to root on a read-only file system).
    std::string probe = opt_.output_dir + "/.green-fetch-probe.XXXXXX";
    const int fd = ::mkostemp(probe.data(), O_CLOEXEC);
    if (fd < 0) throw UsageError("-o: cannot write in " + opt_.output_dir + ": " + std::strerror(errno));
    ::close(fd);
    ::unlink(probe.c_str());
  }

  // Creates a new, empty file for `u` under the output directory and returns
  // its path: "name", then "name-1.ext", "name-2.ext", ... so neither earlier
  // results of this run nor files already there are overwritten.
  std::string reserve_file(const http::Url& u) {
    const std::string name = file_name_for(u);
    const auto dot = name.rfind('.');
    const std::string stem = dot == std::string::npos || dot == 0 ? name : name.substr(0, dot);
    const std::string ext = dot == std::string::npos || dot == 0 ? "" : name.substr(dot);
    std::size_t& n = name_counts_[name];
    for (int tries = 0; tries < 100000; ++tries, ++n) {
      const std::string candidate = opt_.output_dir + "/" + (n == 0 ? name : fmt::format("{}-{}{}", stem, n, ext));
      const int fd = ::open(candidate.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
      if (fd >= 0) {
        ::close(fd);
        ++n;
        return candidate;
      }
      if (errno != EEXIST) throw std::runtime_error("cannot create " + candidate + ": " + std::strerror(errno));
    }
    throw std::runtime_error("no free file name for " + name);
  }

  struct HostSlot {
    explicit HostSlot(std::size_t n) : sem(n) {}
    Semaphore sem;
    std::size_t users = 0;
  };

  // Holds one of --max-per-host slots for the URL's host for its lifetime.
  class HostGuard {
   public:
    HostGuard(Fetcher& f, const http::Url& u) : f_(f) {
      if (f.opt_.max_per_host == 0) return;
      key_ = u.host + ":" + u.port;
      auto& slot = f.hosts_[key_];
      if (!slot) slot = std::make_unique<HostSlot>(f.opt_.max_per_host);
      ++slot->users;
      slot_ = slot.get();
      try {
        slot_->sem.acquire();
      } catch (...) {
        drop();
        throw;
      }
      held_ = true;
    }
    ~HostGuard() {
      if (!slot_) return;
      if (held_) slot_->sem.release();
      drop();
    }
    HostGuard(const HostGuard&) = delete;
    HostGuard& operator=(const HostGuard&) = delete;

   private:
    void drop() noexcept {
      if (--slot_->users == 0) f_.hosts_.erase(key_);
      slot_ = nullptr;
    }
    Fetcher& f_;
    std::string key_;
    HostSlot* slot_ = nullptr;
    bool held_ = false;
  };

  static bool retryable(const std::error_code& ec, long status) {
    if (ec) {
      const auto c = http::classify(ec);
      return c == http::ErrorClass::connect || c == http::ErrorClass::timeout || c == http::ErrorClass::protocol;
    }
    return status == 429 || status >= 500;
  }

  // A partly written -o file is removed when its greenlet is killed.
  struct RemoveUnlessKept {
    const std::string* path;
    bool keep = false;
    ~RemoveUnlessKept() {
      if (!keep && path && !path->empty()) ::unlink(path->c_str());
    }
  };

  // Notes a URL whose greenlet is killed (SIGINT) before its result is
  // out, for report_interrupted. Runs during unwinding: never switches.
  struct NoteIfKilled {
    Fetcher& f;
    const Result& r;
    bool done = false;
    ~NoteIfKilled() {
      if (done) return;
      try {
        f.killed_.push_back({r.seq, r.url, r.attempts});
      } catch (...) {
      }
    }
  };

  Result fetch_one(std::uint64_t seq, std::string text, const http::Url& u) {
    Result r;
    r.seq = seq;
    r.url = std::move(text);
    NoteIfKilled note{*this, r};
    RemoveUnlessKept remove{&r.path};
    std::string failure;
    try {
      http::Request req = base_;
      req.url = r.url;
      if (!resolve_.empty()) {
        std::string key = u.host + ":" + u.port;
        for (char& c : key) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        if (auto it = resolve_.find(key); it != resolve_.end()) req.resolve = it->second;
      }
      if (!opt_.output_dir.empty()) {
        r.path = reserve_file(u);
        req.sink = http::Sink::file(r.path);
      } else if (opt_.cat) {
        r.body = std::make_unique<Spool>(cat_in_memory_, spare_bodies_);
        req.sink = http::Sink::callback([body = r.body.get()](std::string_view chunk) { return body->append(chunk); });
      } else {
        req.sink = http::Sink::discard();
      }
      HostGuard host(*this, u);
      const auto first = Clock::now();
      for (;;) {
        pacer_.wait();
        ++r.attempts;
        if (r.body) r.body->clear();
        std::error_code ec;
        r.res = http::fetch(req, ec);
        r.failed = static_cast<bool>(ec);
        r.error = r.body && !r.body->error().empty() ? r.body->error() : r.res.error;
        if (r.attempts > opt_.retries || !retryable(ec, r.res.status)) break;
        Duration wait = opt_.retry_delay * (1u << std::min(r.attempts - 1, 16u));
        if (r.res.retry_after) wait = *r.res.retry_after;
        if (Clock::now() + wait - first > opt_.retry_max_time) {
          // Past --retry-max-time: report this answer rather than wait (a
          // server's Retry-After may say an hour).
          if (r.res.retry_after) {
            diag_warn("{}: not retried: Retry-After {} is past --retry-max-time {}", printable(redact(r.url)),
                      format_duration(*r.res.retry_after), format_duration(opt_.retry_max_time));
          }
          break;
        }
        green::sleep(wait);
      }
    } catch (const std::exception& e) {
      failure = e.what();  // no switching in here: just note it
    }
    if (!failure.empty()) {
      r.failed = true;
      r.error = failure;
    }
    remove.keep = !r.failed;
    if (r.failed) r.path.clear();
    note.done = true;
    return r;
  }

  void deliver(Result r) {
    if (!ordered_) {
      emit(r);
      return;
    }
    in_order_->put(r.seq, std::move(r));
    // Writing parks while stdout is behind, and a --cat body is written in
    // pieces: one greenlet writes the results in turn, the others leave
    // theirs to it.
    if (emitting_) return;
    emitting_ = true;
    struct Done {
      bool& flag;
      ~Done() { flag = false; }
    } done{emitting_};
    while (std::optional<Result> next = in_order_->take()) emit(*next);
  }

  void emit(const Result& r) {
    ++done_;
    const long status = r.res.status;
    const bool ok = !r.failed && status >= 200 && status < 300;
    if (!ok) ++failures_;
    const std::string url = redact(r.url);
    if (r.failed) {
      ++errors_;
      diag_error("{}: {}", printable(url), r.error);
    } else if (status >= 100 && status < 600) {
      ++classes_[static_cast<std::size_t>(status / 100)];
    } else {
      ++classes_[0];
    }
    bytes_ += r.res.bytes;
    if (!r.interrupted) latency_.add(r.res.timings.total);
    const std::string seconds = format_seconds(r.res.timings.total);
    if (opt_.cat) {
      if (r.body) r.body->drain([this](std::string_view piece) { out_.write(piece); });
    } else if (opt_.json) {
      JsonWriter j;
      // url: the line as given (a password as ***); final_url: where the
      // redirects led, or url again when nothing answered.
      j.field("url", url_for_json(url)).field("final_url", url_for_json(r.res.url.empty() ? url : redact(r.res.url)));
      if (r.failed)
        j.field_null("status");
      else
        j.field("status", static_cast<std::int64_t>(status));
      j.field("bytes", static_cast<std::uint64_t>(r.res.bytes)).field_raw("time", seconds);
      if (r.failed)
        j.field("error", r.error);
      else
        j.field_null("error");
      if (r.path.empty())
        j.field_null("path");
      else
        j.field("path", r.path);
      j.field("attempts", r.attempts);
      if (r.res.http_version.empty())
        j.field_null("http_version");  // no response arrived
      else
        j.field("http_version", r.res.http_version);
      out_.line(j.finish());
    } else {
      std::string line = paint(r.failed ? std::string("ERR") : std::to_string(status), status_color(r), color_);
      fmt::format_to(std::back_inserter(line), "\t{}\t{}\t{}", r.res.bytes, seconds, url);
      if (!opt_.output_dir.empty()) line += "\t" + (r.path.empty() ? std::string("-") : r.path);
      out_.line(line);
    }
    progress_.update(done_, errors_);  // the summary's "errors": ERR lines, not a 404
  }

  // 2xx green, 3xx cyan, 4xx yellow, 5xx and transfer errors red.
  static Color status_color(const Result& r) {
    if (r.failed) return Color::red;
    switch (r.res.status / 100) {
      case 2:
        return Color::green;
      case 3:
        return Color::cyan;
      case 4:
        return Color::yellow;
      default:
        return Color::red;
    }
  }

  void summary(bool interrupted, std::optional<std::size_t> unread) {
    const double elapsed = std::chrono::duration<double>(Clock::now() - start_).count();
    const double rps = elapsed > 0 ? static_cast<double>(done_) / elapsed : 0;
    // Every URL read has a line (report_interrupted); what was never read is counted, so the numbers add up.
    const std::string stopped =
        interrupted ? fmt::format(" (interrupted; {} not read)",
                                  unread ? count_of(*unread, "input line") : std::string("the rest of the input"))
                    : std::string();
    diag_summary("{} in {:.2f} s ({:.0f} requests/s), {} received{}", count_of(done_, "URL"), elapsed, rps,
         human_bytes(bytes_), stopped);
    diag_summary("status 1xx {}  2xx {}  3xx {}  4xx {}  5xx {}  errors {}{}{}", classes_[1], classes_[2], classes_[3],
         classes_[4], classes_[5], errors_, bad_lines_ ? fmt::format("  bad lines {}", bad_lines_) : std::string(),
         interrupted_ ? fmt::format("  interrupted {}", interrupted_) : std::string());
    if (done_ > 0) {
      diag_summary("latency p50 {}  p90 {}  p99 {}", human_seconds(latency_.percentile(50)),
           human_seconds(latency_.percentile(90)), human_seconds(latency_.percentile(99)));
    }
  }

  const FetchOptions& opt_;
  Output& out_;
  const bool color_ = color_stdout();
  Progress progress_;
  http::Request base_;
  Pacer pacer_{opt_.rate};  // --rate
  bool ordered_ = false;
  std::uint64_t cat_in_memory_ = 0;          // before in_order_: its Spools count down into it
  SpareBuffers spare_bodies_;                // before in_order_: its Spools give their buffers back
  std::optional<InOrder<Result>> in_order_;  // --ordered, --cat
  std::uint64_t next_seq_ = 0;
  std::unordered_map<std::string, std::unique_ptr<HostSlot>> hosts_;
  std::unordered_map<std::string, std::size_t> name_counts_;
  std::unordered_map<std::string, std::vector<std::string>> resolve_;  // --resolve by "host:port"
  struct Killed {
    std::uint64_t seq;
    std::string url;
    unsigned attempts;
  };
  std::vector<Killed> killed_;
  std::map<std::uint64_t, std::string> unstarted_;
  bool emitting_ = false;  // a greenlet is writing the --ordered results in turn
  std::size_t interrupted_ = 0;
  Clock::time_point start_{};
  std::size_t done_ = 0;
  std::size_t failures_ = 0;
  std::size_t errors_ = 0;
  std::size_t bad_lines_ = 0;
  std::array<std::size_t, 6> classes_{};
  std::uint64_t bytes_ = 0;
  Latency latency_;
};

int run_fetch(const FetchOptions& opt) {
  if (opt.cat && opt.json) throw UsageError("--cat and --json both write to stdout; pick one");
  if (opt.cat && !opt.output_dir.empty()) throw UsageError("--cat and -o both take the bodies; pick one");
  if (opt.http11 && opt.http2) throw UsageError("--http1.1 and --http2 exclude each other");
  for (const auto& h : opt.headers) check_header(h);
  if (opt.method && !is_token(*opt.method)) {
    throw UsageError("-X: '" + printable(*opt.method) + "' is not an HTTP method (" + kTokenChars + ")");
  }
  for (const auto& entry : opt.resolve) resolve_key(entry);
  return run_tool([&] {
    Fetcher f(opt);
    return f.run();
  });
}

}  // namespace

void setup_fetch(CLI::App& app, int& status) {
  auto opt = std::make_shared<FetchOptions>();
  CLI::App* sub = app.add_subcommand("fetch", "Fetch many URLs concurrently (one per line from FILEs or stdin)");
  sub->footer(
      "Output: one line per URL, STATUS<TAB>BYTES<TAB>SECONDS<TAB>URL (STATUS is ERR for transfer errors,\n"
      "whose reason goes to stderr); with -o a fifth field holds the saved file's path. Lines come as\n"
      "requests complete (in input order with --ordered); a summary goes to stderr at the end.\n"
      "Retries (--retries) apply to connection errors, timeouts, 429 and 5xx; the wait doubles from\n"
      "--retry-delay each time, or follows the server's Retry-After, within --retry-max-time of the first try.\n"
      "A transfer that gets no byte for 60 s (--speed-time, --speed-limit) fails as stalled.\n"
      "On SIGINT every URL read and not finished gets an ERR line (\"interrupted\").\n"
      "Passwords in user:password@ URLs show as *** on stdout and stderr.\n"
      "Exit status: 0 every URL answered 2xx (after redirects), 1 some did not, 2 usage error or bad\n"
      "input lines (reported as FILE:LINE and skipped), 130 on SIGINT.");
  sub->add_option("files", opt->files, "Files with one URL per line ('-' or none: stdin)")->type_name("FILE");
  sub->add_option("-c,--concurrency", opt->concurrency, "Requests in flight at once (the Pool size)")
      ->capture_default_str()
      ->check(CLI::Range(std::size_t{1}, std::size_t{10000}));
  sub->add_option("--max-per-host", opt->max_per_host, "At most N requests in flight per host:port (0: no cap)")
      ->check(CLI::Range(std::size_t{0}, std::size_t{10000}));
  add_rate_option(sub, opt->rate, "Start at most N requests per second on average (N/s, N/m, N/h)");
  add_duration_option(sub, "--timeout", opt->timeout,
                      "Give up a transfer after DUR (connecting included; default none)");
  add_duration_option(sub, "--connect-timeout", opt->connect_timeout, "Give up connecting after DUR (default 30s)");
  add_duration_option(sub, "--speed-time", opt->speed_time,
                      "Give up a transfer slower than --speed-limit for DUR, waiting for the answer included "
                      "(default 1m; 0: never)");
  sub->add_option("--speed-limit", opt->speed_limit, "Bytes per second --speed-time counts as too slow")
      ->capture_default_str()
      ->type_name("BYTES")
      ->check(CLI::Range(1L, 1L << 40));
  sub->add_option("--retries", opt->retries, "Retry transient failures up to N times")
      ->capture_default_str()
      ->check(CLI::Range(0u, 100u));
  add_duration_option(sub, "--retry-delay", opt->retry_delay,
                      "First wait before a retry, doubled each time (default 1s)");
  add_duration_option(sub, "--retry-max-time", opt->retry_max_time,
                      "Retry only while the retry would start within DUR of the first try; a longer "
                      "Retry-After ends the retries (default 1m)");
  sub->add_flag("-L,--location{true},--no-location{false}", opt->follow,
                "Follow redirects (the default) or not (--no-location)");
  sub->add_option("--max-redirs", opt->max_redirs, "Follow at most N redirects")
      ->capture_default_str()
      ->check(CLI::Range(0L, 1000L));
  sub->add_option("-X,--request", opt->method, "HTTP method (default GET, or POST with -d)")->type_name("METHOD");
  sub->add_option("-H,--header", opt->headers, "Extra request header 'Name: value' (repeatable)")
      ->type_name("HEADER")
      ->allow_extra_args(false);
  sub->add_option("--resolve", opt->resolve,
                  "Connect to ADDR for HOST:PORT instead of resolving HOST, as curl's --resolve (repeatable)")
      ->type_name("HOST:PORT:ADDR")
      ->allow_extra_args(false);
  sub->add_option("-d,--data", opt->data, "Send DATA as the request body (POST unless -X)")->type_name("DATA");
  sub->add_flag("--http1.1", opt->http11, "Use HTTP/1.1 only");
  sub->add_flag("--http2", opt->http2, "Ask for HTTP/2 (TLS: via ALPN; cleartext: an h2c upgrade offer)");
  sub->add_option("--cacert", opt->cacert, "Verify servers with the CA certificates in FILE (PEM)")
      ->type_name("FILE")
      ->check(CLI::ExistingFile);
  sub->add_flag("-k,--insecure", opt->insecure, "Do not verify TLS certificates");
  sub->add_option("-A,--user-agent", opt->user_agent, "User-Agent header")
      ->type_name("AGENT")
      ->capture_default_str();
  sub->add_option("-o,--output-dir", opt->output_dir, "Save each body in DIR under a safe, unique name")
      ->type_name("DIR");
  sub->add_flag("--cat", opt->cat, "Write the bodies to stdout, in input order, instead of result lines");
  sub->add_flag("--ordered", opt->ordered, "Print results in input order (default: as they complete)");
  sub->add_flag("--json", opt->json,
                "One JSON object per URL: url, final_url, status, bytes, time, error, path, attempts, http_version");
  sub->add_flag("--no-progress", opt->no_progress, "No progress line on stderr (shown only on a terminal)");
  sub->add_flag("-q,--quiet", opt->quiet, "No summary on stderr");
  add_shard_option(sub, opt->shard);
  sub->final_callback([opt, &status] { status = run_fetch(*opt); });
}

GREEN_SUBCOMMAND(fetch, setup_fetch);

}  // namespace green::tools
