// green::http against a real nginx on loopback (tests/e2e/lib/httpd.sh),
// started once per test process.
#include <green/http.hpp>

#include "green_test.hpp"

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <sstream>
#include <string>

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

namespace {

namespace http = green::http;

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

struct Server {
  std::string dir;
  std::map<std::string, std::string> env;
  std::string http;   // http://127.0.0.1:PORT
  std::string https;  // https://127.0.0.1:PORT
  std::string script;

  Server() {
    script = GREEN_SOURCE_DIR "/tests/e2e/lib/httpd.sh";  // not __FILE__: ccache may make it relative
    char tmpl[] = "/tmp/green-http-test.XXXXXX";
    if (!mkdtemp(tmpl)) std::abort();
    dir = tmpl;
    const std::string cmd = script + " start " + dir + " >/dev/null";
    if (std::system(cmd.c_str()) != 0) {
      std::fprintf(stderr, "could not start nginx with %s\n", script.c_str());
      return;
    }
    std::ifstream in(dir + "/env");
    for (std::string line; std::getline(in, line);) {
      const auto eq = line.find('=');
      if (eq != std::string::npos) env[line.substr(0, eq)] = line.substr(eq + 1);
    }
    http = "http://127.0.0.1:" + env["HTTP_PORT"];
    https = "https://127.0.0.1:" + env["HTTPS_PORT"];
  }
  ~Server() {
    const std::string cmd = script + " stop " + dir + "; rm -rf " + dir;
    if (std::system(cmd.c_str()) != 0) std::fprintf(stderr, "could not stop nginx\n");
  }
  std::string file(const std::string& rel) const { return read_file(env.at("WWW") + "/" + rel); }
};

Server& server() {
  static Server s;
  if (s.env.empty()) ADD_FAILURE() << "nginx is not running";
  return s;
}

int refused_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  socklen_t len = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  ::close(fd);  // nothing listens there now
  return ntohs(a.sin_port);
}

http::Response get(const std::string& url) { return http::fetch(http::Request{.url = url}); }

// One error style: BadUrl with the detail, or an error code.
TEST(Url, RefusalsThrowBadUrlOrFillAnErrorCode) {
  namespace http = green::http;
  EXPECT_EQ(http::parse_url("http://[::1]:8080/a?b").host, "::1");
  try {
    http::parse_url("ftp://host/x");
    FAIL() << "ftp accepted";
  } catch (const http::BadUrl& e) {
    EXPECT_STREQ(e.what(), "unsupported scheme ftp (want http or https)");
    EXPECT_EQ(e.code(), http::UrlErrc::unsupported_scheme);
  }
  std::error_code ec;
  EXPECT_EQ(http::parse_url("http:///path", ec), std::nullopt);
  EXPECT_EQ(ec, http::UrlErrc::no_host);
  EXPECT_EQ(ec.message(), "no host");
  EXPECT_TRUE(http::parse_url("https://h/", ec));
  EXPECT_FALSE(ec);
}

GREEN_TEST(Http, GetReturnsStatusHeadersAndTheExactBody) {
  Server& s = server();
  http::Response r = get(s.http + "/files/size-65536.bin");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, s.file("files/size-65536.bin"));
  EXPECT_EQ(r.bytes, 65536u);
  EXPECT_EQ(r.header("content-length").value_or(""), "65536");
  EXPECT_EQ(r.http_version, "1.1");
  EXPECT_EQ(r.url, s.http + "/files/size-65536.bin");
  EXPECT_TRUE(r.error.empty());
  EXPECT_GE(r.timings.total, r.timings.connect);
}

GREEN_TEST(Http, EmptyAndMultiMegabyteBodiesArriveByteExact) {
  Server& s = server();
  EXPECT_EQ(get(s.http + "/files/size-0.bin").body, "");
  EXPECT_EQ(get(s.http + "/files/size-3000000.bin").body, s.file("files/size-3000000.bin"));
}

