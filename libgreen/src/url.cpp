// green::http::parse_url on its own: curl's URL parser without the transfer
// machinery, so the fetch input fuzz target (tests/fuzz/) links only this.
#include <green/http.hpp>

#include <curl/curl.h>

#include <mutex>
#include <new>

namespace green::http {

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
  if (text.find_first_of(" \t\r\n") != std::string::npos) return fail("contains whitespace");
  if (CURLUcode rc = curl_url_set(h, CURLUPART_URL, text.c_str(), 0); rc != CURLUE_OK) {
    return fail(curl_url_strerror(rc));
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
  if (u.scheme != "http" && u.scheme != "https") return fail("unsupported scheme " + u.scheme);
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
