// Scale and failure: many parked greenlets, stack overflow detection.
#include "green_test.hpp"

namespace {

GREEN_TEST(Scale, HundredThousandGreenletsParkAtOnce) {
  constexpr std::size_t kGreenlets = 100'000;
  green::Event go;
  std::size_t woke = 0;
  std::vector<green::GreenletRef> gs;
  gs.reserve(kGreenlets);
  for (std::size_t i = 0; i < kGreenlets; ++i)
    gs.push_back(green::spawn([&] {
      go.wait();
      ++woke;
    }));
  green::sleep(0s);  // every one of them runs and parks
  EXPECT_EQ(green::hub_stats().live_greenlets, kGreenlets + 1);
  EXPECT_EQ(woke, 0u);
  go.set();
  green::joinall(gs);
  EXPECT_EQ(woke, kGreenlets);
  EXPECT_GE(green::hub_stats().stacks_allocated, kGreenlets);
}

GREEN_TEST(Scale, StacksAreReusedFromThePool) {
  for (int i = 0; i < 1000; ++i) green::spawn([] {}).join();
  const auto s = green::hub_stats();
  // One at a time: a handful of stacks serve a thousand greenlets.
  EXPECT_LE(s.stacks_allocated - s.stacks_free, 2u);
  EXPECT_LT(s.stacks_allocated, 100u);
}

// An overflowing greenlet is stopped with a message, not left to corrupt the
// stacks next to it: a small overflow trips the canary in the stack below at
// the next switch; a runaway one ends on the slab's guard page.
int recurse(int n) {
  volatile char pad[512];
  pad[0] = static_cast<char>(n);
  if (n == 0) {
    green::sleep(0s);
    return pad[0];
  }
  return recurse(n - 1) + pad[0];
}

void overflow_between_neighbours(int depth) {
  green::run([depth] {
    // Live neighbours on both sides, so the overflow runs into a used stack.
    green::Event hold;
    std::vector<green::GreenletRef> gs;
    for (int i = 0; i < 8; ++i) gs.push_back(green::spawn([&] { hold.wait(); }));
    auto deep = green::spawn(green::SpawnOptions{.stack_size = 64 * 1024}, [depth] { return recurse(depth); });
    for (int i = 0; i < 8; ++i) gs.push_back(green::spawn([&] { hold.wait(); }));
    deep.join();
    hold.set();
    green::joinall(gs);
  });
}

TEST(StackDeathTest, SmallOverflowIsCaughtAtTheNextSwitch) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_DEATH(overflow_between_neighbours(200), "green: greenlet stack overflow");
}

TEST(StackDeathTest, RunawayOverflowEndsOnTheGuardPage) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_DEATH(overflow_between_neighbours(100000), "green: greenlet stack overflow");
}

}  // namespace
