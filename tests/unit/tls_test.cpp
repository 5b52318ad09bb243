// green::net TLS: TlsStream and TlsStreamServer over loopback, against each
// other, against peers that stall or send garbage, and against OpenSSL's
// own s_server and Python's ssl module.
#include <green/tls.hpp>

#include <green/proc.hpp>

#include "green_test.hpp"
#include "stream_checks.hpp"

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <stdexcept>
#include <string>

namespace {

using green::net::TcpStream;
using green::net::TlsClientOptions;
using green::net::TlsServerOptions;
using green::net::TlsStream;
using green::net::TlsStreamServer;

// A throwaway self-signed certificate for localhost and 127.0.0.1 (P-256,
// valid for a day), made at run time so no key is ever committed.
void write_self_signed(const std::string& cert_path, const std::string& key_path, long serial,
                       const char* cn = "localhost") {
  EVP_PKEY* key = EVP_EC_gen("P-256");
  X509* x = X509_new();
  if (!key || !x) throw std::runtime_error("cannot make a test key");
  X509_set_version(x, 2);
  ASN1_INTEGER_set(X509_get_serialNumber(x), serial);
  X509_gmtime_adj(X509_getm_notBefore(x), -3600);
  X509_gmtime_adj(X509_getm_notAfter(x), 86400);
  X509_set_pubkey(x, key);
  X509_NAME* name = X509_get_subject_name(x);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>(cn), -1, -1, 0);
  X509_set_issuer_name(x, name);
  X509V3_CTX v3;
  X509V3_set_ctx_nodb(&v3);
  X509V3_set_ctx(&v3, x, x, nullptr, nullptr, 0);
  for (auto [nid, value] : {std::pair{NID_subject_alt_name, "DNS:localhost,IP:127.0.0.1"},
                            std::pair{NID_basic_constraints, "critical,CA:TRUE"}}) {
    X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &v3, nid, value);
    X509_add_ext(x, ext, -1);
    X509_EXTENSION_free(ext);
  }
  X509_sign(x, key, EVP_sha256());
  FILE* c = std::fopen(cert_path.c_str(), "w");
  FILE* k = std::fopen(key_path.c_str(), "w");
  if (!c || !k) throw std::runtime_error("cannot write the test certificate");
  PEM_write_X509(c, x);
  PEM_write_PrivateKey(k, key, nullptr, nullptr, 0, nullptr, nullptr);
  std::fclose(c);
  std::fclose(k);
  X509_free(x);
  EVP_PKEY_free(key);
}

struct Certs {
  std::string dir, cert, key, other_cert, other_key, client_cert, client_key;
  Certs() {
    char tmpl[] = "/tmp/green-tls-test.XXXXXX";
    if (!::mkdtemp(tmpl)) throw std::runtime_error("mkdtemp");
    dir = tmpl;
    cert = dir + "/cert.pem";
    key = dir + "/key.pem";
    other_cert = dir + "/other.pem";
    other_key = dir + "/other-key.pem";
    write_self_signed(cert, key, 1);
    write_self_signed(other_cert, other_key, 2);
    client_cert = dir + "/client.pem";
    client_key = dir + "/client-key.pem";
    write_self_signed(client_cert, client_key, 3, "client");
  }
  ~Certs() {
    std::error_code ignored;
    std::filesystem::remove_all(dir, ignored);
  }
};

const Certs& certs() {
  static const Certs c;
  return c;
}

TlsClientOptions trusting(const std::string& ca_file) {
  TlsClientOptions o;
  o.ca_file = ca_file;
  return o;
}

// Echoes lines back until the peer closes.
TlsStreamServer line_echo(TlsServerOptions tls = {}) {
  if (!tls.context && tls.cert_file.empty()) {
    tls.cert_file = certs().cert;
    tls.key_file = certs().key;
  }
  return TlsStreamServer("127.0.0.1", 0, green::testing::echo_lines<TlsStream>, std::move(tls));
}

