// Scale and failure: many parked greenlets, stacks going back to the kernel,
// stack overflow detection.
#include "green_test.hpp"

#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>

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

// Whether the page holding `p` is in memory (mincore).
bool resident(const void* p) {
  const auto page = static_cast<std::uintptr_t>(::sysconf(_SC_PAGESIZE));
  auto* start = reinterpret_cast<void*>(reinterpret_cast<std::uintptr_t>(p) & ~(page - 1));
  unsigned char vec = 0;
  return ::mincore(start, page, &vec) == 0 && (vec & 1) != 0;
}

// Spawns `n` greenlets that each note where their frames are and park on
// `ev`; returns once all of them have parked.
std::vector<green::GreenletRef> park_and_note(std::size_t n, green::Event& ev, std::vector<const void*>& frames) {
  std::vector<green::GreenletRef> gs;
  gs.reserve(n);
  frames.assign(n, nullptr);
  for (std::size_t i = 0; i < n; ++i)
    gs.push_back(green::spawn([&ev, &frames, i] {
      volatile char here = 1;
      frames[i] = const_cast<const char*>(&here);
      ev.wait();
    }));
  green::sleep(0s);
  return gs;
}

GREEN_TEST(Scale, FreeStacksBeyondTheCacheGiveTheirPagesBackAndAreReusedAfterwards) {
  constexpr std::size_t kGreenlets = 6000;  // several trim intervals (1024 releases each) past the 1024 kept
  const std::size_t returned0 = green::hub_stats().stacks_returned;
  green::Event go;
  std::vector<const void*> frames;
  auto gs = park_and_note(kGreenlets, go, frames);
  std::size_t in_memory = 0;
  for (const void* f : frames) in_memory += resident(f) ? 1 : 0;
  EXPECT_EQ(in_memory, kGreenlets) << "every parked greenlet's top stack page is resident";
  go.set();
  EXPECT_TRUE(green::joinall(gs));
  gs.clear();

  const auto s = green::hub_stats();
  EXPECT_GE(s.stacks_returned - returned0, kGreenlets / 2) << "the pool gave the pages of the coldest free stacks back";
  EXPECT_GE(s.stacks_free, kGreenlets);
  in_memory = 0;
  for (const void* f : frames) in_memory += resident(f) ? 1 : 0;
  EXPECT_LE(in_memory, kGreenlets / 2) << "their pages really left memory (mincore)";

  // The returned stacks serve again: canaries rewritten, pages faulted back in.
  green::Event again;
  gs = park_and_note(kGreenlets, again, frames);
  again.set();
  EXPECT_TRUE(green::joinall(gs));
  for (const auto& g : gs) EXPECT_TRUE(g.successful());
}

// Touches 24 KiB of stack below the caller and notes the deepest byte.
[[gnu::noinline]] void run_deep(std::uintptr_t* deepest) {
  volatile char buf[24 * 1024];
  for (std::size_t i = 0; i < sizeof buf; i += 512) buf[i] = 1;
  *deepest = reinterpret_cast<std::uintptr_t>(&buf[0]);  // where the pages to check are
}

GREEN_TEST(Scale, TrimStackAtNextParkGivesTheDeepPagesOfAParkedGreenletBack) {
#if defined(__SANITIZE_ADDRESS__)
  GTEST_SKIP() << "ASan may keep the frames on its fake stack, not on the greenlet's";
#endif
  for (const bool trim : {false, true}) {
    std::uintptr_t deepest = 0;
    green::Event go;
    bool woke = false;
    auto g = green::spawn([&] {
      run_deep(&deepest);
      if (trim) green::trim_stack_at_next_park();
      go.wait();
      run_deep(&deepest);  // the pages come back, zeroed, and work as before
      woke = true;
    });
    green::sleep(0s);  // g runs deep, then parks on go
    ASSERT_NE(deepest, 0u);
    EXPECT_EQ(resident(reinterpret_cast<const void*>(deepest)), !trim) << (trim ? "trimmed" : "untrimmed") << " stack";
    go.set();
    g.join();
    EXPECT_TRUE(woke);
  }
}

GREEN_TEST(Scale, ReturningFreeStacksKeepsTheCanariesOfNeighboursInUse) {
  // Every other greenlet finishes; the free stacks between the parked ones
  // go back to the kernel except the word guarding the stack above each.
  // A lost canary would abort at the parked ones' next switch.
  constexpr std::size_t kGreenlets = 8000;
  const std::size_t returned0 = green::hub_stats().stacks_returned;
  green::Event even, odd;
  std::vector<green::GreenletRef> gs;
  std::size_t done = 0;
  for (std::size_t i = 0; i < kGreenlets; ++i)
    gs.push_back(green::spawn([&done, &ev = i % 2 ? odd : even] {
      ev.wait();
      green::sleep(0s);
      ++done;
    }));
  green::sleep(0s);
  even.set();
  for (std::size_t i = 0; i < kGreenlets; i += 2) gs[i].join();
  EXPECT_GT(green::hub_stats().stacks_returned, returned0);
  odd.set();
  EXPECT_TRUE(green::joinall(gs));
  EXPECT_EQ(done, kGreenlets);
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
#ifdef __SANITIZE_ADDRESS__
  // ASan's redzones make each frame several times larger: the same depth
  // runs past the canary onto the guard page, which names the greenlet too.
  EXPECT_DEATH(overflow_between_neighbours(200),
               "green: greenlet [0-9]+ overflowed its stack( of 65536 bytes| \\(it ran into a guard page\\)).*"
               "set_default_stack_size");
#else
  EXPECT_DEATH(overflow_between_neighbours(200),
               "green: greenlet [0-9]+ overflowed its stack of 65536 bytes.*set_default_stack_size");
#endif
}

TEST(StackDeathTest, RunawayOverflowEndsOnTheGuardPage) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_DEATH(overflow_between_neighbours(100000),
               "green: greenlet [0-9]+ overflowed its stack \\(it ran into a guard page\\).*set_default_stack_size");
}

}  // namespace
