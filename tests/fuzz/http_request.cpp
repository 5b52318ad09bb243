// An HTTP request as a client sends it to `green serve http`: Beast's parser
// (what green::web uses; Beast is fuzzed upstream) takes the header apart,
// then green's own file logic answers it (tools/serve/http_files: the
// request target, Range, the conditional headers) over a scratch tree with
// a file, an index, a hidden file and symlinks that lead out. Promises
// checked: a served file lies inside the tree; no answer names a hidden
// file; a Location cannot leave the host ("//" or "/\") or split the
// header (CR, LF, NUL); a 206 range lies inside the file; a target
// parse_target accepts has no "." or ".." segment and survives url_path;
// an HTTP-date reads back after http_date.
#include "check.hpp"

#include "serve/http_files.hpp"

#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/parser.hpp>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>
#include <string_view>

namespace {

namespace hf = green::tools::http_files;
namespace http = boost::beast::http;

std::string g_real;
std::unique_ptr<hf::Root> g_root;

void put(const std::string& path, std::string_view text) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  FUZZ_CHECK(fd >= 0);
  FUZZ_CHECK(::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size()));
  ::close(fd);
}

void no_header_breakers(std::string_view v) {
  for (char c : v) FUZZ_CHECK(c != '\r' && c != '\n' && c != '\0');
}

void check_target(std::string_view target) {
  std::string why;
  const auto t = hf::parse_target(target, why);
  if (!t) {
    FUZZ_CHECK(!why.empty());
    return;
  }
  for (const std::string& s : t->segments) {
    FUZZ_CHECK(!s.empty() && s != "." && s != "..");
    FUZZ_CHECK(s.find('/') == std::string::npos && s.find('\\') == std::string::npos);
    FUZZ_CHECK(s.find('\0') == std::string::npos);
  }
  const std::string rel = hf::relative_path(*t);
  FUZZ_CHECK(!rel.empty() && rel.front() != '/');
  for (bool slash : {false, true}) {
    const std::string url = hf::url_path(*t, slash);
    FUZZ_CHECK(url.front() == '/' && url.rfind("//", 0) != 0 && url.rfind("/\\", 0) != 0);
    const auto again = hf::parse_target(url, why);
    FUZZ_CHECK(again && again->segments == t->segments);
  }
  const std::string page = hf::listing_html(*t, {});
  FUZZ_CHECK(page.find("<script") == std::string::npos);
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  char dir[] = "/tmp/green-fuzz-http-XXXXXX";
  FUZZ_CHECK(::mkdtemp(dir));
  const std::string d = dir;
  put(d + "/a.txt", "0123456789abcdef");
  ::mkdir((d + "/site").c_str(), 0755);
  put(d + "/site/index.html", "<p>index</p>");
  ::mkdir((d + "/list").c_str(), 0755);
  put(d + "/list/x y&<z>.bin", "xyz");
  put(d + "/.secret", "hidden");
  FUZZ_CHECK(::symlink("/etc/passwd", (d + "/abs").c_str()) == 0);
  FUZZ_CHECK(::symlink("../../../../../etc/passwd", (d + "/list/up").c_str()) == 0);
  FUZZ_CHECK(::symlink("a.txt", (d + "/rel").c_str()) == 0);
  g_root = std::make_unique<hf::Root>(d, false);
  g_real = g_root->real_path();
  static std::string tree = d;
  std::atexit([] {
    for (const char* f : {"/a.txt", "/site/index.html", "/list/x y&<z>.bin", "/list/up", "/.secret", "/abs", "/rel"})
      ::unlink((tree + f).c_str());
    for (const char* sub : {"/site", "/list", ""}) ::rmdir((tree + sub).c_str());
  });
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  if (const auto t = hf::parse_http_date(text)) {
    if (*t >= 0 && *t < 253402300800) {  // years 1970-9999 have an IMF-fixdate
      FUZZ_CHECK(hf::parse_http_date(hf::http_date(*t)) == t);
    }
  }
  const auto r = hf::parse_range(text, 16);
  if (r.kind == hf::RangeRequest::partial) FUZZ_CHECK(r.first <= r.last && r.last < 16);

  http::request_parser<http::empty_body> parser;
  parser.eager(true);
  boost::beast::error_code ec;
  parser.put(boost::asio::buffer(data, size), ec);
  if (!parser.is_header_done()) return 0;
  const auto& req = parser.get();
  check_target(req.target());

  hf::Request q;
  q.method = req.method_string();
  q.target = req.target();
  q.range = req[http::field::range];
  q.conditions.if_match = req[http::field::if_match];
  q.conditions.if_none_match = req[http::field::if_none_match];
  q.conditions.if_modified_since = req[http::field::if_modified_since];
  q.conditions.if_unmodified_since = req[http::field::if_unmodified_since];
  q.conditions.if_range = req[http::field::if_range];
  for (bool dotfiles : {false, true}) {
    const hf::Reply reply = hf::respond(*g_root, hf::Rules{dotfiles}, q);
    FUZZ_CHECK(!hf::reason(reply.status).empty());
    for (const auto& [name, value] : reply.headers) {
      no_header_breakers(name);
      no_header_breakers(value);
    }
    const std::string_view location = reply.header("Location");
    if (!location.empty()) FUZZ_CHECK(location.front() == '/' && location.rfind("//", 0) != 0);
    if (reply.has_file()) {
      char link[4096];
      const std::string fdpath = "/proc/self/fd/" + std::to_string(reply.file.get());
      const ssize_t n = ::readlink(fdpath.c_str(), link, sizeof link);
      FUZZ_CHECK(n > 0);
      const std::string served(link, static_cast<std::size_t>(n));
      FUZZ_CHECK(served.rfind(g_real + "/", 0) == 0);
      if (!dotfiles) FUZZ_CHECK(served.find("/.") == std::string::npos);
      struct stat st {};
      FUZZ_CHECK(::fstat(reply.file.get(), &st) == 0);
      FUZZ_CHECK(reply.offset + reply.length <= static_cast<std::uint64_t>(st.st_size));
    }
  }
  return 0;
}
