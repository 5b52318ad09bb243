// `green resolve`: resolve names (and IP addresses, by PTR) read one per
// line, many at once, on green::dns.
//
// One greenlet per query in a Pool of --concurrency; the feeder paces sends
// (--rate) and, with --ordered, also waits while too many finished results
// are held back for order, so memory stays flat however long the input.
//
// Flow control lives in green::dns (a window per server that grows while
// answers come back and halves when the server drops queries). --concurrency
// caps that window; the pool of greenlets is larger (kPoolFactor), so that
// queries a silent server leaves unanswered wait for their timeouts together
// instead of holding up the names behind them.
#include "common/cli_docs.hpp"
#include "common/duration.hpp"
#include "common/input.hpp"
#include "common/json.hpp"
#include "common/output.hpp"
#include "common/progress.hpp"
#include "common/rate.hpp"
#include "common/run.hpp"
#include "common/shard.hpp"
#include "common/subcommand.hpp"

#include <green/dns.hpp>
#include <green/green.hpp>
#include <green/in_order.hpp>

#include <fmt/format.h>
#include <CLI/CLI.hpp>

#include <arpa/inet.h>

#include <cctype>
#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace green::tools {

namespace {

using namespace std::chrono_literals;

struct ResolveOptions {
  std::vector<std::string> files;
  std::string types = "A";
  std::size_t concurrency = 500;
  std::vector<std::string> servers;
  Duration timeout = 2s;
  int retries = 1;
  double rate = 0;  // per second; 0: no limit
  bool ordered = false;
  bool json = false;
  bool addresses = false;
  bool no_progress = false;
  bool quiet = false;
  int sockets = 1;
  Shard shard;
};

std::vector<dns::Type> parse_types(const std::string& list) {
  std::vector<dns::Type> out;
  std::size_t start = 0;
  while (start <= list.size()) {
    std::size_t comma = list.find(',', start);
    if (comma == std::string::npos) comma = list.size();
    const std::string item = list.substr(start, comma - start);
    const auto t = dns::parse_type(item);
    if (!t) {
      throw UsageError("--type: unknown record type '" + item +
                       "' (want a comma-separated list of A, AAAA, CNAME, MX, NS, TXT, SOA, PTR, SRV, CAA)");
    }
    bool seen = false;
    for (dns::Type x : out) seen = seen || x == *t;
    if (!seen) out.push_back(*t);
    start = comma + 1;
  }
  return out;
}

struct Counts {
  std::size_t names = 0;    // valid input lines
  std::size_t wanted = 0;   // names x types
  std::size_t queries = 0;  // started
  std::size_t done = 0;     // queries finished
  std::size_t records = 0;  // answer lines written
  std::size_t bad_lines = 0;
  std::size_t by_status[7] = {};
  std::size_t failed() const { return done - by_status[static_cast<int>(dns::Status::ok)]; }
};

// What the answers for one name's several types have said already, so that
// the CNAME chain and NXDOMAIN they share are printed once.
struct NameFacts {
  bool chain_printed = false;
  bool nxdomain_reported = false;
};

struct Job {
  std::string input;  // the line as given (a name or an IP address)
  std::string qname;  // what is asked (the reverse name for an address, the xn-- form of an IDN)
  dns::Type type;
  bool literal = false;  // --addresses: the line is an address already, nothing to ask
  bool idn = false;      // qname is the ASCII form of input
  std::shared_ptr<NameFacts> facts;  // with several types
};

// One query's output: its CNAME chain apart, so a name's later types can
// leave it out.
struct Result {
  std::string chain;
  std::string text;
  std::string problem;
  Severity severity = Severity::info;
  bool nxdomain = false;
  std::shared_ptr<NameFacts> facts;
};

// --addresses prints the final A/AAAA addresses only.
void check_address_types(const std::vector<dns::Type>& types) {
  for (dns::Type t : types) {
    if (t != dns::Type::a && t != dns::Type::aaaa) {
      throw UsageError("--addresses prints A and AAAA answers: --type " + dns::type_name(t) +
                       " does not fit (want A, AAAA or A,AAAA)");
    }
  }
}

class Resolve {
 public:
  explicit Resolve(const ResolveOptions& opt)
      : opt_(opt),
        types_(parse_types(opt.types)),
        resolver_(make_resolver(opt)),
        out_(Output::out()),
        progress_("query", "queries", "not NOERROR", "not NOERROR", !opt.no_progress),
        pool_(kPoolFactor * opt.concurrency),
        in_order_(opt.ordered ? std::max<std::size_t>(4 * opt.concurrency, 1024) : 0) {}