GREEN_TEST(Http, SequentialRequestsReuseOneConnection) {
  Server& s = server();
  const auto before = http::stats().sockets_opened;
  for (int i = 0; i < 5; ++i) EXPECT_EQ(get(s.http + "/files/size-1.bin").status, 200);
  EXPECT_EQ(http::stats().sockets_opened - before, 1u);
  EXPECT_EQ(http::stats().in_flight, 0u);
}

// A 64 KiB window to a loopback server made every read pay for the server's
// next segments (bench/RESULTS.md, issue 17): near peers get 1 MiB at once.
GREEN_TEST(Http, ALoopbackConnectionGetsAOneMebibyteReceiveBuffer) {
  Server& s = server();
  long rmem_max = 0;
  std::ifstream("/proc/sys/net/core/rmem_max") >> rmem_max;
  const auto before = http::stats();
  for (int i = 0; i < 3; ++i) EXPECT_EQ(get(s.http + "/files/size-1048576.bin").bytes, 1048576u);
  EXPECT_EQ(http::fetch(http::Request{.url = s.https + "/files/size-1.bin", .ca_file = s.env["CERT"]}).status, 200);
  const auto after = http::stats();
  EXPECT_EQ(after.sockets_opened - before.sockets_opened, 2u);
  // Once per connection (the TLS one waits to read during its handshake).
  EXPECT_EQ(after.receive_buffers_widened - before.receive_buffers_widened, rmem_max >= (1 << 20) ? 2u : 0u)
      << "net.core.rmem_max " << rmem_max;
}

GREEN_TEST(Http, ManyGreenletsFetchConcurrentlyAndAllBodiesMatch) {
  Server& s = server();
  const std::vector<std::string> names = {"size-1.bin", "size-1000.bin", "size-65536.bin", "size-1048576.bin"};
  std::vector<int> idx(200);
  for (int i = 0; i < 200; ++i) idx[static_cast<std::size_t>(i)] = i;
  green::Pool pool(50);
  auto ok = pool.map(
      [&](int i) {
        const std::string& n = names[static_cast<std::size_t>(i) % names.size()];
        http::Response r = get(s.http + "/files/" + n);
        return r.status == 200 && r.body == s.file("files/" + n);
      },
      idx);
  EXPECT_EQ(std::count(ok.begin(), ok.end(), true), 200);
  EXPECT_LE(http::stats().sockets_opened, 50u) << "connections were not reused";
}

GREEN_TEST(Http, AFetchParksOnlyItsOwnGreenlet) {
  Server& s = server();
  Lines out;
  auto fetcher = green::spawn([&] {
    out.push_back("fetching");
    get(s.http + "/files/size-1048576.bin");
    out.push_back("fetched");
  });
  auto other = green::spawn([&] {
    for (int i = 0; i < 3; ++i) {
      out.push_back("other " + std::to_string(i));
      green::sleep(0s);
    }
  });
  green::joinall({fetcher, other});
  EXPECT_EQ(out, (Lines{"fetching", "other 0", "other 1", "other 2", "fetched"}));
}

GREEN_TEST(Http, ErrorStatusesAreResponsesNotExceptions) {
  Server& s = server();
  EXPECT_EQ(get(s.http + "/status/404").status, 404);
  http::Response r = get(s.http + "/status/500");
  EXPECT_EQ(r.status, 500);
  EXPECT_EQ(r.body, "server error\n");
  http::Response limited = get(s.http + "/status/429");
  EXPECT_EQ(limited.status, 429);
  ASSERT_TRUE(limited.retry_after.has_value());
  EXPECT_EQ(*limited.retry_after, std::chrono::seconds(1));
}

