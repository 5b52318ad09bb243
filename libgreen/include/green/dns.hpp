// DNS on the hub: a c-ares channel whose sockets and timeouts are watched by
// the hub, so a query parks only the greenlet that asked.
//
//     green::dns::Resolver r({.servers = {"127.0.0.1:5353"}, .timeout = 1s});
//     green::dns::Answer a = r.query("example.com", green::dns::Type::mx);
//     if (a.status == green::dns::Status::ok)
//       for (const auto& rec : a.records) std::cout << rec.value() << '\n';
//
// Outcomes are values, not exceptions: NXDOMAIN, NODATA, SERVFAIL, REFUSED,
// timeout and other failures come back as Answer::status. Only a kill or a
// Timeout scope of the caller raises (and abandons the query).
#pragma once

#include <green/detail/core.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <variant>
#include <vector>

namespace green::dns {

/// The record types green understands (their DNS type numbers).
enum class Type : std::uint16_t {
  a = 1,
  ns = 2,
  cname = 5,
  soa = 6,
  ptr = 12,
  mx = 15,
  txt = 16,
  aaaa = 28,
  srv = 33,
  caa = 257,
};

/// "A", "AAAA", ...; "TYPE65" for a number green has no name for.
std::string type_name(std::uint16_t type);
inline std::string type_name(Type t) { return type_name(static_cast<std::uint16_t>(t)); }

/// Parses a type name case-insensitively ("mx", "AAAA"); nullopt if unknown.
std::optional<Type> parse_type(std::string_view text);

/// How a query ended.
enum class Status {
  ok,        ///< NOERROR with at least one record of the asked type
  nxdomain,  ///< the name does not exist
  nodata,    ///< the name exists but has no record of that type (NOERROR, empty)
  servfail,  ///< every server tried answered SERVFAIL
  refused,   ///< every server tried answered REFUSED
  timeout,   ///< no answer within timeout x tries
  error,     ///< anything else (bad name, connection refused, malformed reply...): see Answer::error
};

/// "NOERROR", "NXDOMAIN", "NODATA", "SERVFAIL", "REFUSED", "TIMEOUT", "ERROR".
const char* status_name(Status s) noexcept;

// ---- typed record data --------------------------------------------------
// Names are in presentation form without the trailing dot ("mail.example.com";
// the root is "."); bytes outside letters, digits, '-', '_' and '*' are
// escaped as \DDD, a dot inside a label as "\.".

struct A {
  std::uint8_t addr[4];
};
struct AAAA {
  std::uint8_t addr[16];
};
struct CNAME {
  std::string target;
};
struct NS {
  std::string host;
};
struct PTR {
  std::string name;
};
struct MX {
  std::uint16_t preference;
  std::string exchange;
};
struct TXT {
  std::vector<std::string> strings;  ///< raw character-strings, unescaped
};
struct SOA {
  std::string mname;
  std::string rname;
  std::uint32_t serial, refresh, retry, expire, minimum;
};
struct SRV {
  std::uint16_t priority, weight, port;
  std::string target;
};
struct CAA {
  std::uint8_t flags;
  std::string tag;
  std::string value;
};
/// A record of a type without a parser above (e.g. DNAME): its raw rdata.
struct Unknown {
  std::string rdata;
};

using Data = std::variant<A, AAAA, CNAME, NS, PTR, MX, TXT, SOA, SRV, CAA, Unknown>;

/// One resource record of the answer section.
struct Record {
  std::string name;        ///< owner name
  std::uint16_t type = 0;  ///< DNS type number (see Type)
  std::uint32_t ttl = 0;   ///< seconds
  Data data;

  /// The record's data in presentation form, as dig prints it but without
  /// trailing dots: "192.0.2.1", "10 mail.example.com", "\"a\" \"b\"",
  /// "0 issue \"ca.example\"", "\\# 3 010203" for Unknown.
  std::string value() const;
};

/// The result of one query.
struct Answer {
  std::string name;     ///< the name asked for
  Type type = Type::a;  ///< the type asked for
  Status status = Status::error;
  /// The answer section in order: CNAMEs leading to the name's records come
  /// first; NXDOMAIN and NODATA answers can still carry the CNAME chain.
  std::vector<Record> records;
  std::string error;  ///< why, when status is error (empty otherwise)
  /// The system error behind Status::error when there is one
  /// (std::errc::connection_refused), else empty. Compare this, not `error`.
  std::error_code code;