  int run() {
    InputLines in(opt_.files);
    if (progress_.active()) {
      if (auto total = in.count_if_files()) progress_.set_total(*total * types_.size());
    }
    const auto start = Clock::now();
    bool interrupted = false;
    try {
      feed(in);
      pool_.join();
      out_.flush();
    } catch (const GreenletExit&) {
      interrupted = true;
    }
    if (interrupted) pool_.kill();
    flush_ordered();
    out_.flush();  // after a stop it gives up on a reader that does not read
    progress_.finish();
    std::optional<std::size_t> unread;
    if (interrupted) unread = in.count_rest();
    if (!opt_.quiet && !out_.closed()) summary(Clock::now() - start, interrupted, unread);  // `| head -n 1` ends quietly
    if (interrupted) throw GreenletExit();
    if (counts_.bad_lines > 0 || in.unreadable() > 0) return kExitUsage;
    return counts_.failed() > 0 ? kExitFailure : kExitOk;
  }

 private:
  static dns::Resolver make_resolver(const ResolveOptions& opt) {
    dns::Options o;
    o.servers = opt.servers;
    o.timeout = opt.timeout;
    o.tries = opt.retries + 1;
    o.sockets_per_server = opt.sockets;
    o.max_in_flight = opt.concurrency;
    if (opt.timeout < std::chrono::milliseconds(1)) {
      throw UsageError("--timeout: " + format_duration(opt.timeout) + " is too short (want at least 1ms)");
    }
    try {
      return dns::Resolver(o);
    } catch (const std::invalid_argument& e) {
      throw UsageError(std::string("--server: ") + e.what());
    }
  }

  void feed(InputLines& in) {
    Pacer pacer(opt_.rate);
    while (!stop_requested()) {
      std::optional<InputLine> line = in.next();
      if (!line) break;
      if (!opt_.shard.all() && !in_shard(line->text, opt_.shard)) continue;
      std::string qname;
      bool is_address = false;
      std::string why;
      if (auto rev = dns::reverse_name(line->text)) {
        qname = std::move(*rev);
        is_address = true;
      } else if (in.overlong()) {
        why = "name longer than 253 bytes";
      } else if (auto ascii = dns::to_ascii(line->text, &why)) {
        qname = std::move(*ascii);
        if (const char* bad = dns::name_error(qname)) why = bad;
      }
      if (!why.empty()) {
        ++counts_.bad_lines;
        diag_error("{}:{}: invalid name '{}': {}", line->source, line->lineno, printable(line->text), why);
        continue;
      }
      ++counts_.names;
      const std::size_t ntypes = is_address ? 1 : types_.size();
      auto facts = ntypes > 1 ? std::make_shared<NameFacts>() : nullptr;
      counts_.wanted += ntypes;
      const bool idn = !is_address && qname != line->text;
      for (std::size_t i = 0; i < ntypes; ++i) {
        // The last (most often the only) type takes the strings instead of copies.
        const bool last = i + 1 == ntypes;
        Job job{last ? std::move(line->text) : line->text, last ? std::move(qname) : qname,
                is_address ? dns::Type::ptr : types_[i], is_address && opt_.addresses, idn, facts};
        pacer.wait();
        if (opt_.ordered) in_order_.start();
        if (!job.literal) resolver_.wait_for_room();
        const std::size_t seq = counts_.queries++;
        pool_.spawn([this, seq, job = std::move(job)]() mutable { work(seq, std::move(job)); });
      }
    }
  }

  void work(std::size_t seq, Job job) {
    dns::Answer a = job.literal ? literal_answer(job) : resolver_.query(job.qname, job.type);
    Result r;
    format(job, a, r);
    ++counts_.done;
    ++counts_.by_status[static_cast<int>(a.status)];
    counts_.records += a.records.size();
    // A name that does not exist is an answer (yellow); no answer at all is an error (red).
    r.severity =
        a.status == dns::Status::nxdomain || a.status == dns::Status::nodata ? Severity::warning : Severity::error;
    r.nxdomain = a.status == dns::Status::nxdomain;
    r.facts = std::move(job.facts);
    if (!a.ok() && !opt_.json) {
      r.problem = a.status == dns::Status::error
                      ? fmt::format("{} {}: ERROR ({})", job.input, dns::type_name(job.type), a.error)
                      : fmt::format("{} {}: {}", job.input, dns::type_name(job.type), dns::status_name(a.status));
    }
    if (opt_.ordered) {
      in_order_.put(seq, std::move(r));
      flush_ordered();
    } else {
      emit(r);
    }
    progress_.update(counts_.done, counts_.failed());  // every status but the summary's NOERROR
  }