GREEN_TEST(Http, RedirectsAreFollowedOrNotAndLoopsFail) {
  Server& s = server();
  http::Response r = get(s.http + "/r3");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.redirects, 3);
  EXPECT_EQ(r.url, s.http + "/files/size-1000.bin");
  EXPECT_EQ(r.body, s.file("files/size-1000.bin"));

  http::Response stay = http::fetch(http::Request{.url = s.http + "/r3", .follow_redirects = false});
  EXPECT_EQ(stay.status, 302);
  const std::string location(stay.header("Location").value_or(""));
  EXPECT_EQ(location.substr(location.rfind('/')), "/r2");

  std::error_code ec;
  http::Response loop = http::fetch(http::Request{.url = s.http + "/loop-a", .max_redirects = 5}, ec);
  EXPECT_TRUE(ec);
  EXPECT_NE(loop.error.find("redirect"), std::string::npos) << loop.error;
}

GREEN_TEST(Http, ConnectionRefusedIsAConnectError) {
  const std::string url = "http://127.0.0.1:" + std::to_string(refused_port()) + "/";
  try {
    get(url);
    ADD_FAILURE() << "no error";
  } catch (const http::Error& e) {
    EXPECT_EQ(http::classify(e.code()), http::ErrorClass::connect);
    EXPECT_NE(std::string(e.what()).find("127.0.0.1"), std::string::npos) << e.what();
  }
  EXPECT_EQ(http::stats().open_sockets, 0u);
}

GREEN_TEST(Http, HttpsVerifiesWithTheGivenCaAndUsesHttp2) {
  Server& s = server();
  http::Response r = http::fetch(http::Request{.url = s.https + "/files/size-65536.bin", .ca_file = s.env["CERT"]});
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.http_version, "2");
  EXPECT_EQ(r.body, s.file("files/size-65536.bin"));
  EXPECT_GT(r.timings.tls_handshake, green::Duration::zero());

  std::error_code ec;
  http::fetch(http::Request{.url = s.https + "/files/size-1.bin"}, ec);
  EXPECT_EQ(http::classify(ec), http::ErrorClass::tls) << ec.message();

  http::Response insecure = http::fetch(http::Request{.url = s.https + "/files/size-1.bin", .verify_tls = false});
  EXPECT_EQ(insecure.status, 200);
}

GREEN_TEST(Http, Http2StreamsShareOneConnection) {
  Server& s = server();
  const auto before = http::stats().sockets_opened;
  green::Group group;
  int ok = 0;
  for (int i = 0; i < 20; ++i) {
    group.spawn([&] {
      http::Response r = http::fetch(http::Request{.url = s.https + "/files/size-1000.bin", .ca_file = s.env["CERT"]});
      if (r.status == 200 && r.http_version == "2") ++ok;
    });
  }
  group.join();
  EXPECT_EQ(ok, 20);
  EXPECT_EQ(http::stats().sockets_opened - before, 1u);
}

GREEN_TEST(Http, FileAndCallbackSinksReceiveTheBody) {
  Server& s = server();
  const std::string path = s.dir + "/sink-test.bin";
  http::Response r =
      http::fetch(http::Request{.url = s.http + "/files/size-1048576.bin", .sink = http::Sink::file(path)});
  EXPECT_EQ(r.status, 200);
  EXPECT_TRUE(r.body.empty());
  EXPECT_EQ(read_file(path), s.file("files/size-1048576.bin"));

  std::string collected;
  int chunks = 0;
  r = http::fetch(
      http::Request{.url = s.http + "/files/size-1048576.bin", .sink = http::Sink::callback([&](std::string_view c) {
                                                                 collected.append(c);
                                                                 ++chunks;
                                                                 return true;
                                                               })});
  EXPECT_EQ(collected, s.file("files/size-1048576.bin"));
  EXPECT_GT(chunks, 1);

  std::error_code ec;
  r = http::fetch(http::Request{.url = s.http + "/files/size-1048576.bin",
                                .sink = http::Sink::callback([](std::string_view) { return false; })},
                  ec);
  EXPECT_EQ(http::classify(ec), http::ErrorClass::write);

  r = http::fetch(http::Request{.url = s.http + "/files/size-0.bin", .sink = http::Sink::file(s.dir + "/empty.bin")});
  EXPECT_EQ(read_file(s.dir + "/empty.bin"), "");
  EXPECT_EQ(::access((s.dir + "/empty.bin").c_str(), F_OK), 0);
}