GREEN_TEST(Tls, ClientAndServerRoundTripVerifyingNameAndAddress) {
  TlsStreamServer server = line_echo();
  server.start();
  const auto port = server.local_endpoint().port();
  TlsStream c = TlsStream::connect("localhost", port, 5s, trusting(certs().cert));
  EXPECT_EQ(c.protocol(), "TLSv1.3");
  c.write_all("first\nsec");
  c.write_all("ond\n");
  EXPECT_EQ(c.read_line(), "first\n");
  EXPECT_EQ(c.read_line(), "second\n");
  c.shutdown();
  c.close();
  // An IP address is checked against the certificate's IP entries.
  TlsStream by_ip = TlsStream::connect("127.0.0.1", port, 5s, trusting(certs().cert));
  by_ip.write_all(std::string(100000, 'x') + "\n");
  EXPECT_EQ(by_ip.read_line(200000).size(), 100001u) << "a line longer than a TLS record";
  by_ip.close();
  server.stop(1s);
  EXPECT_EQ(server.accepted(), 2u);
  EXPECT_EQ(server.handshake_failures(), 0u);
}

GREEN_TEST(Tls, WrongCaFailsVerificationNamingTheHost) {
  TlsStreamServer server = line_echo();
  server.start();
  const auto port = server.local_endpoint().port();
  try {
    TlsStream::connect("localhost", port, 5s, trusting(certs().other_cert));
    ADD_FAILURE() << "a certificate from another CA was accepted";
  } catch (const std::system_error& e) {
    EXPECT_EQ(e.code().category(), green::net::tls_verify_category());
    const std::string what = e.what();
    EXPECT_NE(what.find("localhost"), std::string::npos) << what;
    EXPECT_NE(what.find("certificate verify failed"), std::string::npos) << what;
  }
  // The system store does not know a self-signed certificate either.
  std::error_code ec;
  TlsStream s = TlsStream::connect("localhost", port, 5s, {}, ec);
  EXPECT_EQ(ec.category(), green::net::tls_verify_category()) << ec.message();
  EXPECT_FALSE(s.is_open());
  // Turning verification off is explicit.
  TlsClientOptions insecure;
  insecure.verify = false;
  TlsStream c = TlsStream::connect("localhost", port, 5s, insecure);
  c.write_all("unverified\n");
  EXPECT_EQ(c.read_line(), "unverified\n");
  c.close();
  server.stop(1s);
  EXPECT_EQ(server.handshake_failures(), 2u) << "the server sees the clients' alerts";
}

GREEN_TEST(Tls, WrongHostNameFailsVerification) {
  TlsStreamServer server = line_echo();
  server.start();
  TlsClientOptions o = trusting(certs().cert);
  o.server_name = "wrong.test";
  std::error_code ec;
  TlsStream::connect("127.0.0.1", server.local_endpoint().port(), 5s, o, ec);
  EXPECT_EQ(ec, std::error_code(X509_V_ERR_HOSTNAME_MISMATCH, green::net::tls_verify_category())) << ec.message();
  EXPECT_NE(ec.message().find("hostname mismatch"), std::string::npos) << ec.message();
  // No name at all cannot be verified (OpenSSL would check none).
  TlsStream::client(TcpStream::connect("127.0.0.1", server.local_endpoint().port(), 5s), "", 5s, trusting(certs().cert),
                    ec);
  EXPECT_EQ(ec, std::errc::invalid_argument) << ec.message();
  server.stop(1s);
}

// ---- mutual TLS and ALPN ---------------------------------------------------------------

// Answers one line: who the client is, or "anonymous".
TlsStreamServer who_am_i(TlsServerOptions tls) {
  tls.cert_file = certs().cert;
  tls.key_file = certs().key;
  return TlsStreamServer(
      "127.0.0.1", 0,
      [](TlsStream& s) {
        const auto peer = s.peer_certificate();
        s.write_all((peer ? peer->subject : std::string("anonymous")) + " " + s.alpn_protocol() + "\n");
        s.shutdown(100ms);
      },
      std::move(tls));
}

GREEN_TEST(Tls, MutualTlsServerSeesTheVerifiedClientCertificate) {
  TlsServerOptions tls;
  tls.client_auth = green::net::ClientAuth::required;
  tls.client_ca_file = certs().client_cert;
  TlsStreamServer server = who_am_i(tls);
  server.start();
  TlsClientOptions o = trusting(certs().cert);
  o.cert_file = certs().client_cert;
  o.key_file = certs().client_key;
  TlsStream c = TlsStream::connect("localhost", server.local_endpoint().port(), 5s, o);
  EXPECT_EQ(c.read_line(), "CN=client \n");
  const auto peer = c.peer_certificate();
  ASSERT_TRUE(peer);
  EXPECT_EQ(peer->subject, "CN=localhost");
  EXPECT_EQ(peer->issuer, "CN=localhost");
  EXPECT_EQ(peer->alt_names, (std::vector<std::string>{"DNS:localhost", "IP:127.0.0.1"}));
  c.close();
  server.stop(1s);
  EXPECT_EQ(server.handshake_failures(), 0u);
}