  // Writes a result; of a name's several types the first to be written
  // carries the CNAME chain and the NXDOMAIN report they share.
  void emit(const Result& r) {
    NameFacts* f = r.facts.get();
    if (!r.chain.empty() && !(f && f->chain_printed)) {
      if (f) f->chain_printed = true;
      // One write: writing may park, and the chain stays next to its records.
      out_.write(r.chain + r.text);
    } else if (!r.text.empty()) {
      out_.write(r.text);  // not copied first: most answers have no chain
    }
    if (r.problem.empty()) return;
    if (r.nxdomain && f) {
      if (f->nxdomain_reported) return;
      f->nxdomain_reported = true;
    }
    diag_line(r.problem, r.severity);
  }

  void flush_ordered() {
    // Taken out before it is written: writing parks while stdout is behind,
    // and another greenlet may flush meanwhile.
    while (std::optional<Result> r = in_order_.take()) emit(*r);
  }

  // An address line under --addresses: its own answer, no query.
  static dns::Answer literal_answer(const Job& job) {
    dns::Answer a;
    a.name = job.input;
    a.status = dns::Status::ok;
    dns::Record r;
    r.name = job.input;
    if (dns::A v4; inet_pton(AF_INET, job.input.c_str(), v4.addr) == 1) {
      r.type = static_cast<std::uint16_t>(dns::Type::a);
      r.data = v4;
    } else {
      dns::AAAA v6;
      inet_pton(AF_INET6, job.input.c_str(), v6.addr);
      r.type = static_cast<std::uint16_t>(dns::Type::aaaa);
      r.data = v6;
    }
    a.type = static_cast<dns::Type>(r.type);
    a.records.push_back(std::move(r));
    return a;
  }

  void format(const Job& job, const dns::Answer& a, Result& out) const {
    std::string& s = out.text;
    if (opt_.addresses) {
      // The addresses the name ends at: no CNAME steps, no reverse names.
      for (const auto& r : a.records) {
        if (r.type != static_cast<std::uint16_t>(dns::Type::a) && r.type != static_cast<std::uint16_t>(dns::Type::aaaa))
          continue;
        s += job.input;
        s += '\t';
        s += r.value();
        s += '\n';
      }
      return;
    }
    if (opt_.json) {
      JsonWriter j;
      j.field("name", job.input);
      if (job.qname != job.input) j.field("query", job.qname);
      j.field("type", dns::type_name(job.type)).field("status", dns::status_name(a.status));
      if (a.status == dns::Status::error) j.field("error", a.error);
      j.begin_array("answers");
      for (const auto& r : a.records) {
        j.begin_object()
            .field("name", r.name)
            .field("type", dns::type_name(r.type))
            .field("ttl", static_cast<std::uint64_t>(r.ttl))
            .field("value", r.value())
            .end_object();
      }
      j.end_array();
      s = j.finish();
      s += '\n';
      return;
    }
    // Room for the usual line (NAME A TTL ADDRESS) at once, instead of
    // growing through two reallocations.
    if (!a.records.empty()) s.reserve(64 * a.records.size());
    for (const auto& r : a.records) {
      std::string& line = r.type == static_cast<std::uint16_t>(dns::Type::cname) ? out.chain : s;
      // An IDN's own records under the name as given, not its xn-- form.
      line += job.idn && same_name(r.name, job.qname) ? job.input : r.name;
      line += '\t';
      line += dns::type_name(r.type);
      line += '\t';
      line += std::to_string(r.ttl);
      line += '\t';
      line += r.value();
      line += '\n';
    }
  }

  static bool same_name(std::string_view a, std::string_view b) {
    if (!a.empty() && a.back() == '.') a.remove_suffix(1);
    if (!b.empty() && b.back() == '.') b.remove_suffix(1);
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i) {
      if (std::tolower(static_cast<unsigned char>(a[i])) != std::tolower(static_cast<unsigned char>(b[i]))) return false;
    }
    return true;
  }

  void summary(Duration elapsed, bool interrupted, std::optional<std::size_t> unread) {
    const double secs = std::chrono::duration<double>(elapsed).count();
    std::string line = fmt::format("{}, {}, {}", count_of(counts_.names, "name"),
                                   count_of(counts_.done, "query", "queries"), count_of(counts_.records, "answer"));
    for (auto st : {dns::Status::ok, dns::Status::nxdomain, dns::Status::nodata, dns::Status::servfail,
                    dns::Status::refused, dns::Status::timeout, dns::Status::error}) {
      line += fmt::format(", {} {}", dns::status_name(st), counts_.by_status[static_cast<int>(st)]);
    }
    if (counts_.bad_lines) line += ", " + count_of(counts_.bad_lines, "bad input line");
    line += fmt::format("; {:.2f} s, {:.0f} queries/s", secs, secs > 0 ? counts_.done / secs : 0.0);
    if (interrupted) {
      // What the run never got to, so the numbers add up to the input.
      line += fmt::format(" (interrupted; {} not finished, {} not read)",
                          count_of(counts_.wanted - counts_.done, "query", "queries"),
                          unread ? count_of(*unread, "input line") : std::string("the rest of the input"));
    }
    diag_line(line, Severity::info, /*keep=*/true);
  }

