// green::dns against a real authoritative server: Knot DNS on a loopback
// port, serving the zones written by tests/dns/knot.sh. Every expected value
// below is a record of those zones. The resolver is always given its
// servers, so c-ares never reads /etc/resolv.conf here.
#include <green/dns.hpp>
#include <green/net.hpp>

#include "green_test.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <fstream>
#include <iterator>
#include <set>
#include <string>
#include <thread>
#include <vector>

#ifndef GREEN_SOURCE_DIR
#error "GREEN_SOURCE_DIR must point at the source tree (for tests/dns/knot.sh)"
#endif

namespace {

using green::dns::Answer;
using green::dns::Resolver;
using green::dns::Status;
using green::dns::Type;

// A UDP socket bound to a free loopback port (-1 on failure); `where` gets
// its "127.0.0.1:PORT".
int udp_on_loopback(std::string& where) {
  const int fd = ::socket(AF_INET, SOCK_DGRAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
    if (fd >= 0) ::close(fd);
    return -1;
  }
  where = "127.0.0.1:" + std::to_string(ntohs(a.sin_port));
  return fd;
}

// One Knot with the zones, one with none (it answers REFUSED), and a UDP
// socket that never answers. Started once per test process (ctest runs each
// test in its own process), stopped at exit.
struct Servers {
  std::string dir;
  std::string good;    // "127.0.0.1:PORT"
  std::string silent;  // bound, never read
  int silent_fd = -1;
  std::string refuser_;  // answers REFUSED to everything; started on first use

  const std::string& refuser() {
    if (refuser_.empty()) refuser_ = start(dir + "/refuser", "0 none");
    return refuser_;
  }

  static std::string start(const std::string& d, const char* args) {
    const std::string cmd =
        std::string(GREEN_SOURCE_DIR "/tests/dns/knot.sh start ") + d + " " + args + " >" + d + ".out 2>&1";
    if (std::system(("mkdir -p " + d).c_str()) != 0 || std::system(cmd.c_str()) != 0) {
      std::ifstream err(d + ".out");
      std::string text((std::istreambuf_iterator<char>(err)), std::istreambuf_iterator<char>());
      ADD_FAILURE() << "cannot start knotd: " << text;
      return "127.0.0.1:1";
    }
    std::ifstream in(d + "/port");
    std::string port;
    in >> port;
    return "127.0.0.1:" + port;
  }

