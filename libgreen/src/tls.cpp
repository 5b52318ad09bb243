// TlsStream and TlsStreamServer.
//
// Everything goes through ssl::stream's asynchronous operations run with
// green::yield. Its synchronous calls are no fast path here: on a
// non-blocking socket a partial write of the engine's output is lost.
#include <green/hub.hpp>
#include <green/io.hpp>
#include <green/timeout.hpp>
#include <green/tls.hpp>
#include <green/yield.hpp>

#include <boost/asio/buffer.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/asio/write.hpp>

#include <openssl/ssl.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>

#include <openssl/bio.h>

#include <algorithm>
#include <cerrno>
#include <mutex>
#include <stdexcept>

namespace green::net {

namespace {

std::error_code sys_error(int e) { return {e, std::system_category()}; }

class VerifyCategory final : public std::error_category {
 public:
  const char* name() const noexcept override { return "green.tls.verify"; }
  std::string message(int v) const override {
    return std::string("certificate verify failed: ") + X509_verify_cert_error_string(v);
  }
};

// The first error of a handshake wins over the socket error that follows it.
std::error_code handshake_error(const boost::system::error_code& bec, SSL* ssl) {
  if (!bec) return {};
  const long verify = SSL_get_verify_result(ssl);
  // A failed chain or name check surfaces from Asio as a bare "certificate
  // verify failed"; OpenSSL kept the reason.
  if (verify != X509_V_OK && SSL_get_verify_mode(ssl) != SSL_VERIFY_NONE) {
    return {static_cast<int>(verify), tls_verify_category()};
  }
  return bec;
}

void restrict_versions(ssl::context& ctx) {
  ctx.set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 | ssl::context::no_sslv3 |
                  ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1);
}

void load_cert_and_key(ssl::context& ctx, const std::string& cert_file, const std::string& key_file) {
  boost::system::error_code ec;
  ctx.use_certificate_chain_file(cert_file, ec);
  if (ec) throw std::system_error(ec, "TLS certificate file '" + cert_file + "'");
  ctx.use_private_key_file(key_file, ssl::context::pem, ec);
  if (ec) throw std::system_error(ec, "TLS key file '" + key_file + "'");
  if (SSL_CTX_check_private_key(ctx.native_handle()) != 1) {
    throw std::system_error(std::make_error_code(std::errc::invalid_argument),
                            "TLS key file '" + key_file + "' does not match certificate '" + cert_file + "'");
  }
}

// ALPN's wire form: each name preceded by its length.
std::string alpn_wire(const std::vector<std::string>& protocols) {
  std::string wire;
  for (const std::string& p : protocols) {
    if (p.empty() || p.size() > 255)
      throw std::invalid_argument("TLS: ALPN protocol name '" + p + "' is not 1 to 255 bytes long");
    wire += static_cast<char>(p.size());
    wire += p;
  }
  return wire;
}

// The server's choice: its own first protocol that the client offers (the
// order Python's ssl module uses); nothing in common is no error.
int select_alpn(SSL*, const unsigned char** out, unsigned char* out_len, const unsigned char* in, unsigned int in_len,
                void* arg) {
  const auto* wire = static_cast<const std::string*>(arg);
  unsigned char* chosen = nullptr;
  unsigned char len = 0;
  if (SSL_select_next_proto(&chosen, &len, reinterpret_cast<const unsigned char*>(wire->data()),
                            static_cast<unsigned int>(wire->size()), in, in_len) != OPENSSL_NPN_NEGOTIATED) {
    return SSL_TLSEXT_ERR_NOACK;
  }
  *out = chosen;
  *out_len = len;
  return SSL_TLSEXT_ERR_OK;
}

// A server context and what its callbacks point to, freed together.
struct ServerContext {
  ServerContext() : ctx(ssl::context::tls_server) {}
  ssl::context ctx;
  std::string alpn;
};

std::string name_text(X509_NAME* name) {
  BIO* bio = BIO_new(BIO_s_mem());
  if (!bio) throw std::bad_alloc();
  X509_NAME_print_ex(bio, name, 0, XN_FLAG_RFC2253);
  char* data = nullptr;
  const long n = BIO_get_mem_data(bio, &data);
  std::string out(data, static_cast<std::size_t>(n > 0 ? n : 0));
  BIO_free(bio);
  return out;
}

std::shared_ptr<ssl::context> shared_system_context() {
  // OpenSSL contexts may be shared between threads once set up.
  static std::once_flag once;
  static std::shared_ptr<ssl::context> ctx;
  std::call_once(once, [] { ctx = tls_client_context(); });
  return ctx;
}

// Runs `op` (which waits with green::yield[bec]) under `timeout`; our own
// timeout becomes timed_out, an enclosing one propagates.
template <class Op>
boost::system::error_code bounded(Duration timeout, Op&& op) {
  boost::system::error_code bec;
  bool timed_out = false;
  green::Timeout limit(timeout);
  try {
    op(bec);
  } catch (const green::Timeout& t) {
    if (!(t == limit)) throw;
    timed_out = true;
  }
  limit.cancel();
  if (timed_out) return boost::system::error_code(ETIMEDOUT, boost::system::system_category());
  return bec;
}

}  // namespace