  bool ok() const noexcept { return status == Status::ok; }
};

/// Why `name` cannot be queried ("empty label", "label longer than 63
/// bytes", "invalid byte 0x07", ...), or nullptr if it is a valid name. A
/// single trailing dot is allowed.
const char* name_error(std::string_view name) noexcept;

/// The ASCII form of a name with non-ASCII (UTF-8) labels, as browsers
/// make it (IDNA2008 with UTS #46 mapping, libidn2): "bücher.example" is
/// "xn--bcher-kva.example". An ASCII name comes back unchanged. nullopt if
/// the name cannot be converted; `why` (if given) then says why.
std::optional<std::string> to_ascii(std::string_view name, std::string* why = nullptr);

/// The reverse-lookup name of an IPv4 or IPv6 address ("1.2.0.192.in-addr.arpa",
/// nibbles under ip6.arpa); nullopt if `text` is not an IP address.
std::optional<std::string> reverse_name(std::string_view text);

struct Options {
  /// Servers as "ADDR" or "ADDR:PORT" (IPv6: "[ADDR]:PORT"); queries go to
  /// the first and move to the next on SERVFAIL, REFUSED, timeout or a
  /// connection error. Empty: the servers of /etc/resolv.conf.
  std::vector<std::string> servers;
  /// How long one try waits for an answer.
  Duration timeout = std::chrono::seconds(2);
  /// Tries per server, each waiting `timeout`: a run against a dead server
  /// ends after timeout x tries. (Within a try a dropped datagram is sent
  /// again as soon as it is seen to be lost; see Resolver.)
  int tries = 2;
  /// Every query over TCP (otherwise only truncated UDP answers are re-asked
  /// over TCP).
  bool use_tcp = false;
  /// SO_RCVBUF asked for the UDP sockets, so a burst of answers is not
  /// dropped by the kernel before the hub reads it (capped by rmem_max).
  int udp_receive_buffer = 4 << 20;
  /// Sockets (c-ares channels) per server, used in turn. A server with
  /// several worker threads usually spreads clients over them by source
  /// port (SO_REUSEPORT), so more sockets let it answer faster.
  int sockets_per_server = 1;
  /// Queries in flight to one server at most (shared by its sockets). The
  /// window below this starts at 16, grows while answers come back and
  /// halves when the server drops queries; a silent server does not hold
  /// it (see Resolver).
  std::size_t max_in_flight = 500;
};

/// A c-ares channel on the calling thread's hub. Any number of greenlets of
/// that hub may query it at once; each query parks only its own greenlet.
/// Must be created and destroyed inside green::run, on the hub it serves.
///
/// Flow control, per server socket: a window of queries in flight starts at
/// 16, grows by one per answer (then by one per window of answers once a
/// loss was seen) up to max_in_flight, and halves when the server drops
/// queries, as TCP's congestion window does. A query is taken as dropped
/// when one sent after it was answered and it waited that one's round trip
/// plus a reordering allowance (RACK, RFC 8985); it is then sent again at
/// once, so a drop costs a round trip, not a timeout. A server that answers
/// nothing for half a timeout (at most 1 s) is silent: its window stops
/// counting until it answers again (one query is asked again each such
/// period, to notice), so its queries time out together. When it answers
/// again the window starts over at 16, as TCP's does after a retransmission
/// timeout, and what it left unanswered is sent again through it.
class Resolver {
 public:
  /// Throws std::invalid_argument naming a malformed server, or
  /// std::runtime_error if c-ares cannot set up the channel.
  explicit Resolver(Options options = {});
  /// Ends outstanding queries: their greenlets wake with Status::error.
  /// Never switches.
  ~Resolver();
  Resolver(const Resolver&) = delete;
  Resolver& operator=(const Resolver&) = delete;

  /// Asks for `type` records of `name` and parks until the answer, the last
  /// try's timeout, or a failure; every outcome is in the Answer. Switch
  /// point: a kill or Timeout raises here and abandons the query (its late
  /// answer is dropped).
  Answer query(std::string_view name, Type type);

  /// Parks until the first server's window has room for one more query and
  /// keeps that room for the next query(). For a caller that spawns a
  /// greenlet per query: the queries then wait here, in one greenlet,
  /// instead of in as many greenlets as are waiting. Switch point.
  void wait_for_room();

  /// Queries sent and not answered yet (including abandoned ones).
  std::size_t outstanding() const noexcept;

  /// The servers in use, as "ADDR:PORT".
  std::vector<std::string> servers() const;

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace green::dns
