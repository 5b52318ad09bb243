// `green fetch`'s input: lines of a URL list (trimmed, blank and '#' lines
// skipped, as InputLines does), each parsed by curl's URL parser, assigned
// to a --shard, and named for -o DIR. Promises checked: a parsed URL is
// http(s) with a host and a path; the file name a URL's body is saved under
// cannot leave the directory or hide (only [A-Za-z0-9._-], no leading dot,
// never empty, at most 120 bytes); every host lands in exactly one shard,
// whatever its letters' case.
#include "check.hpp"

#include "common/shard.hpp"
#include "common/url_name.hpp"

#include <green/http.hpp>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>

namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t' || s.front() == '\r')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.remove_suffix(1);
  return s;
}

void one_line(std::string_view raw) {
  namespace http = green::http;
  using namespace green::tools;
  const std::string_view line = trim(raw);
  if (line.empty() || line.front() == '#') return;
  std::optional<http::Url> url;
  try {
    url = http::parse_url(std::string(line));
  } catch (const http::BadUrl& e) {
    FUZZ_CHECK(e.what()[0] != '\0');
    std::error_code ec;
    FUZZ_CHECK(!http::parse_url(std::string(line), ec) && ec && ec == e.code());
    return;
  }
  FUZZ_CHECK(url->scheme == "http" || url->scheme == "https");
  FUZZ_CHECK(!url->host.empty());
  FUZZ_CHECK(!url->path.empty() && url->path.front() == '/');
  for (char c : line) FUZZ_CHECK(static_cast<unsigned char>(c) > 0x20 && c != 0x7f);  // echoed as is

  const std::string name = file_name_for(*url);
  FUZZ_CHECK(!name.empty() && name.size() <= 120);
  FUZZ_CHECK(name.front() != '.');
  for (char c : name) {
    FUZZ_CHECK((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '-' ||
               c == '_');
  }

  std::string upper = url->host;
  for (char& c : upper)
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
  for (std::uint32_t count = 1; count <= 4; ++count) {
    int owners = 0;
    for (std::uint32_t i = 1; i <= count; ++i) {
      const bool mine = in_shard(url->host, Shard{i, count});
      FUZZ_CHECK(mine == in_shard(upper, Shard{i, count}));
      owners += mine;
    }
    FUZZ_CHECK(owners == 1);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  while (!in.empty()) {
    const std::size_t nl = in.find('\n');
    one_line(in.substr(0, nl));
    if (nl == std::string_view::npos) break;
    in.remove_prefix(nl + 1);
  }
  return 0;
}