const std::error_category& tls_verify_category() noexcept {
  static const VerifyCategory category;
  return category;
}

std::shared_ptr<ssl::context> tls_client_context(const std::string& ca_file) {
  auto ctx = std::make_shared<ssl::context>(ssl::context::tls_client);
  restrict_versions(*ctx);
  boost::system::error_code ec;
  if (ca_file.empty()) {
    ctx->set_default_verify_paths(ec);
    if (ec) throw std::system_error(ec, "TLS: cannot load the system CA store");
  } else {
    ctx->load_verify_file(ca_file, ec);
    if (ec) throw std::system_error(ec, "TLS CA file '" + ca_file + "'");
  }
  return ctx;
}

std::shared_ptr<ssl::context> tls_client_context(const TlsClientOptions& options) {
  auto ctx = tls_client_context(options.ca_file);
  if (!options.cert_file.empty() || !options.key_file.empty())
    load_cert_and_key(*ctx, options.cert_file, options.key_file.empty() ? options.cert_file : options.key_file);
  return ctx;
}

std::shared_ptr<ssl::context> tls_server_context(const std::string& cert_file, const std::string& key_file) {
  auto ctx = std::make_shared<ssl::context>(ssl::context::tls_server);
  restrict_versions(*ctx);
  load_cert_and_key(*ctx, cert_file, key_file);
  return ctx;
}

std::shared_ptr<ssl::context> tls_server_context(const TlsServerOptions& options) {
  auto h = std::make_shared<ServerContext>();
  restrict_versions(h->ctx);
  load_cert_and_key(h->ctx, options.cert_file, options.key_file);
  SSL_CTX* native = h->ctx.native_handle();
  if (options.client_auth != ClientAuth::none) {
    if (options.client_ca_file.empty())
      throw std::invalid_argument("TLS: client certificates are asked for but no client_ca_file is given");
    boost::system::error_code ec;
    h->ctx.load_verify_file(options.client_ca_file, ec);
    if (ec) throw std::system_error(ec, "TLS client CA file '" + options.client_ca_file + "'");
    // The CertificateRequest names them, so a client holding several
    // certificates can pick the right one.
    if (STACK_OF(X509_NAME)* names = SSL_load_client_CA_file(options.client_ca_file.c_str()))
      SSL_CTX_set_client_CA_list(native, names);
    SSL_CTX_set_verify(
        native, SSL_VERIFY_PEER | (options.client_auth == ClientAuth::required ? SSL_VERIFY_FAIL_IF_NO_PEER_CERT : 0),
        nullptr);
    // Resuming a session of a verified client needs one, or OpenSSL fails
    // the handshake.
    static const unsigned char sid[] = "green";
    SSL_CTX_set_session_id_context(native, sid, sizeof sid - 1);
  }
  if (!options.alpn.empty()) {
    h->alpn = alpn_wire(options.alpn);
    SSL_CTX_set_alpn_select_cb(native, &select_alpn, &h->alpn);
  }
  return std::shared_ptr<ssl::context>(h, &h->ctx);
}

// ---- TlsStream ---------------------------------------------------------------

struct TlsStream::Impl {
  Impl(Tcp::socket s, std::shared_ptr<ssl::context> c) : ctx(std::move(c)), stream(std::move(s), *ctx) {}
  std::shared_ptr<ssl::context> ctx;  // outlives the SSL object made from it
  Stream stream;
};

TlsStream::TlsStream() = default;
TlsStream::TlsStream(std::unique_ptr<Impl> impl, Tcp::endpoint peer) : impl_(std::move(impl)), peer_(peer) {}
TlsStream::TlsStream(TlsStream&&) noexcept = default;
TlsStream& TlsStream::operator=(TlsStream&&) noexcept = default;
TlsStream::~TlsStream() { close(); }

