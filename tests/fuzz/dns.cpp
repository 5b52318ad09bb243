// A DNS reply as any server (or anything that can send a UDP packet to our
// port) may send it, through green's own answer-section parser and the
// formatting `green resolve` writes: one tab-separated line per record and
// a JSON line. Promises checked: a malformed reply is an error, never a
// crash; names and values are printable ASCII (no tab or newline can break
// the output's lines); the JSON line has no raw control character. The same
// bytes also go through the input-side helpers (name_error, reverse_name,
// parse_type) that see `green resolve`'s input lines.
#include "check.hpp"

#include "common/json.hpp"
#include "dns_message.hpp"

#include <green/dns.hpp>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace {

void check_printable(std::string_view s) {
  for (unsigned char c : s) FUZZ_CHECK(c >= 0x20 && c < 0x7F);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  namespace dns = green::dns;
  std::vector<dns::Record> records;
  std::string error;
  const int rcode = dns::wire::rcode(data, size);
  FUZZ_CHECK(rcode >= -1 && rcode <= 15);
  if (!dns::wire::parse_answers(data, size, records, error)) {
    FUZZ_CHECK(!error.empty());
  }
  green::tools::JsonWriter j;
  j.begin_array("answers");
  for (const auto& r : records) {
    check_printable(r.name);
    FUZZ_CHECK(!r.name.empty());
    FUZZ_CHECK(r.ttl <= 0x7FFFFFFFu);
    const std::string value = r.value();
    check_printable(value);
    check_printable(dns::type_name(r.type));
    j.begin_object().field("name", r.name).field("type", dns::type_name(r.type)).field("value", value).end_object();
  }
  j.end_array();
  for (unsigned char c : j.finish()) FUZZ_CHECK(c >= 0x20);

  const std::string_view text(reinterpret_cast<const char*>(data), size);
  if (!dns::name_error(text)) check_printable(text);
  if (auto rev = dns::reverse_name(text)) FUZZ_CHECK(!dns::name_error(*rev));
  if (auto t = dns::parse_type(text)) FUZZ_CHECK(dns::type_name(static_cast<std::uint16_t>(*t)).size() == size);
  return 0;
}
