// Primitive semantics beyond the seeds: kill and Timeout while parked in each
// primitive, nesting, close, bounds, and the hub's own rules.
#include "green_test.hpp"

#include <green/in_order.hpp>

#include <cstdint>
#include <stdexcept>
#include <string>

namespace {

// ---- kill while parked, one primitive at a time -----------------------------

template <class Park>
void expect_kill_while_parked(Park park) {
  bool unwound = false;
  bool after = false;
  auto g = green::spawn([&] {
    struct Guard {
      bool& flag;
      ~Guard() { flag = true; }
    } guard{unwound};
    park();
    after = true;
  });
  green::sleep(0s);  // let it park
  ASSERT_FALSE(g.ready());
  g.kill();
  EXPECT_TRUE(g.ready());
  EXPECT_TRUE(g.killed());
  EXPECT_TRUE(g.successful()) << "a kill counts as success";
  EXPECT_TRUE(unwound) << "destructors run on kill";
  EXPECT_FALSE(after) << "the parked call must not return normally";
}

GREEN_TEST(Kill, KillWhileParkedInSleepRaisesGreenletExit) {
  expect_kill_while_parked([] { green::sleep(10s); });
}

GREEN_TEST(Kill, KillWhileParkedInJoinRaisesGreenletExit) {
  green::Event never;
  auto other = green::spawn([&] { never.wait(); });
  expect_kill_while_parked([&] { other.join(); });
  other.kill();
}

GREEN_TEST(Kill, KillWhileParkedInEventWaitLeavesTheEventUsable) {
  green::Event evt;
  expect_kill_while_parked([&] { evt.wait(); });
  evt.set();  // the killed waiter is no longer linked
  EXPECT_TRUE(evt.wait());
}

GREEN_TEST(Kill, KillWhileParkedInAsyncResultGet) {
  green::AsyncResult<int> r;
  expect_kill_while_parked([&] { r.get(); });
  r.set(7);
  EXPECT_EQ(r.get(), 7);
}

GREEN_TEST(Kill, KillWhileParkedInQueueGetRaisesGreenletExit) {
  green::Queue<int> q;
  expect_kill_while_parked([&] { q.get(); });
  EXPECT_EQ(q.getters(), 0u);
  q.put(1);  // must not be handed to the dead getter
  EXPECT_EQ(q.size(), 1u);
  EXPECT_EQ(q.get(), 1);
}

GREEN_TEST(Kill, KillWhileParkedInQueuePutDropsTheItem) {
  green::Queue<int> q(1);
  q.put(1);
  expect_kill_while_parked([&] { q.put(2); });
  EXPECT_EQ(q.get(), 1);
  EXPECT_TRUE(q.empty());
}

GREEN_TEST(Kill, KillWhileParkedInSemaphoreAcquireKeepsTheCount) {
  green::Semaphore sem(1);
  sem.acquire();
  expect_kill_while_parked([&] { sem.acquire(); });
  sem.release();
  EXPECT_EQ(sem.value(), 1u);
}

GREEN_TEST(Kill, KillWhileParkedInLock) {
  green::Lock lock;
  lock.lock();
  expect_kill_while_parked([&] { std::lock_guard<green::Lock> hold(lock); });
  lock.unlock();
  EXPECT_FALSE(lock.locked());
}

GREEN_TEST(Kill, KillWhileParkedInPoolSpawnReleasesNothing) {
  green::Pool pool(1);
  green::Event release;
  pool.spawn([&] { release.wait(); });
  expect_kill_while_parked([&] { pool.spawn([] {}); });
  EXPECT_EQ(pool.size(), 1u);
  release.set();
  pool.join();
  EXPECT_EQ(pool.free_count(), 1u);
}

GREEN_TEST(Kill, KillWhileParkedInGroupJoin) {
  green::Group group;
  green::Event release;
  group.spawn([&] { release.wait(); });
  expect_kill_while_parked([&] { group.join(); });
  release.set();
  EXPECT_TRUE(group.join());
}

GREEN_TEST(Kill, KillBeforeStartNeverRuns) {
  bool ran = false;
  auto g = green::spawn([&] {
    ran = true;
    return 1;
  });
  g.kill(green::GreenletExit{}, /*block=*/false);
  EXPECT_TRUE(g.ready()) << "a greenlet killed before it starts is dead at once";
  EXPECT_TRUE(g.join());
  EXPECT_FALSE(ran);
  EXPECT_TRUE(g.successful());
  EXPECT_THROW(g.get(), green::GreenletKilled);
}

GREEN_TEST(Kill, KillWithACustomExceptionFailsTheGreenlet) {
  auto g = green::spawn([] { green::sleep(10s); });
  green::sleep(0s);
  g.kill(std::runtime_error("stop"));
  EXPECT_FALSE(g.successful());
  EXPECT_THROW(g.get(), std::runtime_error);
}

GREEN_TEST(Kill, GreenletExitIsNotCaughtAsStdException) {
  bool swallowed = false;
  auto g = green::spawn([&] {
    try {
      green::sleep(10s);
    } catch (const std::exception&) {
      swallowed = true;
    }
  });
  green::sleep(0s);
  g.kill();
  EXPECT_FALSE(swallowed);
  EXPECT_TRUE(g.killed());
}

GREEN_TEST(Kill, KillallWaitsForEveryone) {
  std::vector<green::GreenletRef> gs;
  for (int i = 0; i < 10; ++i) gs.push_back(green::spawn([] { green::sleep(10s); }));
  green::sleep(0s);
  green::killall(gs);
  for (auto& g : gs) EXPECT_TRUE(g.killed());
}

// ---- Timeout ----------------------------------------------------------------

GREEN_TEST(Timeout, TimeoutFiresDuringQueueGet) {
  green::Queue<int> q;
  bool fired = false;
  try {
    green::Timeout t(10ms);
    try {
      q.get();
    } catch (const green::Timeout& e) {
      fired = e == t;
      throw;
    }
  } catch (const green::Timeout&) {
  }
  EXPECT_TRUE(fired);
  EXPECT_EQ(q.getters(), 0u);
  q.put(5);
  EXPECT_EQ(q.get_nowait(), 5);
}

GREEN_TEST(Timeout, OuterTimeoutFiresThroughAnInnerLongerOne) {
  green::Timeout* outer_p = nullptr;
  bool outer_fired = false;
  try {
    green::Timeout outer(10ms);
    outer_p = &outer;
    green::Timeout inner(10s);
    green::sleep(10s);
  } catch (const green::Timeout& e) {
    outer_fired = true;
    (void)outer_p;
    EXPECT_STREQ(e.what(), "timed out after 0.01s");
  }
  EXPECT_TRUE(outer_fired);
}

GREEN_TEST(Timeout, NestedTimeoutsEachRaiseTheirOwnInstance) {
  int inner_caught = 0, outer_caught = 0;
  try {
    green::Timeout outer(60ms);
    try {
      green::Timeout inner(10ms);
      green::sleep(10s);
    } catch (const green::Timeout& e) {
      ++inner_caught;
    }
    green::sleep(10s);  // the outer one still fires
  } catch (const green::Timeout&) {
    ++outer_caught;
  }
  EXPECT_EQ(inner_caught, 1);
  EXPECT_EQ(outer_caught, 1);
}

GREEN_TEST(Timeout, TimeoutIdentityTellsWhichScopeFired) {
  bool matched_inner = false;
  green::Timeout outer(10s);
  try {
    green::Timeout inner(5ms);
    try {
      green::sleep(10s);
    } catch (const green::Timeout& e) {
      matched_inner = (e == inner) && !(e == outer);
      throw;
    }
  } catch (const green::Timeout&) {
  }
  EXPECT_TRUE(matched_inner);
}

GREEN_TEST(Timeout, TimeoutIsHarmlessAfterItsScopeEnds) {
  {
    green::Timeout t(1ms);
    // Outlive the deadline without a switch point: it cannot fire in here.
    const auto until = green::Clock::now() + 3ms;
    while (green::Clock::now() < until) {
    }
  }
  EXPECT_NO_THROW(green::sleep(20ms));
}

// The timer can expire while its greenlet is already queued to resume (here
// with an item from the queue): the scope then ends before any switch point,
// and the expiry must be withdrawn rather than fire later.
GREEN_TEST(Timeout, ExpiredTimeoutIsWithdrawnWhenItsScopeEndsFirst) {
  green::Queue<int> q;
  bool expired_inside = false;
  auto consumer = green::spawn([&] {
    {
      green::Timeout t(2ms);
      EXPECT_EQ(q.get(), 1);
      expired_inside = t.expired();
    }
    green::sleep(10ms);  // must not raise the withdrawn Timeout
  });
  green::sleep(0s);  // consumer parks in get()
  // Keep the ready queue longer than the hub's poll interval so the hub polls
  // timers while the consumer is queued but not yet running.
  std::vector<green::GreenletRef> spinners;
  for (int i = 0; i < 200; ++i) spinners.push_back(green::spawn([] { green::sleep(0s); }));
  const auto until = green::Clock::now() + 5ms;
  while (green::Clock::now() < until) {
  }
  q.put(1);
  green::joinall(spinners);
  consumer.join();
  EXPECT_TRUE(expired_inside);
  EXPECT_TRUE(consumer.successful()) << "the withdrawn Timeout escaped its scope";
}

GREEN_TEST(Timeout, GetWithTimeoutThrowsTimeout) {
  green::AsyncResult<int> r;
  EXPECT_THROW(r.get(5ms), green::Timeout);
  auto g = green::spawn([] {
    green::sleep(1s);
    return 1;
  });
  EXPECT_THROW(g.get(5ms), green::Timeout);
  EXPECT_FALSE(g.join(5ms));
  g.kill();
}

GREEN_TEST(Timeout, TimeoutIsNotAStdException) {
  bool swallowed = false;
  try {
    green::Timeout t(1ms);
    try {
      green::sleep(1s);
    } catch (const std::exception&) {
      swallowed = true;
    }
  } catch (const green::Timeout&) {
  }
  EXPECT_FALSE(swallowed);
}

// ---- Event, AsyncResult, Queue, semaphores ------------------------------------

GREEN_TEST(Event, WaitWithTimeoutReturnsFalseAndClearResets) {
  green::Event e;
  EXPECT_FALSE(e.wait(5ms));
  e.set();
  EXPECT_TRUE(e.wait(5ms));
  e.clear();
  EXPECT_FALSE(e.is_set());
}

GREEN_TEST(AsyncResult, SetExceptionIsRethrownToEveryWaiter) {
  green::AsyncResult<int> r;
  int thrown = 0;
  std::vector<green::GreenletRef> gs;
  for (int i = 0; i < 3; ++i)
    gs.push_back(green::spawn([&] {
      try {
        r.get();
      } catch (const std::runtime_error&) {
        ++thrown;
      }
    }));
  green::sleep(0s);
  r.set_exception(std::runtime_error("boom"));
  green::joinall(gs);
  EXPECT_EQ(thrown, 3);
  EXPECT_FALSE(r.successful());
}

GREEN_TEST(Queue, NowaitRaisesEmptyAndFull) {
  green::Queue<int> q(2);
  EXPECT_THROW(q.get_nowait(), green::QueueEmpty);
  q.put_nowait(1);
  q.put_nowait(2);
  EXPECT_TRUE(q.full());
  EXPECT_THROW(q.put_nowait(3), green::QueueFull);
  EXPECT_THROW(q.put(3, 5ms), green::QueueFull);
  EXPECT_EQ(q.get_nowait(), 1);
  EXPECT_EQ(q.peek(), 2);
}

GREEN_TEST(Queue, CloseEndsConsumerLoopsAfterDraining) {
  green::Queue<int> q(4);
  std::vector<int> seen_a, seen_b;
  auto consume = [&](std::vector<int>& seen) {
    for (int v : q) {
      seen.push_back(v);
      green::sleep(0s);
    }
  };
  auto a = green::spawn(consume, std::ref(seen_a));
  auto b = green::spawn(consume, std::ref(seen_b));
  for (int i = 0; i < 10; ++i) q.put(i);
  q.close();
  EXPECT_THROW(q.put(99), green::QueueClosed);
  green::joinall({a, b});
  EXPECT_TRUE(a.successful());
  EXPECT_EQ(seen_a.size() + seen_b.size(), 10u);
  EXPECT_THROW(q.get(), green::QueueClosed);
  EXPECT_EQ(q.next(), std::nullopt);
}

GREEN_TEST(Queue, CloseWakesWaitingPuttersWithQueueClosed) {
  green::Queue<int> q(1);
  q.put(1);
  bool closed = false;
  auto p = green::spawn([&] {
    try {
      q.put(2);
    } catch (const green::QueueClosed&) {
      closed = true;
    }
  });
  green::sleep(0s);
  q.close();
  p.join();
  EXPECT_TRUE(closed);
  EXPECT_EQ(q.get(), 1);
}

GREEN_TEST(Queue, ItemsAndWaitersAreServedInOrder) {
  green::Queue<int> q;
  Lines out;
  std::vector<green::GreenletRef> gs;
  for (int i = 0; i < 3; ++i)
    gs.push_back(green::spawn([&, i] { out.push_back(std::to_string(i) + ":" + std::to_string(q.get())); }));
  green::sleep(0s);
  for (int v = 10; v < 13; ++v) q.put(v);
  green::joinall(gs);
  EXPECT_EQ(out, (Lines{"0:10", "1:11", "2:12"}));
}

GREEN_TEST(Semaphore, BoundedSemaphoreRefusesAnExtraRelease) {
  green::BoundedSemaphore sem(2);
  sem.acquire();
  sem.release();
  EXPECT_THROW(sem.release(), std::logic_error);
  green::Semaphore plain(0);
  plain.release();  // an unbounded one may grow
  EXPECT_EQ(plain.value(), 1u);
}

GREEN_TEST(Semaphore, AcquireTimesOut) {
  green::Semaphore sem(0);
  EXPECT_FALSE(sem.acquire(5ms));
  EXPECT_FALSE(sem.try_acquire());
  EXPECT_EQ(sem.waiting(), 0u);
}

GREEN_TEST(Lock, LockSerializesCriticalSections) {
  green::Lock lock;
  int inside = 0, max_inside = 0;
  std::vector<green::GreenletRef> gs;
  for (int i = 0; i < 5; ++i)
    gs.push_back(green::spawn([&] {
      for (int k = 0; k < 3; ++k) {
        std::lock_guard<green::Lock> hold(lock);
        ++inside;
        max_inside = std::max(max_inside, inside);
        green::sleep(0s);
        --inside;
      }
    }));
  green::joinall(gs);
  EXPECT_EQ(max_inside, 1);
}

// ---- joinall, Pool, imap ------------------------------------------------------

GREEN_TEST(Joinall, TimeoutReturnsFalseAndRaiseErrorRethrows) {
  auto slow = green::spawn([] { green::sleep(1s); });
  EXPECT_FALSE(green::joinall({slow}, 5ms));
  auto bad = green::spawn([] {
    green::sleep(1ms);
    throw std::runtime_error("bad");
  });
  EXPECT_THROW(green::joinall({slow, bad}, green::forever, /*raise_error=*/true), std::runtime_error);
  slow.kill();
}

GREEN_TEST(InOrder, TakesResultsInStartOrderAndBoundsTheWindow) {
  green::InOrder<int> results(2);
  results.start();
  results.start();
  auto third = green::spawn([&] { results.start(); });
  green::sleep(0s);
  EXPECT_FALSE(third.ready()) << "a third start waits while two are held";
  results.put(1, 11);
  EXPECT_EQ(results.take(), std::nullopt) << "0 has not come yet";
  results.put(0, 10);
  EXPECT_EQ(results.take(), std::optional<int>(10));
  EXPECT_EQ(results.take(), std::optional<int>(11));
  third.join();
  EXPECT_TRUE(third.ready());
  results.put(3, 13);
  EXPECT_EQ(results.take(), std::nullopt);
  EXPECT_EQ(results.take_all(), (std::vector<int>{13})) << "after a stop the gaps are skipped";
  EXPECT_EQ(results.held(), 0u);
}

GREEN_TEST(Pool, SpawnBlocksWhileFullAndNeverExceedsItsSize) {
  green::Pool pool(3);
  int running = 0, peak = 0;
  for (int i = 0; i < 20; ++i) {
    pool.spawn([&] {
      ++running;
      peak = std::max(peak, running);
      green::sleep(1ms);
      --running;
    });
    EXPECT_LE(pool.size(), 3u);
  }
  pool.join();
  EXPECT_EQ(peak, 3);
  EXPECT_EQ(pool.free_count(), 3u);
  EXPECT_FALSE(pool.full());
}

GREEN_TEST(Pool, AddWithTimeoutThrowsPoolFull) {
  green::Pool pool(1);
  green::Event ev;
  pool.spawn([&] { ev.wait(); });
  auto other = green::spawn([] {});
  EXPECT_THROW(pool.add(other, 5ms), green::PoolFull);
  EXPECT_FALSE(pool.wait_available(1ms));
  ev.set();
  EXPECT_TRUE(pool.wait_available());
  other.join();
}

GREEN_TEST(Pool, MembershipIsPerGroupAndSurvivesOtherLinks) {
  green::Group a;
  green::Pool b(2);
  green::Event ev;
  int linked = 0;
  auto g = green::spawn([&] { ev.wait(); });
  g.link_value([&](green::GreenletRef) { ++linked; });  // a link that is no membership
  auto other = green::spawn([&] { ev.wait(); });
  EXPECT_FALSE(a.contains(g));
  EXPECT_FALSE(a.contains(green::GreenletRef()));
  b.add(other);
  b.add(g);
  a.add(g);
  a.add(g);  // once only
  EXPECT_EQ(a.size(), 1u);
  EXPECT_EQ(b.size(), 2u);
  EXPECT_EQ(b.free_count(), 0u);
  EXPECT_TRUE(a.contains(g));
  EXPECT_TRUE(b.contains(g));
  EXPECT_FALSE(a.contains(other));
  b.discard(g);  // leaves a's membership and the other link alone
  EXPECT_FALSE(b.contains(g));
  EXPECT_TRUE(b.contains(other));
  EXPECT_EQ(b.free_count(), 1u);
  EXPECT_TRUE(a.contains(g));
  a.discard(other);  // not a member: nothing happens
  EXPECT_EQ(a.size(), 1u);
  ev.set();
  EXPECT_TRUE(a.join());
  EXPECT_TRUE(b.join());
  EXPECT_EQ(linked, 1);
  EXPECT_FALSE(a.contains(g));
  EXPECT_EQ(b.size(), 0u);
}

GREEN_TEST(Pool, ImapRethrowsATasksExceptionInItsTurn) {
  green::Pool pool(4);
  auto results = pool.imap(
      [](int i) {
        if (i == 2) throw std::runtime_error("two");
        return i;
      },
      std::vector<int>{0, 1, 2, 3});
  EXPECT_EQ(results.next(), 0);
  EXPECT_EQ(results.next(), 1);
  EXPECT_THROW(results.next(), std::runtime_error);
  EXPECT_EQ(results.next(), 3);
  EXPECT_EQ(results.next(), std::nullopt);
}

GREEN_TEST(Pool, ImapMaxsizeBoundsResultsInFlight) {
  green::Pool pool(50);
  int in_flight = 0, peak = 0;  // started and not yet consumed
  std::vector<int> input(200);
  for (int i = 0; i < 200; ++i) input[i] = i;
  std::vector<int> got;
  for (int v : pool.imap(
           [&](int i) {
             ++in_flight;
             peak = std::max(peak, in_flight);
             green::sleep(std::chrono::microseconds((i * 37) % 500));
             return i;
           },
           input, /*maxsize=*/8)) {
    --in_flight;
    got.push_back(v);
  }
  EXPECT_EQ(got, input);
  EXPECT_LE(peak, 8);
  pool.join();
}

GREEN_TEST(Pool, ImapOverAnRvalueRangeAndVoidFunctions) {
  green::Group g;
  int calls = 0;
  auto out = g.map([&](int) { ++calls; }, std::vector<int>{1, 2, 3});
  EXPECT_EQ(out.size(), 3u);
  EXPECT_EQ(calls, 3);
}

GREEN_TEST(Pool, AbandonedImapStopsFeeding) {
  green::Pool pool(2);
  int started = 0;
  std::vector<int> input(1000, 0);
  {
    auto r = pool.imap(
        [&](int) {
          ++started;
          green::sleep(1ms);
          return 0;
        },
        input);
    EXPECT_TRUE(r.next().has_value());
  }
  pool.join();
  green::sleep(5ms);
  EXPECT_LT(started, 10);
}

GREEN_TEST(Group, KillKillsEveryMember) {
  green::Group group;
  for (int i = 0; i < 5; ++i) group.spawn([] { green::sleep(10s); });
  green::sleep(0s);
  group.kill();
  EXPECT_TRUE(group.empty());
}

// ---- Local, stacks, the hub's rules -------------------------------------------

GREEN_TEST(Local, ValuesAreDestroyedWhenTheirGreenletEnds) {
  static int destroyed = 0;
  struct Tracked {
    ~Tracked() { ++destroyed; }
  };
  destroyed = 0;
  green::Local<Tracked> local;
  green::joinall({green::spawn([&] { *local; }), green::spawn([&] { *local; }), green::spawn([&] {})});
  EXPECT_EQ(destroyed, 2);
  EXPECT_FALSE(local.has());
}

GREEN_TEST(Stack, StackSizeIsConfigurablePerSpawn) {
  // ~600 KiB of frames: far beyond the 64 KiB default, fine in 2 MiB.
  struct Deep {
    static int go(int n) {
      volatile int pad[256];
      pad[0] = n;
      if (n == 0) {
        green::sleep(0s);
        return 1 + pad[0];
      }
      return go(n - 1) + 1 + (pad[0] - n);
    }
  };
  auto g = green::spawn(green::SpawnOptions{.stack_size = 2 * 1024 * 1024}, [] { return Deep::go(600); });
  EXPECT_EQ(g.get(), 601);
}

GREEN_TEST(Exceptions, ExceptionsThrownAcrossManySwitchesStayInTheirGreenlets) {
  constexpr int kGreenlets = 50;
  int caught_ok = 0;
  std::vector<green::GreenletRef> gs;
  for (int i = 0; i < kGreenlets; ++i)
    gs.push_back(green::spawn([&, i] {
      try {
        try {
          for (int k = 0; k < 100; ++k) green::sleep(0s);
          throw std::runtime_error("inner " + std::to_string(i));
        } catch (const std::runtime_error&) {
          // Switch inside a catch block while the others throw and catch too:
          // each greenlet keeps its own caught-exception stack.
          for (int k = 0; k < 10; ++k) green::sleep(0s);
          EXPECT_EQ(std::uncaught_exceptions(), 0);
          throw;  // rethrows this greenlet's exception, not another's
        }
      } catch (const std::runtime_error& e) {
        if (std::string(e.what()) == "inner " + std::to_string(i)) ++caught_ok;
      }
    }));
  green::joinall(gs);
  EXPECT_EQ(caught_ok, kGreenlets);
}

GREEN_TEST(Exceptions, SwitchingDuringUnwindingKeepsUncaughtCount) {
  int seen = -1;
  auto g = green::spawn([&] {
    struct SleepsInDestructor {
      int& out;
      ~SleepsInDestructor() {
        green::sleep(1ms);
        out = std::uncaught_exceptions();
      }
    };
    try {
      SleepsInDestructor s{seen};
      throw std::runtime_error("x");
    } catch (const std::runtime_error&) {
    }
  });
  auto h = green::spawn([] {
    for (int i = 0; i < 5; ++i) {
      try {
        throw 1;
      } catch (int) {
        green::sleep(0s);
      }
    }
  });
  green::joinall({g, h});
  EXPECT_EQ(seen, 1);
  EXPECT_TRUE(g.successful());
}

TEST(Hub, MainWaitingForeverGetsLoopExit) {
  EXPECT_THROW(green::run([] {
                 green::Event never;
                 never.wait();
               }),
               green::LoopExit);
}

TEST(Hub, RunReturnsTheMainResultAndRethrowsItsException) {
  EXPECT_EQ(green::run([](int a, int b) { return a + b; }, 2, 3), 5);
  EXPECT_THROW(green::run([] { throw std::invalid_argument("x"); }), std::invalid_argument);
}

TEST(Hub, LeftoverGreenletsAreKilledAndUnwoundAtTheEndOfRun) {
  int unwound = 0;
  green::run([&] {
    for (int i = 0; i < 10; ++i)
      green::spawn([&] {
        struct Guard {
          int& n;
          ~Guard() { ++n; }
        } guard{unwound};
        green::sleep(10s);
      });
    green::sleep(0s);
  });
  EXPECT_EQ(unwound, 10);
}

TEST(Hub, RunIsNotReentrantAndPrimitivesNeedAHub) {
  EXPECT_THROW(green::sleep(0s), std::logic_error);
  green::run([] { EXPECT_THROW(green::run([] {}), std::logic_error); });
}

// The stack switch is inline assembly whose clobbers tell the compiler what
// the other side may change: six integers live across each sleep(0) take
// every callee-saved register, and their values differ between greenlets;
// switches go greenlet to greenlet, through the hub, into new greenlets and
// out of dying ones.
TEST(Hub, ValuesLiveAcrossASwitchSurviveIt) {
  auto churn = [](std::uint64_t s) {
    std::uint64_t a = s, b = 3 * s, c = 5 * s, d = 7 * s, e = 11 * s, f = 13 * s;
    double x = 0.5 * static_cast<double>(s);
    for (int i = 0; i < 1000; ++i) {
      if (i % 10 == 0) green::spawn([] {});
      green::sleep(0s);
      a += 1, b += 3, c += 5, d += 7, e += 11, f += 13, x += 0.25;
    }
    return a == s + 1000 && b == 3 * (s + 1000) && c == 5 * (s + 1000) && d == 7 * (s + 1000) && e == 11 * (s + 1000) &&
           f == 13 * (s + 1000) && x == 0.5 * static_cast<double>(s) + 250;
  };
  green::run([&] {
    auto g = green::spawn(churn, 1000);
    auto h = green::spawn(churn, 2000);
    EXPECT_TRUE(churn(3000));
    EXPECT_TRUE(g.get());
    EXPECT_TRUE(h.get());
  });
}

TEST(Hub, SpawnOrderIsRunOrder) {
  std::vector<int> order;
  green::run([&] {
    std::vector<green::GreenletRef> gs;
    for (int i = 0; i < 100; ++i) gs.push_back(green::spawn([&order, i] { order.push_back(i); }));
    green::joinall(gs);
  });
  ASSERT_EQ(order.size(), 100u);
  for (int i = 0; i < 100; ++i) EXPECT_EQ(order[i], i);
}

}  // namespace