bool TlsStream::is_open() const noexcept { return impl_ && impl_->stream.next_layer().is_open(); }

void TlsStream::close() noexcept {
  if (!impl_) return;
  boost::system::error_code ignored;
  impl_->stream.next_layer().close(ignored);
}

void TlsStream::set_nodelay(bool on, std::error_code& ec) noexcept {
  ec.clear();
  if (!is_open()) {
    ec = sys_error(EBADF);
    return;
  }
  boost::system::error_code bec;
  impl_->stream.next_layer().set_option(Tcp::no_delay(on), bec);
  ec = bec;
}

TlsStream::Stream& TlsStream::stream() {
  if (!impl_) throw std::logic_error("green::net::TlsStream::stream() on a stream that was never opened");
  return impl_->stream;
}

std::string TlsStream::protocol() const {
  if (!is_open()) return {};
  return SSL_get_version(const_cast<Stream&>(impl_->stream).native_handle());
}

std::string TlsStream::alpn_protocol() const {
  if (!impl_) return {};
  const unsigned char* data = nullptr;
  unsigned int len = 0;
  SSL_get0_alpn_selected(const_cast<Stream&>(impl_->stream).native_handle(), &data, &len);
  return data ? std::string(reinterpret_cast<const char*>(data), len) : std::string();
}

std::optional<PeerCertificate> TlsStream::peer_certificate() const {
  if (!impl_) return std::nullopt;
  X509* x = SSL_get1_peer_certificate(const_cast<Stream&>(impl_->stream).native_handle());
  if (!x) return std::nullopt;
  std::unique_ptr<X509, decltype(&X509_free)> cert(x, &X509_free);
  PeerCertificate out;
  out.subject = name_text(X509_get_subject_name(x));
  out.issuer = name_text(X509_get_issuer_name(x));
  auto* names = static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(x, NID_subject_alt_name, nullptr, nullptr));
  for (int i = 0; names && i < sk_GENERAL_NAME_num(names); ++i) {
    const GENERAL_NAME* n = sk_GENERAL_NAME_value(names, i);
    if (n->type == GEN_DNS || n->type == GEN_EMAIL || n->type == GEN_URI) {
      const ASN1_IA5STRING* v = n->d.ia5;
      out.alt_names.push_back(std::string(n->type == GEN_DNS     ? "DNS:"
                                          : n->type == GEN_EMAIL ? "email:"
                                                                 : "URI:") +
                              std::string(reinterpret_cast<const char*>(ASN1_STRING_get0_data(v)),
                                          static_cast<std::size_t>(ASN1_STRING_length(v))));
    } else if (n->type == GEN_IPADD) {
      const unsigned char* b = ASN1_STRING_get0_data(n->d.ip);
      const int len = ASN1_STRING_length(n->d.ip);
      if (len == 4) {
        boost::asio::ip::address_v4::bytes_type a;
        std::copy(b, b + 4, a.begin());
        out.alt_names.push_back("IP:" + boost::asio::ip::address_v4(a).to_string());
      } else if (len == 16) {
        boost::asio::ip::address_v6::bytes_type a;
        std::copy(b, b + 16, a.begin());
        out.alt_names.push_back("IP:" + boost::asio::ip::address_v6(a).to_string());
      }
    }
  }
  GENERAL_NAMES_free(names);
  return out;
}