  Servers() {
    char tmpl[] = "/tmp/green-dns-test-XXXXXX";
    dir = mkdtemp(tmpl);
    good = start(dir + "/good", "2000");
    silent_fd = udp_on_loopback(silent);
  }
  ~Servers() {
    const std::string script = GREEN_SOURCE_DIR "/tests/dns/knot.sh";
    [[maybe_unused]] int rc = std::system((script + " stop " + dir + "/good").c_str());
    if (!refuser_.empty()) rc = std::system((script + " stop " + dir + "/refuser").c_str());
    rc = std::system(("rm -rf " + dir).c_str());
    ::close(silent_fd);
  }
};

Servers& servers() {
  static Servers s;
  return s;
}

class Dns : public ::testing::Test {
 protected:
  // Outside the hub: starting knotd blocks. Only the Refus* test needs the
  // second server.
  static void SetUpTestSuite() { servers(); }
  void SetUp() override {
    if (std::string(::testing::UnitTest::GetInstance()->current_test_info()->name()).find("Refus") !=
        std::string::npos) {
      servers().refuser();
    }
  }
};

#define DNS_TEST(Name)                                                         \
  static void Dns_##Name##_green_body();                                       \
  TEST_F(Dns, Name) { ::green::testing::run_clean(&Dns_##Name##_green_body); } \
  static void Dns_##Name##_green_body()

green::dns::Options opts(std::vector<std::string> list, green::Duration timeout = 2s, int tries = 2) {
  green::dns::Options o;
  o.servers = std::move(list);
  o.timeout = timeout;
  o.tries = tries;
  return o;
}

std::vector<std::string> lines(const Answer& a) {
  std::vector<std::string> out;
  for (const auto& r : a.records) {
    out.push_back(r.name + " " + green::dns::type_name(r.type) + " " + std::to_string(r.ttl) + " " + r.value());
  }
  return out;
}

std::vector<std::string> sorted(std::vector<std::string> v) {
  std::sort(v.begin(), v.end());
  return v;
}

}  // namespace

// ---- pure functions ------------------------------------------------------

TEST(DnsNames, TypeNamesParseCaseInsensitivelyAndPrintUppercase) {
  EXPECT_EQ(green::dns::parse_type("aaaa"), Type::aaaa);
  EXPECT_EQ(green::dns::parse_type("Mx"), Type::mx);
  EXPECT_EQ(green::dns::parse_type("CAA"), Type::caa);
  EXPECT_FALSE(green::dns::parse_type("AAAAA"));
  EXPECT_FALSE(green::dns::parse_type(""));
  EXPECT_EQ(green::dns::type_name(Type::srv), "SRV");
  EXPECT_EQ(green::dns::type_name(39), "TYPE39");
}

TEST(DnsNames, ReverseNamesForIpv4AndIpv6) {
  EXPECT_EQ(green::dns::reverse_name("192.0.2.10"), "10.2.0.192.in-addr.arpa");
  EXPECT_EQ(green::dns::reverse_name("2001:db8::10"),
            "0.1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa");
  EXPECT_FALSE(green::dns::reverse_name("www.green.test"));
  EXPECT_FALSE(green::dns::reverse_name("192.0.2"));
  EXPECT_FALSE(green::dns::reverse_name(""));
}

TEST(DnsNames, NameErrorsNameTheProblem) {
  EXPECT_EQ(green::dns::name_error("www.green.test"), nullptr);
  EXPECT_EQ(green::dns::name_error("www.green.test."), nullptr);
  EXPECT_EQ(green::dns::name_error("_sip._tcp.green.test"), nullptr);
  EXPECT_STREQ(green::dns::name_error(""), "empty name");
  EXPECT_STREQ(green::dns::name_error("a..b"), "empty label");
  EXPECT_STREQ(green::dns::name_error(".a"), "empty label");
  EXPECT_STREQ(green::dns::name_error(std::string(64, 'x') + ".test"), "label longer than 63 bytes");
  EXPECT_EQ(green::dns::name_error(std::string(63, 'x') + ".test"), nullptr);
  std::string long_name;
  while (long_name.size() < 254) long_name += "abcdefghi.";
  long_name += "x";
  EXPECT_STREQ(green::dns::name_error(long_name), "name longer than 253 bytes");
  EXPECT_STREQ(green::dns::name_error("bad\x07name"), "invalid byte 0x07");
  EXPECT_STREQ(green::dns::name_error("caf\xc3\xa9.test"), "invalid byte 0xC3");
  EXPECT_STREQ(green::dns::name_error("a b"), "invalid byte 0x20");
  EXPECT_STREQ(green::dns::name_error("a\"b"), "invalid character '\"'");
}

TEST(DnsNames, ValuesPrintInPresentationForm) {
  green::dns::Record r;
  r.data = green::dns::TXT{{"a \"q\" \\", std::string("\x01", 1)}};
  EXPECT_EQ(r.value(), "\"a \\\"q\\\" \\\\\" \"\\001\"");
  r.data = green::dns::CAA{128, "iodef", "mailto:x@y"};
  EXPECT_EQ(r.value(), "128 iodef \"mailto:x@y\"");
  r.data = green::dns::CAA{0, "is\tsue\n", "x"};  // found by tests/fuzz/dns.cpp: a raw tab and newline
  EXPECT_EQ(r.value(), "0 is\\009sue\\010 \"x\"");
  r.data = green::dns::Unknown{std::string("\x01\xff", 2)};
  EXPECT_EQ(r.value(), "\\# 2 01ff");
  r.data = green::dns::SRV{1, 2, 3, "t.test"};
  EXPECT_EQ(r.value(), "1 2 3 t.test");
}

// ---- against the server --------------------------------------------------

DNS_TEST(EveryRecordTypeComesBackTypedWithItsTtl) {
  Resolver r(opts({servers().good}));
  struct Case {
    const char* name;
    Type type;
    std::vector<std::string> want;
  };
  const std::vector<Case> cases = {
      {"www.green.test", Type::a, {"www.green.test A 300 192.0.2.10", "www.green.test A 300 192.0.2.11"}},
      {"www.green.test", Type::aaaa, {"www.green.test AAAA 301 2001:db8::10"}},
      {"green.test", Type::mx, {"green.test MX 300 10 mail.green.test", "green.test MX 300 20 mail2.green.test"}},
      {"green.test", Type::ns, {"green.test NS 3600 ns1.green.test", "green.test NS 3600 ns2.green.test"}},
      {"green.test", Type::txt, {"green.test TXT 600 \"v=spf1 -all\""}},
      {"multi.green.test", Type::txt, {"multi.green.test TXT 400 \"first string\" \"second \\\"quoted\\\" string\""}},
      {"green.test",
       Type::soa,
       {"green.test SOA 3600 ns1.green.test hostmaster.green.test 2026112201 7200 900 1209600 300"}},
      {"_sip._tcp.green.test",
       Type::srv,
       {"_sip._tcp.green.test SRV 600 10 60 5060 sip.green.test",
        "_sip._tcp.green.test SRV 600 20 40 5061 sip2.green.test"}},
      {"green.test",
       Type::caa,
       {"green.test CAA 86400 0 issue \"ca.example.net\"",
        "green.test CAA 86400 128 iodef \"mailto:security@green.test\""}},
      {"alias.green.test", Type::cname, {"alias.green.test CNAME 60 www.green.test"}},
      {"10.2.0.192.in-addr.arpa", Type::ptr, {"10.2.0.192.in-addr.arpa PTR 1800 www.green.test"}},
      {"0.1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa",
       Type::ptr,
       {"0.1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa PTR 1800 www.green.test"}},
  };
  for (const auto& c : cases) {
    Answer a = r.query(c.name, c.type);
    EXPECT_EQ(a.status, Status::ok) << c.name << " " << green::dns::type_name(c.type) << ": " << a.error;
    EXPECT_EQ(a.name, c.name);
    EXPECT_EQ(a.type, c.type);
    EXPECT_EQ(sorted(lines(a)), sorted(c.want)) << c.name;
  }
  Answer soa = r.query("green.test", Type::soa);
  ASSERT_EQ(soa.records.size(), 1u);
  const auto& s = std::get<green::dns::SOA>(soa.records[0].data);
  EXPECT_EQ(s.serial, 2026112201u);
  EXPECT_EQ(s.minimum, 300u);
  Answer mx = r.query("green.test", Type::mx);
  ASSERT_EQ(mx.records.size(), 2u);
  EXPECT_TRUE(std::holds_alternative<green::dns::MX>(mx.records[0].data));
}

DNS_TEST(CnameChainComesFirstThenTheTargetRecords) {
  Resolver r(opts({servers().good}));
  Answer a = r.query("c1.green.test", Type::a);
  EXPECT_EQ(a.status, Status::ok);
  const std::vector<std::string> got = lines(a);
  ASSERT_EQ(got.size(), 5u);
  EXPECT_EQ(got[0], "c1.green.test CNAME 61 c2.green.test");
  EXPECT_EQ(got[1], "c2.green.test CNAME 62 c3.green.test");
  EXPECT_EQ(got[2], "c3.green.test CNAME 63 www.green.test");
  EXPECT_EQ(sorted({got[3], got[4]}),
            (std::vector<std::string>{"www.green.test A 300 192.0.2.10", "www.green.test A 300 192.0.2.11"}));
}

DNS_TEST(MissingNameIsNxdomainAndDanglingCnameKeepsItsChain) {
  Resolver r(opts({servers().good}));
  Answer missing = r.query("nope.green.test", Type::a);
  EXPECT_EQ(missing.status, Status::nxdomain);
  EXPECT_TRUE(missing.records.empty());
  Answer dangling = r.query("dangling.green.test", Type::a);
  EXPECT_EQ(dangling.status, Status::nxdomain);
  EXPECT_EQ(lines(dangling), (std::vector<std::string>{"dangling.green.test CNAME 90 missing.green.test"}));
}

DNS_TEST(NameWithoutThatTypeIsNodata) {
  Resolver r(opts({servers().good}));
  Answer a = r.query("txtonly.green.test", Type::a);
  EXPECT_EQ(a.status, Status::nodata);
  EXPECT_TRUE(a.records.empty());
  Answer t = r.query("txtonly.green.test", Type::txt);
  EXPECT_EQ(t.status, Status::ok);
}

DNS_TEST(TruncatedReplyIsAskedAgainOverTcp) {
  Resolver r(opts({servers().good}));
  Answer a = r.query("big.green.test", Type::txt);
  ASSERT_EQ(a.status, Status::ok) << a.error;
  ASSERT_EQ(a.records.size(), 1u);
  const auto& txt = std::get<green::dns::TXT>(a.records[0].data);
  ASSERT_EQ(txt.strings.size(), 8u);  // 2000 bytes: only a TCP reply can carry them
  const char letters[] = "abcdefgh";
  for (std::size_t i = 0; i < 8; ++i) EXPECT_EQ(txt.strings[i], std::string(250, letters[i]));
  EXPECT_EQ(a.records[0].ttl, 700u);
}

DNS_TEST(EveryQueryOverTcpWhenAsked) {
  auto o = opts({servers().good});
  o.use_tcp = true;
  Resolver r(o);
  EXPECT_EQ(lines(r.query("www.green.test", Type::aaaa)),
            (std::vector<std::string>{"www.green.test AAAA 301 2001:db8::10"}));
  EXPECT_EQ(r.query("nope.green.test", Type::a).status, Status::nxdomain);
}

DNS_TEST(ZoneThatFailedToLoadIsServfail) {
  Resolver r(opts({servers().good}, 2s, 1));
  EXPECT_EQ(r.query("www.broken.test", Type::a).status, Status::servfail);
}

DNS_TEST(RefusingServerIsRefusedAndTheNextServerAnswers) {
  {
    Resolver r(opts({servers().refuser()}, 2s, 1));
    EXPECT_EQ(r.query("www.green.test", Type::a).status, Status::refused);
  }
  Resolver r(opts({servers().refuser(), servers().good}, 2s, 1));
  for (int i = 0; i < 5; ++i) {
    Answer a = r.query("mail.green.test", Type::a);
    EXPECT_EQ(a.status, Status::ok);
    EXPECT_EQ(lines(a), (std::vector<std::string>{"mail.green.test A 120 192.0.2.25"}));
  }
  EXPECT_EQ(r.servers(), (std::vector<std::string>{servers().refuser(), servers().good}));
}

DNS_TEST(SilentServerTimesOutAndTheNextServerAnswers) {
  {
    Resolver r(opts({servers().silent}, 100ms, 2));
    Answer a = r.query("www.green.test", Type::a);
    EXPECT_EQ(a.status, Status::timeout);
    EXPECT_EQ(r.outstanding(), 0u);
  }
  // The one timeout is both the silent server's and Knot's: 100 ms asked
  // Knot to answer within 100 ms, which a loaded machine does not always do.
  Resolver r(opts({servers().silent, servers().good}, 1s, 1));
  Answer a = r.query("mail2.green.test", Type::a);
  EXPECT_EQ(a.status, Status::ok);
  EXPECT_EQ(lines(a), (std::vector<std::string>{"mail2.green.test A 121 192.0.2.26"}));
}

DNS_TEST(QueryParksOnlyItsOwnGreenlet) {
  Resolver slow(opts({servers().silent}, 300ms, 1));
  Resolver fast(opts({servers().good}));
  std::vector<std::string> events;
  auto waiting = green::spawn([&] {
    Answer a = slow.query("www.green.test", Type::a);
    events.push_back(std::string("slow ") + green::dns::status_name(a.status));
  });
  auto busy = green::spawn([&] {
    for (int i = 0; i < 20; ++i) {
      Answer a = fast.query("h" + std::to_string(i) + ".bulk.test", Type::a);
      if (!a.ok()) events.push_back("fast failed");
    }
    events.push_back("fast done");
  });
  green::joinall({waiting, busy});
  EXPECT_EQ(events, (std::vector<std::string>{"fast done", "slow TIMEOUT"}));
}

DNS_TEST(ManyConcurrentQueriesEachGetTheirOwnAnswer) {
  Resolver r(opts({servers().good}));
  constexpr int n = 2000;
  std::vector<std::string> got(n);
  // 100 in flight: the batched sends put a whole window into Knot's socket at
  // once, and its receive buffer drops beyond ~190-250 queued queries (a drop
  // costs a 2 s timeout, two in a row a TIMEOUT answer); this test is about
  // answers reaching their own queries, not about the server's buffer.
  green::Pool pool(100);
  for (int i = 0; i < n; ++i) {
    pool.spawn([&, i] {
      Answer a = r.query("h" + std::to_string(i) + ".bulk.test", Type::a);
      got[i] = a.ok() && a.records.size() == 1 ? a.records[0].value() : green::dns::status_name(a.status);
    });
  }
  pool.join();
  for (int i = 0; i < n; ++i) {
    const std::string want = "10.0." + std::to_string(i / 256) + "." + std::to_string(i % 256);
    ASSERT_EQ(got[i], want) << "h" << i;
  }
  EXPECT_EQ(r.outstanding(), 0u);
}

// A server of our own that answers only once every query has arrived, and
// then all at once, while the hub is held: the 150 answers sit in the
// resolver's socket together and are read in batches (64 + 64 + 22).
DNS_TEST(BurstOfAnswersWaitingInTheSocketIsReadInBatchesEachToItsQuery) {
  std::string where;
  const int srv = udp_on_loopback(where);
  ASSERT_GE(srv, 0);
  int big = 1 << 20;
  ::setsockopt(srv, SOL_SOCKET, SO_RCVBUF, &big, sizeof big);
  Resolver r(opts({where}));

  constexpr int n = 150;
  std::vector<std::string> got(n);
  std::vector<green::GreenletRef> gs;
  for (int i = 0; i < n; ++i) {
    gs.push_back(green::spawn([&, i] {
      Answer ans = r.query("h" + std::to_string(i) + ".bulk.test", Type::a);
      got[i] = ans.ok() && ans.records.size() == 1 ? ans.records[0].value() : green::dns::status_name(ans.status);
    }));
  }
  struct Query {
    std::vector<unsigned char> bytes;
    sockaddr_in from;
  };
  std::vector<Query> queries;
  std::set<std::vector<unsigned char>> seen;
  for (int rounds = 0; queries.size() < n && rounds < green::testing::scaled(4000); ++rounds) {
    green::sleep(1ms);  // the hub sends; the queries arrive
    for (;;) {
      Query q{std::vector<unsigned char>(512), {}};
      socklen_t flen = sizeof q.from;
      const ssize_t len =
          ::recvfrom(srv, q.bytes.data(), q.bytes.size(), MSG_DONTWAIT, reinterpret_cast<sockaddr*>(&q.from), &flen);
      if (len <= 0) break;
      q.bytes.resize(static_cast<std::size_t>(len));
      // The window lets 16 out first; with no answer it opens after half a
      // timeout and sends those 16 again: keep each query once.
      if (seen.insert(q.bytes).second) queries.push_back(std::move(q));
    }
  }
  ASSERT_EQ(queries.size(), static_cast<std::size_t>(n));
  EXPECT_EQ(r.outstanding(), static_cast<std::size_t>(n));
  // The answer to h<i>.bulk.test is 10.0.<i / 256>.<i % 256>, as Knot's.
  for (const Query& q : queries) {
    std::vector<unsigned char> reply = q.bytes;  // header and question (no EDNS record)
    reply[2] = 0x81;                             // QR, RD
    reply[3] = 0x80;                             // RA, NOERROR
    reply[7] = 1;                                // ANCOUNT
    const int label = q.bytes[12];
    const int i = std::stoi(std::string(q.bytes.begin() + 14, q.bytes.begin() + 13 + label));
    const unsigned char rr[] = {0xc0,
                                0x0c,
                                0,
                                1,
                                0,
                                1,
                                0,
                                0,
                                0x0e,
                                0x10,
                                0,
                                4,
                                10,
                                0,
                                static_cast<unsigned char>(i / 256),
                                static_cast<unsigned char>(i % 256)};
    reply.insert(reply.end(), std::begin(rr), std::end(rr));
    ASSERT_EQ(::sendto(srv, reply.data(), reply.size(), 0, reinterpret_cast<const sockaddr*>(&q.from), sizeof q.from),
              static_cast<ssize_t>(reply.size()));
  }
  green::joinall(gs);
  ::close(srv);
  for (int i = 0; i < n; ++i) {
    ASSERT_EQ(got[i], "10.0." + std::to_string(i / 256) + "." + std::to_string(i % 256)) << i;
  }
  EXPECT_EQ(r.outstanding(), 0u);
}

// A query the server drops while it answers later ones is sent again, with
// the same id, within the try: one try (tries = 1) with a long timeout still
// gets its answer.
DNS_TEST(DroppedQueryIsSentAgainUnderTheSameIdWithinTheTry) {
  std::string where;
  const int srv = udp_on_loopback(where);
  ASSERT_GE(srv, 0);
  Resolver r(opts({where}, 30s, 1));
  constexpr int n = 8;
  std::vector<std::string> got(n);
  std::vector<green::GreenletRef> gs;
  for (int i = 0; i < n; ++i) {
    gs.push_back(green::spawn([&, i] {
      Answer a = r.query("h" + std::to_string(i) + ".bulk.test", Type::a);
      got[i] = a.ok() && a.records.size() == 1 ? a.records[0].value() : green::dns::status_name(a.status);
    }));
  }
  // Answer everything but the first copy of h0's query; count h0's copies.
  std::vector<std::vector<unsigned char>> h0_copies;
  int answered = 0;
  for (int rounds = 0; answered < n && rounds < green::testing::scaled(20000); ++rounds) {
    green::sleep(1ms);
    for (;;) {
      std::vector<unsigned char> q(512);
      sockaddr_in from{};
      socklen_t flen = sizeof from;
      const ssize_t len =
          ::recvfrom(srv, q.data(), q.size(), MSG_DONTWAIT, reinterpret_cast<sockaddr*>(&from), &flen);
      if (len <= 0) break;
      q.resize(static_cast<std::size_t>(len));
      const int label = q[12];
      const int i = std::stoi(std::string(q.begin() + 14, q.begin() + 13 + label));
      if (i == 0) {
        h0_copies.push_back(q);
        if (h0_copies.size() == 1) continue;  // dropped
      }
      std::vector<unsigned char> reply = q;
      reply[2] = 0x81;
      reply[3] = 0x80;
      reply[7] = 1;
      const unsigned char rr[] = {0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0x0e, 0x10, 0, 4, 10, 0, 0,
                                  static_cast<unsigned char>(i)};
      reply.insert(reply.end(), std::begin(rr), std::end(rr));
      ::sendto(srv, reply.data(), reply.size(), 0, reinterpret_cast<const sockaddr*>(&from), sizeof from);
      ++answered;
    }
  }
  green::joinall(gs);
  ::close(srv);
  for (int i = 0; i < n; ++i) EXPECT_EQ(got[i], "10.0.0." + std::to_string(i)) << i;
  ASSERT_GE(h0_copies.size(), 2u);
  EXPECT_EQ(h0_copies[0], h0_copies[1]);  // the same datagram: same id, same question
  EXPECT_EQ(r.outstanding(), 0u);
}

TEST(DnsNames, Ipv4ValuesPrintAsInetNtopPrintsThem) {
  for (unsigned v = 0; v < 256; ++v) {
    green::dns::Record r;
    green::dns::A a{{static_cast<std::uint8_t>(v), static_cast<std::uint8_t>(v / 2),
                     static_cast<std::uint8_t>(255 - v), static_cast<std::uint8_t>(v % 10)}};
    r.data = a;
    char want[INET_ADDRSTRLEN];
    ::inet_ntop(AF_INET, a.addr, want, sizeof want);
    ASSERT_EQ(r.value(), want) << v;
  }
}

TEST(DnsNames, InternationalNamesBecomeTheirAsciiForm) {
  EXPECT_EQ(green::dns::to_ascii("b\xc3\xbc" "cher.example"), "xn--bcher-kva.example");
  EXPECT_EQ(green::dns::to_ascii("B\xc3\x9c" "CHER.example"), "xn--bcher-kva.example");  // mapped to lower case
  EXPECT_EQ(green::dns::to_ascii("www.green.test"), "www.green.test");
  std::string why;
  EXPECT_FALSE(green::dns::to_ascii("bad\xff.test", &why));
  EXPECT_FALSE(why.empty());
}

// Truncated answers among many plain ones: their TCP retries open a TCP
// socket next to the batched UDP one, often in the middle of reading a batch.
DNS_TEST(TruncatedAnswersAmongManyGoOverTcpWhileTheRestStayOnUdp) {
  Resolver r(opts({servers().good}));
  constexpr int n = 150;  // below what Knot's socket holds at once
  std::vector<std::string> got(n);
  std::vector<green::GreenletRef> gs;
  for (int i = 0; i < n; ++i) {
    gs.push_back(green::spawn([&, i] {
      if (i % 10 == 9) {
        Answer a = r.query("big.green.test", Type::txt);
        got[i] = a.ok() && a.records.size() == 1
                     ? std::to_string(std::get<green::dns::TXT>(a.records[0].data).strings.size()) + " strings"
                     : green::dns::status_name(a.status) + (" " + a.error);
        return;
      }
      Answer a = r.query("h" + std::to_string(i) + ".bulk.test", Type::a);
      got[i] = a.ok() && a.records.size() == 1 ? a.records[0].value() : green::dns::status_name(a.status);
    }));
  }
  green::joinall(gs);
  for (int i = 0; i < n; ++i) {
    const std::string want = i % 10 == 9 ? "8 strings" : "10.0.0." + std::to_string(i);
    ASSERT_EQ(got[i], want) << i;
  }
  EXPECT_EQ(r.outstanding(), 0u);
}

// A UDP port nobody listens on. The two queries leave in one sendmmsg():
// the port-unreachable for the first makes the kernel refuse the second,
// which is sent again, and the read that follows hands the error to c-ares.
DNS_TEST(ClosedPortIsConnectionRefusedAndTheNextServerAnswers) {
  std::string closed;
  const int fd = udp_on_loopback(closed);
  ASSERT_GE(fd, 0);
  ::close(fd);  // nobody listens there now
  {
    Resolver r(opts({closed}));
    auto first = green::spawn([&] { return r.query("www.green.test", Type::a); });
    auto second = green::spawn([&] { return r.query("mail.green.test", Type::a); });
    for (Answer got : {first.get(), second.get()}) {
      EXPECT_EQ(got.status, Status::error);
      EXPECT_EQ(got.error, "connection refused");
      EXPECT_EQ(got.code, std::errc::connection_refused);
    }
    EXPECT_EQ(r.outstanding(), 0u);
  }
  Resolver r(opts({closed, servers().good}));
  Answer got = r.query("mail2.green.test", Type::a);
  EXPECT_EQ(got.status, Status::ok);
  EXPECT_EQ(lines(got), (std::vector<std::string>{"mail2.green.test A 121 192.0.2.26"}));
}

DNS_TEST(KillWhileParkedOnQueryRaisesGreenletExitAndDropsTheLateAnswer) {
  Resolver r(opts({servers().silent}, 200ms, 1));
  bool returned = false;
  auto g = green::spawn([&] {
    r.query("www.green.test", Type::a);
    returned = true;
  });
  green::sleep(0s);
  EXPECT_EQ(r.outstanding(), 1u);
  g.kill();
  EXPECT_TRUE(g.killed());
  EXPECT_FALSE(returned);
  // The abandoned query still ends in c-ares (by timeout), without a waiter.
  while (r.outstanding() > 0) green::sleep(20ms);
}

DNS_TEST(TimeoutScopeAbandonsTheQuery) {
  Resolver r(opts({servers().silent}, 5s, 1));
  bool timed_out = false;
  try {
    green::Timeout t(50ms);
    r.query("www.green.test", Type::a);
  } catch (const green::Timeout&) {
    timed_out = true;
  }
  EXPECT_TRUE(timed_out);
  EXPECT_EQ(r.outstanding(), 1u);  // destroying the resolver ends it
}

DNS_TEST(DestroyingTheResolverWakesItsWaiters) {
  auto r = std::make_unique<Resolver>(opts({servers().silent}, 5s, 1));
  auto g = green::spawn([&] { return r->query("www.green.test", Type::a); });
  green::sleep(0s);
  r.reset();
  Answer a = g.get();
  EXPECT_EQ(a.status, Status::error);
  EXPECT_EQ(a.error, "resolver destroyed");
}

DNS_TEST(InvalidNamesFailWithoutAQuery) {
  Resolver r(opts({servers().good}));
  Answer a = r.query("a..b", Type::a);
  EXPECT_EQ(a.status, Status::error);
  EXPECT_EQ(a.error, "empty label");
  EXPECT_EQ(r.outstanding(), 0u);
}

DNS_TEST(BadServerAddressesAreRejectedByName) {
  for (const char* bad : {"not-an-ip", "127.0.0.1:99999", "", "1.2.3.4,5.6.7.8"}) {
    try {
      Resolver r(opts({bad}));
      ADD_FAILURE() << "accepted '" << bad << "'";
    } catch (const std::invalid_argument& e) {
      EXPECT_NE(std::string(e.what()).find(std::string("'") + bad + "'"), std::string::npos) << e.what();
    }
  }
  Resolver v6(opts({"[::1]:5353", "127.0.0.1"}));
  EXPECT_EQ(v6.servers(), (std::vector<std::string>{"[::1]:5353", "127.0.0.1:53"}));
}

// ---- net::resolve and TcpStream::connect by name ----------------------------------

namespace {

// A hosts file and an nsswitch.conf of the test's own; DNS is the test Knot.
struct ResolveFiles {
  std::string dir;
  green::net::ResolveOptions opt;
  ResolveFiles(const std::string& hosts, const std::string& nsswitch) {
    char tmpl[] = "/tmp/green-resolve-test-XXXXXX";
    dir = mkdtemp(tmpl);
    std::ofstream(dir + "/hosts") << hosts;
    std::ofstream(dir + "/nsswitch.conf") << nsswitch;
    opt.hosts_file = dir + "/hosts";
    opt.nsswitch_file = dir + "/nsswitch.conf";
    opt.dns = opts({servers().good});
  }
  ~ResolveFiles() { [[maybe_unused]] int rc = std::system(("rm -rf " + dir).c_str()); }
};

std::vector<std::string> text(const std::vector<green::net::address>& as) {
  std::vector<std::string> out;
  for (const auto& a : as) out.push_back(a.to_string());
  return out;
}

}  // namespace

DNS_TEST(ResolveFollowsNsswitchOrderThroughTheHostsFileAndDns) {
  const std::string hosts = "# comment\n127.0.0.5  WWW.green.test www\n::1 www.green.test\n10.0.0.1 other.test\n";
  ResolveFiles files_first(hosts, "passwd: files\nhosts: files mdns4_minimal [NOTFOUND=return] dns\n");
  EXPECT_EQ(text(green::net::resolve("www.green.test", files_first.opt)), (std::vector<std::string>{"127.0.0.5", "::1"}))
      << "the hosts file wins, case-insensitively, every line for the name";
  EXPECT_EQ(text(green::net::resolve("mail.green.test", files_first.opt)), (std::vector<std::string>{"192.0.2.25"}))
      << "a name the hosts file lacks goes to DNS";
  ResolveFiles dns_first(hosts, "hosts: dns files\n");
  EXPECT_EQ(text(green::net::resolve("www.green.test", dns_first.opt)),
            (std::vector<std::string>{"192.0.2.10", "192.0.2.11", "2001:db8::10"}))
      << "DNS first: A records, then AAAA";
  ResolveFiles files_only(hosts, "hosts: files\n");
  std::error_code ec;
  EXPECT_TRUE(green::net::resolve("mail.green.test", files_only.opt, ec).empty());
  EXPECT_EQ(ec, std::error_code(boost::system::error_code(boost::asio::error::host_not_found)));
  EXPECT_THROW(green::net::resolve("nosuchname.green.test", dns_first.opt), std::system_error);
  EXPECT_EQ(text(green::net::resolve("192.0.2.1", files_only.opt)), (std::vector<std::string>{"192.0.2.1"}));
}

DNS_TEST(ConnectResolvesANameAndTriesEachAddressInTurn) {
  // Only 127.0.0.1 listens: 127.0.0.2 refuses, and connect moves on to the next address.
  ResolveFiles files("127.0.0.2 svc.green.test\n127.0.0.1 svc.green.test\n", "hosts: files dns\n");
  const auto previous = green::net::resolve_options();
  green::net::set_resolve_options(files.opt);
  green::net::StreamServer server("127.0.0.1", 0, [](green::net::TcpStream& s) { s.write_all("hello\n"); });
  server.start();
  green::net::TcpStream c = green::net::TcpStream::connect("svc.green.test", server.local_endpoint().port(), 5s);
  EXPECT_EQ(c.read_line(), "hello\n");
  EXPECT_EQ(c.remote_endpoint().address().to_string(), "127.0.0.1");
  std::error_code ec;
  green::net::TcpStream::connect("nosuchname.green.test", server.local_endpoint().port(), 5s, ec);
  EXPECT_EQ(ec, std::error_code(boost::system::error_code(boost::asio::error::host_not_found)));
  server.stop();
  green::net::set_resolve_options(previous);
}


GREEN_TEST(Resolve, TheHostsFileIsReadAgainOnlyWhenItChanges) {
  char tmpl[] = "/tmp/green-hosts-test-XXXXXX";
  const std::string dir = mkdtemp(tmpl);
  green::net::ResolveOptions opt;
  opt.hosts_file = dir + "/hosts";
  opt.nsswitch_file = dir + "/nsswitch.conf";
  std::ofstream(opt.nsswitch_file) << "hosts: files\n";
  std::ofstream(opt.hosts_file) << "127.0.0.7 a.test\n";
  EXPECT_EQ(text(green::net::resolve("a.test", opt)), (std::vector<std::string>{"127.0.0.7"}));
  EXPECT_EQ(text(green::net::resolve("A.TEST", opt)), (std::vector<std::string>{"127.0.0.7"})) << "from the cache";
  // Rewritten in place with the same size: the modification time tells.
  std::ofstream(opt.hosts_file) << "127.0.0.8 a.test\n";
  struct timespec later[2] = {{0, UTIME_OMIT}, {0, 0}};
  ::clock_gettime(CLOCK_REALTIME, &later[1]);
  later[1].tv_sec += 10;
  ::utimensat(AT_FDCWD, opt.hosts_file.c_str(), later, 0);
  EXPECT_EQ(text(green::net::resolve("a.test", opt)), (std::vector<std::string>{"127.0.0.8"}));
  // Replaced by rename (another inode), even with the same times.
  std::ofstream(dir + "/new") << "127.0.0.9 a.test\n";
  ::utimensat(AT_FDCWD, (dir + "/new").c_str(), later, 0);
  std::rename((dir + "/new").c_str(), opt.hosts_file.c_str());
  EXPECT_EQ(text(green::net::resolve("a.test", opt)), (std::vector<std::string>{"127.0.0.9"}));
  std::error_code ec;
  std::remove(opt.hosts_file.c_str());
  EXPECT_TRUE(green::net::resolve("a.test", opt, ec).empty()) << "gone: not from the cache";
  std::remove(opt.nsswitch_file.c_str());
  ::rmdir(dir.c_str());
}
