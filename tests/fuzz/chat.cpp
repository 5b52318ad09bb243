// The bytes a `green serve chat` user sends, split as the server reads them
// (lines of at most 4096 bytes), through the name rule and the UTF-8 repair.
// Promises checked: what is broadcast is valid UTF-8 with no control
// character but tab; repairing twice changes nothing; a valid name needs no
// repair. utf8_len is compared with a decoder written from RFC 3629.
#include "check.hpp"

#include "common/chat_text.hpp"

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace {

using namespace green::tools::chat;

// RFC 3629's decoder: the length of the shortest-form scalar value at s[i],
// or 0.
std::size_t reference_len(std::string_view s, std::size_t i) {
  const auto c = static_cast<unsigned char>(s[i]);
  std::size_t n;
  std::uint32_t cp;
  if (c < 0x80) return 1;
  if ((c & 0xE0) == 0xC0) {
    n = 2;
    cp = c & 0x1F;
  } else if ((c & 0xF0) == 0xE0) {
    n = 3;
    cp = c & 0x0F;
  } else if ((c & 0xF8) == 0xF0) {
    n = 4;
    cp = c & 0x07;
  } else {
    return 0;
  }
  if (i + n > s.size()) return 0;
  for (std::size_t k = 1; k < n; ++k) {
    const auto cc = static_cast<unsigned char>(s[i + k]);
    if ((cc & 0xC0) != 0x80) return 0;
    cp = cp << 6 | (cc & 0x3F);
  }
  const std::uint32_t min[] = {0, 0, 0x80, 0x800, 0x10000};
  if (cp < min[n] || (cp >= 0xD800 && cp <= 0xDFFF) || cp > 0x10FFFF) return 0;
  return n;
}

void check_clean(std::string_view s) {
  for (std::size_t i = 0; i < s.size();) {
    const std::size_t n = reference_len(s, i);
    FUZZ_CHECK(n > 0);
    const auto c = static_cast<unsigned char>(s[i]);
    FUZZ_CHECK(n > 1 || c == '\t' || (c >= 0x20 && c != 0x7F));
    i += n;
  }
}

void one_line(std::string_view line) {
  for (std::size_t i = 0; i < line.size(); ++i) FUZZ_CHECK(utf8_len(line, i) == reference_len(line, i));
  const std::string_view text = strip(line);
  auto space = [](char c) { return c == ' ' || (c >= '\t' && c <= '\r'); };
  FUZZ_CHECK(text.empty() || (!space(text.front()) && !space(text.back())));
  const std::string clean = sanitize(text);
  check_clean(clean);
  FUZZ_CHECK(sanitize(clean) == clean);
  if (valid_name(text)) {
    FUZZ_CHECK(sanitize(text) == text);
    FUZZ_CHECK(text.find(' ') == std::string_view::npos);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  constexpr std::size_t kLine = 4096;  // tools/serve/chat.cpp's kMaxLine
  std::string_view in(reinterpret_cast<const char*>(data), size);
  while (!in.empty()) {
    std::size_t nl = in.find('\n');
    const std::size_t take = nl == std::string_view::npos ? in.size() : nl + 1;
    one_line(in.substr(0, std::min(take, kLine)));
    in.remove_prefix(take);
  }
  return 0;
}
