// green::http::parse_url on its own: curl's URL parser without the transfer
// machinery, so the fetch input fuzz target (tests/fuzz/) links only this.
#include <green/http.hpp>

#include <curl/curl.h>

#include <cstdio>
#include <mutex>
#include <new>
#include <optional>
#include <string>
#include <string_view>

namespace green::http {

namespace {

struct Refusal {
  UrlErrc code;
  std::string why;  // with the detail; empty: the code's own message
};

class UrlCategory : public std::error_category {
 public:
  const char* name() const noexcept override { return "url"; }
  std::string message(int c) const override {
    switch (static_cast<UrlErrc>(c)) {
      case UrlErrc::too_long:
        return "longer than 65536 bytes";
      case UrlErrc::whitespace:
        return "contains whitespace";
      case UrlErrc::nul_byte:
        return "contains a NUL byte";
      case UrlErrc::control_byte:
        return "contains a control byte";
      case UrlErrc::not_absolute:
        return "not an absolute http:// or https:// URL";
      case UrlErrc::unsupported_scheme:
        return "unsupported scheme (want http or https)";
      case UrlErrc::no_host:
        return "no host";
      case UrlErrc::bad_port:
        return "bad port (want 1-65535)";
      case UrlErrc::bad_ipv6:
        return "bad IPv6 address";
      case UrlErrc::bad_host:
        return "bad host name";
      case UrlErrc::bad_login:
        return "bad user name or password";
      case UrlErrc::invalid:
        break;
    }
    return "not a valid URL";
  }
};

// curl's own wording ("Bad scheme", "Out of memory" for a long URL) in
// green's.
UrlErrc reason(CURLUcode rc) {
  switch (rc) {
    case CURLUE_BAD_PORT_NUMBER:
      return UrlErrc::bad_port;
    case CURLUE_BAD_IPV6:
      return UrlErrc::bad_ipv6;
    case CURLUE_BAD_HOSTNAME:
      return UrlErrc::bad_host;
    case CURLUE_NO_HOST:
      return UrlErrc::no_host;
    case CURLUE_BAD_LOGIN:
    case CURLUE_BAD_USER:
    case CURLUE_BAD_PASSWORD:
      return UrlErrc::bad_login;
    case CURLUE_BAD_SCHEME:
      return UrlErrc::not_absolute;
    default:
      return UrlErrc::invalid;
  }
}

std::string unsupported(std::string_view scheme) {
  return "unsupported scheme " + std::string(scheme) + " (want http or https)";
}

// Catches what curl lets through or words badly, before it sees the text.
std::optional<Refusal> precheck(std::string_view text) {
  constexpr std::size_t kMaxUrl = 64 * 1024;
  if (text.size() > kMaxUrl) return Refusal{UrlErrc::too_long, {}};
  for (const char ch : text) {
    const auto c = static_cast<unsigned char>(ch);
    if (c == ' ' || c == '\t' || c == '\r' || c == '\n') return Refusal{UrlErrc::whitespace, {}};
    if (c == 0) return Refusal{UrlErrc::nul_byte, {}};
    if (c < 0x20 || c == 0x7f) {
      char buf[48];
      std::snprintf(buf, sizeof buf, "contains the control byte 0x%02x", c);
      return Refusal{UrlErrc::control_byte, buf};
    }
  }
  const auto sep = text.find("://");
  std::string_view scheme = text.substr(0, sep == std::string_view::npos ? 0 : sep);
  auto alpha = [](char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); };
  bool ok = !scheme.empty() && alpha(scheme[0]);
  for (const char c : scheme) ok = ok && (alpha(c) || (c >= '0' && c <= '9') || c == '+' || c == '-' || c == '.');
  if (!ok) return Refusal{UrlErrc::not_absolute, {}};
  std::string lower(scheme);
  for (char& c : lower) c = static_cast<char>(c | 0x20);
  if (lower != "http" && lower != "https") return Refusal{UrlErrc::unsupported_scheme, unsupported(scheme)};
  // "http:///path": curl would take "path" for the host.
  std::string_view authority = text.substr(sep + 3);
  authority = authority.substr(0, authority.find_first_of("/?#"));
  if (const auto at = authority.rfind('@'); at != std::string_view::npos) authority.remove_prefix(at + 1);
  if (authority.empty() || authority.front() == ':') return Refusal{UrlErrc::no_host, {}};
  return std::nullopt;
}

std::optional<Url> parse(const std::string& text, Refusal& refused) {
  static std::once_flag once;  // the URL API needs no more of curl than this
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
  if (std::optional<Refusal> bad = precheck(text)) {
    refused = std::move(*bad);
    return std::nullopt;
  }
  CURLU* h = curl_url();
  if (!h) throw std::bad_alloc();
  struct Free {
    CURLU* h;
    ~Free() { curl_url_cleanup(h); }
  } free_h{h};
  if (CURLUcode rc = curl_url_set(h, CURLUPART_URL, text.c_str(), 0); rc != CURLUE_OK) {
    refused = {reason(rc), {}};
    return std::nullopt;
  }
  auto part = [&](CURLUPart what, unsigned flags = 0) {
    char* v = nullptr;
    std::string out;
    if (curl_url_get(h, what, &v, flags) == CURLUE_OK && v) out = v;
    curl_free(v);
    return out;
  };
  Url u;
  u.scheme = part(CURLUPART_SCHEME);
  if (u.scheme != "http" && u.scheme != "https") {
    refused = {UrlErrc::unsupported_scheme, unsupported(u.scheme)};
    return std::nullopt;
  }
  u.host = part(CURLUPART_HOST);
  if (u.host.empty()) {
    refused = {UrlErrc::no_host, {}};
    return std::nullopt;
  }
  if (u.host.size() > 2 && u.host.front() == '[' && u.host.back() == ']') u.host = u.host.substr(1, u.host.size() - 2);
  u.port = part(CURLUPART_PORT, CURLU_DEFAULT_PORT);
  u.path = part(CURLUPART_PATH);
  if (u.path.empty()) u.path = "/";
  u.query = part(CURLUPART_QUERY);
  return u;
}

}  // namespace

const std::error_category& url_category() noexcept {
  static const UrlCategory category;
  return category;
}

std::optional<Url> parse_url(const std::string& text, std::error_code& ec) {
  Refusal refused{};
  std::optional<Url> u = parse(text, refused);
  if (u)
    ec.clear();
  else
    ec = refused.code;
  return u;
}

Url parse_url(const std::string& text) {
  Refusal refused{};
  std::optional<Url> u = parse(text, refused);
  if (!u) {
    const std::error_code code = refused.code;
    throw BadUrl(code, refused.why.empty() ? code.message() : refused.why);
  }
  return std::move(*u);
}

}  // namespace green::http