GREEN_TEST(Http, RequestTimeoutReportsATimeoutError) {
  Server& s = server();
  std::error_code ec;
  http::Response r = http::fetch(http::Request{.url = s.http + "/slow/size-65536.bin", .timeout = 300ms}, ec);
  EXPECT_EQ(http::classify(ec), http::ErrorClass::timeout) << r.error;
  EXPECT_EQ(r.status, 200);
  EXPECT_LT(r.bytes, 65536u);
}

GREEN_TEST(Http, GreenTimeoutAbortsTheTransferAndLeavesNothingBehind) {
  Server& s = server();
  bool timed_out = false;
  try {
    green::Timeout limit(200ms);
    get(s.http + "/slow/size-65536.bin");
  } catch (const green::Timeout&) {
    timed_out = true;
  }
  EXPECT_TRUE(timed_out);
  EXPECT_EQ(http::stats().in_flight, 0u);
  EXPECT_EQ(http::stats().open_sockets, 0u) << "the aborted connection must be closed";
  // The hub's HTTP layer still works afterwards.
  EXPECT_EQ(get(s.http + "/files/size-1.bin").status, 200);
}

GREEN_TEST(Http, KillWhileFetchingUnwindsTheGreenlet) {
  Server& s = server();
  bool unwound = false;
  auto g = green::spawn([&] {
    struct Guard {
      bool& f;
      ~Guard() { f = true; }
    } guard{unwound};
    get(s.http + "/slow/size-65536.bin");
  });
  green::sleep(green::testing::scaled(50ms));
  g.kill();
  EXPECT_TRUE(unwound);
  EXPECT_TRUE(g.successful());
  EXPECT_EQ(http::stats().in_flight, 0u);
}

GREEN_TEST(Http, MethodDataHeadersAndUserAgentAreSent) {
  Server& s = server();
  http::Response r = http::fetch(http::Request{.url = s.http + "/method", .data = std::string("hello")});
  EXPECT_EQ(r.body, "POST 5\n");
  r = http::fetch(http::Request{.url = s.http + "/method", .method = "PUT", .data = std::string("abc")});
  EXPECT_EQ(r.body, "PUT 3\n");
  r = http::fetch(http::Request{.url = s.http + "/echo-ua", .user_agent = "green-test/1"});
  EXPECT_EQ(r.body, "ua=green-test/1\n");
  r = http::fetch(http::Request{.url = s.http + "/echo-ua", .headers = {"User-Agent: from-header"}});
  EXPECT_EQ(r.body, "ua=from-header\n");
  r = http::fetch(http::Request{.url = s.http + "/files/size-1000.bin", .method = "HEAD"});
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.bytes, 0u);
}

}  // namespace

GREEN_TEST(Http, LowSpeedLimitAbortsAServerThatNeverAnswers) {
  // A listener that is never accepted from: the kernel completes the
  // handshake and takes the request, and no byte ever comes back.
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  ASSERT_EQ(::listen(fd, 8), 0);
  socklen_t len = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  std::error_code ec;
  http::Response r = http::fetch(http::Request{.url = "http://127.0.0.1:" + std::to_string(ntohs(a.sin_port)) + "/",
                                               .low_speed_limit = 1,
                                               .low_speed_time = 1s},
                                 ec);
  ::close(fd);
  EXPECT_EQ(http::classify(ec), http::ErrorClass::timeout);
  EXPECT_EQ(r.error, "stalled: no data for 1 s");
  EXPECT_EQ(r.status, 0);
}

GREEN_TEST(Http, ResolveEntriesTakeThePlaceOfNameResolution) {
  Server& s = server();
  const std::string port = s.env.at("HTTP_PORT");
  http::Response r = http::fetch(http::Request{.url = "http://green.test:" + port + "/files/size-1000.bin",
                                               .resolve = {"green.test:" + port + ":127.0.0.1"}});
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, s.file("files/size-1000.bin"));
}
