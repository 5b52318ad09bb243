// Durations as every tool reads them (--timeout, --every, @every): any text
// is either a UsageError or a duration that format_duration spells back
// exactly (the man pages and --help show defaults that way).
#include "check.hpp"

#include "common/duration.hpp"
#include "common/subcommand.hpp"

#include <cstddef>
#include <cstdint>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace green::tools;
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  green::Duration d;
  try {
    d = parse_duration(text);
  } catch (const UsageError&) {
    return 0;
  }
  FUZZ_CHECK(d >= green::Duration::zero());
  FUZZ_CHECK(d <= std::chrono::seconds(1'000'000'000));
  const std::string spelled = format_duration(d);
  FUZZ_CHECK(parse_duration(spelled) == d);
  format_seconds(d);
  return 0;
}