// The server's verdict on the client, and what the client reads: never a hang.
struct Rejected {
  std::string server_error;
  std::string client_error;
};

Rejected rejected_client(const TlsClientOptions& o) {
  TlsServerOptions tls;
  tls.client_auth = green::net::ClientAuth::required;
  tls.client_ca_file = certs().client_cert;
  Rejected r;
  tls.on_handshake_error = [&](const green::net::Tcp::endpoint&, const std::error_code& ec) {
    r.server_error = ec.message();
  };
  TlsStreamServer server = who_am_i(tls);
  server.start();
  green::Timeout limit(green::testing::scaled(10s));
  std::error_code ec;
  // TLS 1.3: the client's handshake completes before the server checks
  // its certificate; the server's alert comes to the first read.
  TlsStream c = TlsStream::connect("localhost", server.local_endpoint().port(), 5s, o, ec);
  if (!ec) {
    const std::string line = c.read_line(1024, ec);
    EXPECT_EQ(line, "") << "the rejected client was served";
  }
  r.client_error = ec.message();
  EXPECT_TRUE(ec) << "the client saw no error";
  while (server.handshake_failures() == 0) green::sleep(1ms);
  server.stop(1s);
  return r;
}

GREEN_TEST(Tls, ServerRequiringAClientCertificateRejectsAClientWithoutOne) {
  const Rejected r = rejected_client(trusting(certs().cert));
  EXPECT_NE(r.server_error.find("peer did not return a certificate"), std::string::npos) << r.server_error;
  EXPECT_NE(r.client_error.find("certificate required"), std::string::npos) << r.client_error;
}

GREEN_TEST(Tls, ClientCertificateFromAnotherCaFailsVerificationOnTheServer) {
  TlsClientOptions o = trusting(certs().cert);
  o.cert_file = certs().other_cert;
  o.key_file = certs().other_key;
  const Rejected r = rejected_client(o);
  EXPECT_NE(r.server_error.find("certificate verify failed"), std::string::npos) << r.server_error;
  EXPECT_NE(r.client_error.find("unknown ca"), std::string::npos) << r.client_error;
}

GREEN_TEST(Tls, ClientAuthWithoutACaFileIsRefusedWhenTheServerIsMade) {
  TlsServerOptions tls;
  tls.client_auth = green::net::ClientAuth::optional;
  EXPECT_THROW(who_am_i(tls), std::invalid_argument);
  tls.client_ca_file = certs().dir + "/missing.pem";
  try {
    who_am_i(tls);
    ADD_FAILURE() << "a missing client CA file was accepted";
  } catch (const std::system_error& e) {
    EXPECT_NE(std::string(e.what()).find("missing.pem"), std::string::npos) << e.what();
  }
}

GREEN_TEST(Tls, AlpnPicksTheServersFirstChoiceTheClientOffers) {
  TlsServerOptions tls;
  tls.alpn = {"h2", "http/1.1"};
  TlsStreamServer server = who_am_i(tls);
  server.start();
  const auto port = server.local_endpoint().port();
  const auto ask = [&](std::vector<std::string> offered) {
    TlsClientOptions o = trusting(certs().cert);
    o.alpn = std::move(offered);
    TlsStream c = TlsStream::connect("localhost", port, 5s, o);
    std::string line = c.read_line();
    EXPECT_EQ(line, "anonymous " + c.alpn_protocol() + "\n") << "both sides agree";
    return c.alpn_protocol();
  };
  EXPECT_EQ(ask({"http/1.1", "h2"}), "h2");
  EXPECT_EQ(ask({"http/1.1"}), "http/1.1");
  EXPECT_EQ(ask({"spdy/3"}), "") << "nothing in common is no failure";
  EXPECT_EQ(ask({}), "");
  EXPECT_EQ(server.handshake_failures(), 0u);
  std::error_code ec;
  TlsClientOptions bad = trusting(certs().cert);
  bad.alpn = {""};
  TlsStream::connect("localhost", port, 5s, bad, ec);
  EXPECT_EQ(ec, std::errc::invalid_argument);
  server.stop(1s);
}

