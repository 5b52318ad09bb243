// green::http::parse_url on its own: curl's URL parser without the transfer
// machinery, so the fetch input fuzz target (tests/fuzz/) links only this.
#include <green/http.hpp>

#include <curl/curl.h>

#include <cstdio>
#include <mutex>
#include <new>
#include <string_view>

namespace green::http {

namespace {

// curl's own wording ("Bad scheme", "Out of memory" for a long URL) in
// green's.
std::string reason(CURLUcode rc) {
  switch (rc) {
    case CURLUE_BAD_PORT_NUMBER:
      return "bad port (want 1-65535)";
    case CURLUE_BAD_IPV6:
      return "bad IPv6 address";
    case CURLUE_BAD_HOSTNAME:
      return "bad host name";
    case CURLUE_NO_HOST:
      return "no host";
    case CURLUE_BAD_LOGIN:
    case CURLUE_BAD_USER:
    case CURLUE_BAD_PASSWORD:
      return "bad user name or password";
    case CURLUE_BAD_SCHEME:
      return "not an absolute http:// or https:// URL";
    default:
      return "not a valid URL";
  }
}

// Catches what curl lets through or words badly, before it sees the text.
std::string precheck(std::string_view text) {
  constexpr std::size_t kMaxUrl = 64 * 1024;
  if (text.size() > kMaxUrl) return "longer than 65536 bytes";
  for (const char ch : text) {
    const auto c = static_cast<unsigned char>(ch);
    if (c == ' ' || c == '\t' || c == '\r' || c == '\n') return "contains whitespace";
    if (c == 0) return "contains a NUL byte";
    if (c < 0x20 || c == 0x7f) {
      char buf[48];
      std::snprintf(buf, sizeof buf, "contains the control byte 0x%02x", c);
      return buf;
    }
  }
  const auto sep = text.find("://");
  std::string_view scheme = text.substr(0, sep == std::string_view::npos ? 0 : sep);
  auto alpha = [](char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); };
  bool ok = !scheme.empty() && alpha(scheme[0]);
  for (const char c : scheme) ok = ok && (alpha(c) || (c >= '0' && c <= '9') || c == '+' || c == '-' || c == '.');
  if (!ok) return "not an absolute http:// or https:// URL";
  std::string lower(scheme);
  for (char& c : lower) c = static_cast<char>(c | 0x20);
  if (lower != "http" && lower != "https") return "unsupported scheme " + std::string(scheme) + " (want http or https)";
  // "http:///path": curl would take "path" for the host.
  std::string_view authority = text.substr(sep + 3);
  authority = authority.substr(0, authority.find_first_of("/?#"));
  if (const auto at = authority.rfind('@'); at != std::string_view::npos) authority.remove_prefix(at + 1);
  if (authority.empty() || authority.front() == ':') return "no host";
  return {};
}

}  // namespace

std::optional<Url> parse_url(const std::string& text, std::string* why) {
  static std::once_flag once;  // the URL API needs no more of curl than this
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
  CURLU* h = curl_url();
  if (!h) throw std::bad_alloc();
  struct Free {
    CURLU* h;
    ~Free() { curl_url_cleanup(h); }
  } free_h{h};
  auto fail = [&](std::string reason) -> std::optional<Url> {
    if (why) *why = std::move(reason);
    return std::nullopt;
  };
  if (std::string bad = precheck(text); !bad.empty()) return fail(std::move(bad));
  if (CURLUcode rc = curl_url_set(h, CURLUPART_URL, text.c_str(), 0); rc != CURLUE_OK) return fail(reason(rc));
  auto part = [&](CURLUPart what, unsigned flags = 0) {
    char* v = nullptr;
    std::string out;
    if (curl_url_get(h, what, &v, flags) == CURLUE_OK && v) out = v;
    curl_free(v);
    return out;
  };
  Url u;
  u.scheme = part(CURLUPART_SCHEME);
  if (u.scheme != "http" && u.scheme != "https")
    return fail("unsupported scheme " + u.scheme + " (want http or https)");
  u.host = part(CURLUPART_HOST);
  if (u.host.empty()) return fail("no host");
  if (u.host.size() > 2 && u.host.front() == '[' && u.host.back() == ']') u.host = u.host.substr(1, u.host.size() - 2);
  u.port = part(CURLUPART_PORT, CURLU_DEFAULT_PORT);
  u.path = part(CURLUPART_PATH);
  if (u.path.empty()) u.path = "/";
  u.query = part(CURLUPART_QUERY);
  return u;
}

}  // namespace green::http