TlsStream TlsStream::client(TcpStream tcp, std::string_view host, Duration timeout, const TlsClientOptions& options,
                            std::error_code& ec) {
  ec.clear();
  if (!tcp.is_open()) {
    ec = sys_error(EBADF);
    return {};
  }
  if (tcp.buffered() != 0) {
    ec = std::make_error_code(std::errc::invalid_argument);
    return {};
  }
  std::shared_ptr<ssl::context> ctx = options.context;
  std::string alpn;
  try {
    if (!ctx)
      ctx =
          options.ca_file.empty() && options.cert_file.empty() ? shared_system_context() : tls_client_context(options);
    alpn = alpn_wire(options.alpn);
  } catch (const std::system_error& e) {
    ec = e.code();
    return {};
  } catch (const std::invalid_argument&) {
    ec = std::make_error_code(std::errc::invalid_argument);
    return {};
  }
  const Tcp::endpoint peer = tcp.remote_endpoint();
  auto impl = std::make_unique<Impl>(std::move(tcp.socket()), std::move(ctx));
  SSL* ssl = impl->stream.native_handle();
  const std::string name(options.server_name.empty() ? host : std::string_view(options.server_name));
  // OpenSSL takes an empty name as "check no name": verification would pass
  // any certificate the CAs signed.
  if (name.empty() && options.verify) {
    ec = std::make_error_code(std::errc::invalid_argument);
    return {};
  }
  std::error_code not_ip;
  const address ip = name == "localhost" || name.empty() ? address() : parse_address(name, not_ip);
  const bool is_ip = !name.empty() && name != "localhost" && !not_ip;
  if (!is_ip && SSL_set_tlsext_host_name(ssl, name.c_str()) != 1) {
    ec = std::make_error_code(std::errc::invalid_argument);
    return {};
  }
  if (!alpn.empty() && SSL_set_alpn_protos(ssl, reinterpret_cast<const unsigned char*>(alpn.data()),
                                           static_cast<unsigned>(alpn.size()))) {
    ec = std::make_error_code(std::errc::invalid_argument);
    return {};
  }
  if (options.verify) {
    const int ok = is_ip ? X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), ip.to_string().c_str())
                         : SSL_set1_host(ssl, name.c_str());
    if (ok != 1) {
      ec = std::make_error_code(std::errc::invalid_argument);
      return {};
    }
    SSL_set_verify(ssl, SSL_VERIFY_PEER, nullptr);
  } else {
    SSL_set_verify(ssl, SSL_VERIFY_NONE, nullptr);
  }
  const auto bec = bounded(timeout, [&](boost::system::error_code& e) {
    impl->stream.async_handshake(ssl::stream_base::client, green::yield[e]);
  });
  ec = handshake_error(bec, ssl);
  if (ec) return {};
  return TlsStream(std::move(impl), peer);
}

TlsStream TlsStream::client(TcpStream tcp, std::string_view host, Duration timeout, const TlsClientOptions& options) {
  const std::string where = "TLS handshake with " + std::string(host) + " (" + to_string(tcp.remote_endpoint()) + ")";
  std::error_code ec;
  TlsStream s = client(std::move(tcp), host, timeout, options, ec);
  if (ec) throw std::system_error(ec, where);
  return s;
}

TlsStream TlsStream::connect(std::string_view host, std::uint16_t port, Duration timeout,
                             const TlsClientOptions& options, std::error_code& ec) {
  const auto deadline = detail::deadline_after(timeout);
  TcpStream tcp = TcpStream::connect(host, port, timeout, ec);
  if (ec) return {};
  const Duration left = deadline == detail::no_deadline ? forever : deadline - Clock::now();
  if (left <= Duration::zero()) {
    ec = std::make_error_code(std::errc::timed_out);
    return {};
  }
  return client(std::move(tcp), host, left, options, ec);
}

TlsStream TlsStream::connect(std::string_view host, std::uint16_t port, Duration timeout,
                             const TlsClientOptions& options) {
  std::error_code ec;
  TlsStream s = connect(host, port, timeout, options, ec);
  if (ec) throw std::system_error(ec, "TLS connect to " + std::string(host) + " port " + std::to_string(port));
  return s;
}

TlsStream TlsStream::server(TcpStream tcp, std::shared_ptr<ssl::context> context, Duration timeout,
                            std::error_code& ec) {
  ec.clear();
  if (!tcp.is_open()) {
    ec = sys_error(EBADF);
    return {};
  }
  if (!context) throw std::invalid_argument("green::net::TlsStream::server without a context");
  const Tcp::endpoint peer = tcp.remote_endpoint();
  auto impl = std::make_unique<Impl>(std::move(tcp.socket()), std::move(context));
  const auto bec = bounded(timeout, [&](boost::system::error_code& e) {
    impl->stream.async_handshake(ssl::stream_base::server, green::yield[e]);
  });
  ec = handshake_error(bec, impl->stream.native_handle());
  if (ec) return {};
  return TlsStream(std::move(impl), peer);
}

TlsStream TlsStream::server(TcpStream tcp, std::shared_ptr<ssl::context> context, Duration timeout) {
  const std::string where = "TLS handshake with " + to_string(tcp.remote_endpoint());
  std::error_code ec;
  TlsStream s = server(std::move(tcp), std::move(context), timeout, ec);
  if (ec) throw std::system_error(ec, where);
  return s;
}