GREEN_TEST(Tls, ClientThatNeverHandshakesTimesOutWhileOthersAreServed) {
  std::vector<std::error_code> failures;
  TlsServerOptions tls;
  tls.handshake_timeout = 1s;  // long enough for the other client's handshake on a loaded machine
  tls.on_handshake_error = [&](const green::net::Tcp::endpoint&, const std::error_code& ec) { failures.push_back(ec); };
  TlsStreamServer server = line_echo(std::move(tls));
  server.start();
  const auto port = server.local_endpoint().port();
  TcpStream silent = TcpStream::connect("127.0.0.1", port, 5s);
  green::sleep(10ms);
  // Accepting goes on while the silent client's handshake waits.
  TlsStream c = TlsStream::connect("localhost", port, 5s, trusting(certs().cert));
  c.write_all("served\n");
  EXPECT_EQ(c.read_line(), "served\n");
  EXPECT_EQ(server.handshake_failures(), 0u);
  // The silent client is dropped once its handshake time is over.
  char buf[16];
  std::error_code ec;
  EXPECT_EQ(silent.read_some(buf, ec), 0u);
  EXPECT_EQ(server.handshake_failures(), 1u);
  ASSERT_EQ(failures.size(), 1u);
  EXPECT_EQ(failures[0], std::errc::timed_out) << failures[0].message();
  c.write_all("still\n");
  EXPECT_EQ(c.read_line(), "still\n");
  c.close();
  server.stop(1s);
}

GREEN_TEST(Tls, PeerSendingGarbageIsCountedAndTheServerGoesOn) {
  std::vector<std::error_code> failures;
  TlsServerOptions tls;
  tls.on_handshake_error = [&](const green::net::Tcp::endpoint&, const std::error_code& ec) { failures.push_back(ec); };
  TlsStreamServer server = line_echo(std::move(tls));
  server.start();
  const auto port = server.local_endpoint().port();
  TcpStream plain = TcpStream::connect("127.0.0.1", port, 5s);
  plain.write_all("GET / HTTP/1.1\r\nHost: localhost\r\n\r\n");
  std::string reply;
  char buf[256];
  std::error_code ec;
  while (std::size_t n = plain.read_some(buf, ec)) reply.append(buf, n);
  EXPECT_EQ(reply.find("HTTP"), std::string::npos) << "nothing but perhaps a TLS alert comes back";
  EXPECT_EQ(server.handshake_failures(), 1u);
  ASSERT_EQ(failures.size(), 1u);
  EXPECT_NE(failures[0], std::errc::timed_out) << failures[0].message();
  TlsStream c = TlsStream::connect("localhost", port, 5s, trusting(certs().cert));
  c.write_all("after garbage\n");
  EXPECT_EQ(c.read_line(), "after garbage\n");
  c.close();
  // And a client that gets garbage back fails its handshake with an error.
  green::net::StreamServer liar("127.0.0.1", 0, [](TcpStream& s) {
    s.write_all("220 hello, this is not TLS\r\n");
    s.read_line();
  });
  liar.start();
  ec.clear();
  TlsStream::connect("127.0.0.1", liar.local_endpoint().port(), 5s, trusting(certs().cert), ec);
  EXPECT_TRUE(ec);
  EXPECT_NE(ec, std::errc::timed_out) << ec.message();
  liar.stop(1s);
  server.stop(1s);
}

GREEN_TEST(Tls, KillWhileBlockedInATlsReadUnwindsTheReader) {
  TlsStreamServer server = line_echo();
  server.start();
  TlsStream c = TlsStream::connect("localhost", server.local_endpoint().port(), 5s, trusting(certs().cert));
  green::testing::expect_kill_unwinds_parked_reader(c);
  c.close();
  server.stop(1s);
}

GREEN_TEST(Tls, TimeoutWhileWaitingInAReadLeavesTheStreamUsable) {
  TlsStreamServer server = line_echo();
  server.start();
  TlsStream c = TlsStream::connect("localhost", server.local_endpoint().port(), 5s, trusting(certs().cert));
  green::testing::expect_timeout_leaves_stream_usable(c);
  c.close();
  server.stop(1s);
}