  static constexpr std::size_t kPoolFactor = 4;

  const ResolveOptions& opt_;
  std::vector<dns::Type> types_;
  dns::Resolver resolver_;
  Output& out_;
  Progress progress_;
  Pool pool_;
  InOrder<Result> in_order_;  // --ordered
  Counts counts_;
};

int run_resolve(const ResolveOptions& opt) {
  if (opt.addresses) check_address_types(parse_types(opt.types));
  return run_tool([&] {
    Resolve r(opt);
    return r.run();
  });
}

}  // namespace

void setup_resolve(CLI::App& app, int& status) {
  auto opt = std::make_shared<ResolveOptions>();
  CLI::App* sub = app.add_subcommand(
      "resolve",
      "Resolve names (and IP addresses, by PTR) read one per line, many at once; one line per answer record");
  sub->add_option("files", opt->files, "Files of names, one per line; '-' or none: stdin")->type_name("FILE");
  CLI::Option* type_opt = sub->add_option("-t,--type", opt->types, "Record types to ask for, comma-separated")
                              ->type_name("TYPES")
                              ->capture_default_str();
  completion_values(type_opt, {"A", "AAAA", "CNAME", "MX", "NS", "TXT", "SOA", "PTR", "SRV", "CAA"}, true);
  sub->add_option("-c,--concurrency", opt->concurrency,
                  "Queries in flight to one server at most: the window starts small, grows while answers come back "
                  "and halves when the server drops queries; queries a silent server leaves unanswered wait for "
                  "their timeouts outside it (up to 4N)")
      ->type_name("N")
      ->capture_default_str()
      ->check(CLI::Range(std::size_t{1}, std::size_t{100000}));
  sub->add_option("--server", opt->servers,
                  "DNS server ADDR[:PORT] ([ADDR6]:PORT for IPv6); repeat for more: SERVFAIL, REFUSED and "
                  "timeouts move on to the next. Default: the servers of /etc/resolv.conf")
      ->type_name("ADDR[:PORT]")
      ->allow_extra_args(false);
  add_duration_option(sub, "--timeout", opt->timeout, "How long one try waits for an answer");
  sub->add_option("--retries", opt->retries, "Extra tries per server after a timeout")
      ->type_name("N")
      ->capture_default_str()
      ->check(CLI::Range(0, 20));
  add_rate_option(sub, opt->rate, "Send at most N queries per second on average (N/s, N/m, N/h; default: no limit)");
  sub->add_option("--sockets", opt->sockets,
                  "UDP sockets per server, used in turn (a multi-threaded server spreads them over its threads)")
      ->type_name("N")
      ->capture_default_str()
      ->check(CLI::Range(1, 64));
  add_shard_option(sub, opt->shard);
  sub->add_flag("--ordered", opt->ordered, "Write results in input order (default: as they complete)");
  CLI::Option* json_opt =
      sub->add_flag("--json", opt->json, "JSON Lines: one object per name and type with its status and answers, always");
  sub->add_flag("--addresses", opt->addresses,
                "Print NAME<TAB>ADDRESS for each final A/AAAA address of each name (the name as given; no CNAME "
                "steps; an address line is printed as its own address), for piping into other tools")
      ->excludes(json_opt);
  sub->add_flag("--no-progress", opt->no_progress, "No progress line on stderr (shown only on a terminal)");
  sub->add_flag("-q,--quiet", opt->quiet, "No summary on stderr");
  sub->footer(
      "Output: NAME<TAB>TYPE<TAB>TTL<TAB>VALUE per answer record (CNAMEs of a chain first). Names without an "
      "answer are reported on stderr with their outcome (NXDOMAIN, NODATA, SERVFAIL, REFUSED, TIMEOUT, ERROR); "
      "a summary follows at the end.\n"
      "Exit status: 0 every query answered, 1 some did not, 2 usage error or bad input lines (reported with "
      "FILE:LINE; the run goes on).");
  sub->final_callback([opt, &status] { status = run_resolve(*opt); });
}

GREEN_SUBCOMMAND(resolve, setup_resolve);

}  // namespace green::tools
