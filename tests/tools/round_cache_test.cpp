// serve http's per-round cache (tools/serve/round_cache.hpp): what is put in
// is seen by the greenlets that were ready then, and by nothing that runs
// after them. The server over it is tested with files replaced, removed and
// symlinks swapped between requests in tests/e2e/serve_http_test.py.
#include "serve/round_cache.hpp"

#include "green_test.hpp"

#include <memory>
#include <optional>
#include <string>

namespace {

using green::tools::serve::RoundCache;

std::optional<std::string> seen(const RoundCache<std::string>& c, std::string_view key) {
  const auto v = c.find(key);
  return v ? std::optional<std::string>(*v) : std::nullopt;
}

GREEN_TEST(RoundCache, EntriesLastUntilTheGreenletsReadyWhenTheyWentInHaveRun) {
  RoundCache<std::string> cache(8);
  std::optional<std::string> before, after;
  auto early = green::spawn([&] { before = seen(cache, "/a"); });  // ready before the put
  cache.put("/a", std::make_shared<const std::string>("one"));
  auto late = green::spawn([&] { after = seen(cache, "/a"); });  // ready after it
  EXPECT_EQ(seen(cache, "/a"), "one");
  const auto held = cache.find("/a");
  early.join();
  late.join();
  EXPECT_EQ(before, "one");
  EXPECT_EQ(after, std::nullopt);
  EXPECT_EQ(seen(cache, "/a"), std::nullopt);
  EXPECT_EQ(cache.size(), 0u);
  EXPECT_EQ(*held, "one");  // a reply still sending keeps its entry

  // The next round clears again.
  cache.put("/a", std::make_shared<const std::string>("two"));
  EXPECT_EQ(seen(cache, "/a"), "two");
  green::sleep(green::Duration::zero());
  EXPECT_EQ(seen(cache, "/a"), std::nullopt);
}

GREEN_TEST(RoundCache, KeepsAtMostItsLimitAndMayDieBeforeTheRoundEnds) {
  {
    RoundCache<std::string> cache(2);
    for (const char* k : {"/a", "/b", "/c"}) cache.put(k, std::make_shared<const std::string>(k));
    EXPECT_EQ(cache.size(), 2u);
    EXPECT_EQ(seen(cache, "/b"), "/b");
    EXPECT_EQ(seen(cache, "/c"), std::nullopt);
  }
  green::sleep(green::Duration::zero());  // its clearing greenlet outlives it
}

}  // namespace