std::size_t TlsStream::read_some(std::span<char> buf, std::error_code& ec) {
  ec.clear();
  if (buf.empty()) return 0;
  if (!rbuf_.empty()) return rbuf_.take(buf);
  if (!is_open()) {
    ec = sys_error(EBADF);
    return 0;
  }
  green::detail::check_interrupt();
  if (eof_) return 0;
  boost::system::error_code bec;
  const std::size_t n = impl_->stream.async_read_some(boost::asio::buffer(buf.data(), buf.size()), green::yield[bec]);
  if (bec == boost::asio::error::eof || bec == ssl::error::stream_truncated) {
    eof_ = true;
    return 0;
  }
  if (bec) ec = bec;
  return n;
}

std::size_t TlsStream::read_some(std::span<char> buf) {
  std::error_code ec;
  const std::size_t n = read_some(buf, ec);
  if (ec) throw std::system_error(ec, "TLS read from " + to_string(peer_));
  return n;
}

std::string TlsStream::read_line(std::size_t max, std::error_code& ec) {
  return rbuf_.read_line(max, ec, [this](std::span<char> space, std::error_code& e) { return read_some(space, e); });
}

std::string TlsStream::read_line(std::size_t max) {
  std::error_code ec;
  std::string line = read_line(max, ec);
  if (ec) throw std::system_error(ec, "TLS read from " + to_string(peer_));
  return line;
}

void TlsStream::write_all(std::string_view data, std::error_code& ec) {
  ec.clear();
  if (!is_open()) {
    ec = sys_error(EBADF);
    return;
  }
  green::detail::check_interrupt();
  if (data.empty()) return;
  boost::system::error_code bec;
  boost::asio::async_write(impl_->stream, boost::asio::buffer(data.data(), data.size()), green::yield[bec]);
  if (bec) ec = bec;
}

void TlsStream::write_all(std::string_view data) {
  std::error_code ec;
  write_all(data, ec);
  if (ec) throw std::system_error(ec, "TLS write to " + to_string(peer_));
}

void TlsStream::shutdown(Duration wait, std::error_code& ec) {
  ec.clear();
  if (!is_open()) {
    ec = sys_error(EBADF);
    return;
  }
  // Asio's shutdown sends close_notify, then reads until the peer's: those
  // that never answer, or close the connection, are the common case.
  const auto bec = bounded(wait, [&](boost::system::error_code& e) { impl_->stream.async_shutdown(green::yield[e]); });
  if (!bec || bec == boost::asio::error::eof || bec == ssl::error::stream_truncated ||
      bec == boost::system::error_code(ETIMEDOUT, boost::system::system_category())) {
    return;
  }
  ec = bec;
}

void TlsStream::shutdown(Duration wait) {
  std::error_code ec;
  shutdown(wait, ec);
  if (ec) throw std::system_error(ec, "TLS shutdown with " + to_string(peer_));
}

// ---- TlsStreamServer ---------------------------------------------------------

struct TlsStreamServer::State {
  std::shared_ptr<ssl::context> ctx;
  TlsServerOptions opt;
  Handler handler;
  std::size_t failures = 0;
};

TlsStreamServer::TlsStreamServer(const Tcp::endpoint& local, Handler handler, TlsServerOptions tls,
                                 StreamServerOptions options)
    : st_(std::make_shared<State>()) {
  st_->ctx = tls.context ? tls.context : tls_server_context(tls);
  st_->opt = std::move(tls);
  st_->handler = std::move(handler);
  // The handshake runs in the connection's greenlet, never in the accept
  // loop: a client that sends nothing holds only its own greenlet.
  server_ = std::make_unique<StreamServer>(
      local,
      [st = st_](TcpStream& tcp) {
        const Tcp::endpoint peer = tcp.remote_endpoint();
        std::error_code ec;
        TlsStream s = TlsStream::server(std::move(tcp), st->ctx, st->opt.handshake_timeout, ec);
        if (ec) {
          ++st->failures;
          if (st->opt.on_handshake_error) st->opt.on_handshake_error(peer, ec);
          return;
        }
        st->handler(s);
      },
      std::move(options));
}

TlsStreamServer::TlsStreamServer(std::string_view host, std::uint16_t port, Handler handler, TlsServerOptions tls,
                                 StreamServerOptions options)
    : TlsStreamServer(Tcp::endpoint(parse_address(host), port), std::move(handler), std::move(tls),
                      std::move(options)) {}

TlsStreamServer::~TlsStreamServer() = default;

std::size_t TlsStreamServer::handshake_failures() const noexcept { return st_->failures; }

}  // namespace green::net