GREEN_TEST(Tls, TimeoutAroundTheHandshakeCancelsIt) {
  // A TCP server that accepts and never answers the ClientHello.
  green::net::StreamServer mute("127.0.0.1", 0, [](TcpStream& s) {
    char buf[4096];
    std::error_code ec;
    while (s.read_some(buf, ec) != 0) {
    }
  });
  mute.start();
  const auto port = mute.local_endpoint().port();
  bool timed_out = false;
  try {
    green::Timeout t(50ms);
    TlsStream::connect("127.0.0.1", port, green::forever, trusting(certs().cert));
  } catch (const green::Timeout&) {
    timed_out = true;
  }
  EXPECT_TRUE(timed_out) << "an enclosing Timeout is raised, not turned into an error";
  std::error_code ec;
  TlsStream::connect("127.0.0.1", port, 50ms, trusting(certs().cert), ec);
  EXPECT_EQ(ec, std::errc::timed_out) << ec.message();
  // Server side: a handshake bounded by its own timeout.
  green::net::StreamServer handshaker("127.0.0.1", 0, [&](TcpStream& s) {
    TlsStream::server(std::move(s), green::net::tls_server_context(certs().cert, certs().key), 30ms, ec);
  });
  handshaker.start();
  TcpStream silent = TcpStream::connect("127.0.0.1", handshaker.local_endpoint().port(), 5s);
  char buf[8];
  std::error_code read_ec;
  EXPECT_EQ(silent.read_some(buf, read_ec), 0u);
  EXPECT_EQ(ec, std::errc::timed_out) << ec.message();
  handshaker.stop(1s);
  mute.stop(1s);
}

GREEN_TEST(Tls, MissingOrMismatchedKeyFilesAreNamed) {
  try {
    green::net::tls_server_context(certs().dir + "/absent.pem", certs().key);
    ADD_FAILURE() << "a missing certificate file was accepted";
  } catch (const std::system_error& e) {
    EXPECT_NE(std::string(e.what()).find("absent.pem"), std::string::npos) << e.what();
  }
  try {
    green::net::tls_server_context(certs().cert, certs().other_key);
    ADD_FAILURE() << "a key that does not match the certificate was accepted";
  } catch (const std::system_error& e) {
    EXPECT_NE(std::string(e.what()).find("other-key.pem"), std::string::npos) << e.what();
  }
}

// Outside peers: Python's ssl module as the client of a green server,
// OpenSSL's s_server as the server of a green client.
GREEN_TEST(Tls, PythonSslClientTalksToTheGreenServer) {
  TlsStreamServer server = line_echo();
  server.start();
  const std::string script =
      "import socket, ssl, sys\n"
      "ctx = ssl.create_default_context(cafile=sys.argv[1])\n"
      "with socket.create_connection(('127.0.0.1', int(sys.argv[2]))) as raw:\n"
      "    with ctx.wrap_socket(raw, server_hostname='localhost') as s:\n"
      "        s.sendall(b'from python\\n')\n"
      "        print(s.recv(100).decode(), s.version(), end='')\n";
  green::proc::RunOptions run;
  run.timeout = 20s;
  const auto r =
      green::proc::run({"python3", "-c", script, certs().cert, std::to_string(server.local_endpoint().port())}, run);
  EXPECT_EQ(r.returncode, 0) << r.err;
  EXPECT_EQ(r.out, "from python\n TLSv1.3");
  server.stop(1s);
  EXPECT_EQ(server.handshake_failures(), 0u);
}

GREEN_TEST(Tls, GreenClientTalksToOpensslSServer) {
  green::proc::Options o;
  o.out = green::proc::Stdio::pipe;
  o.err_to_out = true;
  o.in = green::proc::Stdio::null;
  auto p = green::proc::Process::spawn({"openssl", "s_server", "-accept", "127.0.0.1:0", "-cert", certs().cert, "-key",
                                        certs().key, "-naccept", "1", "-rev"},
                                       o);
  std::uint16_t port = 0;
  {
    green::Timeout t(20s);
    for (std::string line; !(line = p.stdout_pipe().read_line()).empty();) {
      if (line.rfind("ACCEPT ", 0) == 0) {
        port = static_cast<std::uint16_t>(std::stoi(line.substr(line.rfind(':') + 1)));
        break;
      }
    }
  }
  ASSERT_NE(port, 0) << "s_server said no port";
  TlsStream c = TlsStream::connect("localhost", port, 10s, trusting(certs().cert));
  c.write_all("green\n");
  EXPECT_EQ(c.read_line(), "neerg\n") << "s_server -rev sends each line back reversed";
  c.shutdown();
  c.close();
  if (!p.wait(10s)) {
    p.kill();
    p.wait();
  }
}

}  // namespace
