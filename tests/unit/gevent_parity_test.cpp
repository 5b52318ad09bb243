// Behaviour a gevent user relies on (issue 16): failures nobody observed are
// reported, map leaves its pool empty, and the gevent APIs libgreen adds for
// porting (link, iwait, JoinableQueue, RLock, ...).
#include "green_test.hpp"

#include <green/proc.hpp>

#include <unistd.h>

#include <mutex>
#include <stdexcept>
#include <string>

namespace {

// Collects what the failure handler is told while alive; restores the old one.
struct CapturedFailures {
  std::vector<std::string> reports;
  green::FailureHandler previous;
  CapturedFailures() {
    previous = green::set_failure_handler([this](const green::Failure& f) {
      reports.push_back(std::to_string(f.greenlet_id) + " " + green::describe_exception(f.exception));
    });
  }
  ~CapturedFailures() { green::set_failure_handler(std::move(previous)); }
};

// ---- failures nobody observed ------------------------------------------------

GREEN_TEST(Unobserved, FailureOfAGreenletNobodyJoinsIsReportedWhenItIsDestroyed) {
  CapturedFailures captured;
  std::uint64_t id = 0;
  {
    auto g = green::spawn([] { throw std::runtime_error("boom"); });
    id = g.id();
    green::sleep(0s);
    ASSERT_TRUE(g.ready());
    EXPECT_TRUE(captured.reports.empty()) << "reported while a handle could still look";
  }
  green::sleep(0s);  // the hub holds a reference until the greenlet's notifier ran
  EXPECT_EQ(captured.reports, (std::vector<std::string>{std::to_string(id) + " std::runtime_error: boom"}));
}

GREEN_TEST(Unobserved, FailureSomeoneLookedAtIsNotReported) {
  CapturedFailures captured;
  {
    auto a = green::spawn([]() -> int { throw std::runtime_error("a"); });
    auto b = green::spawn([] { throw std::logic_error("b"); });
    auto c = green::spawn([] { throw 42; });
    auto d = green::spawn([] { throw std::runtime_error("d"); });
    green::joinall({a, b, c, d});
    EXPECT_THROW(a.get(), std::runtime_error);
    EXPECT_TRUE(b.exception());
    EXPECT_FALSE(c.successful());
    EXPECT_THROW(green::joinall({d}, green::forever, true), std::runtime_error);
  }
  EXPECT_TRUE(captured.reports.empty()) << captured.reports.front();
}

GREEN_TEST(Unobserved, KilledOrSuccessfulGreenletsAreNotReported) {
  CapturedFailures captured;
  {
    green::Event never;
    auto killed = green::spawn([&] { never.wait(); });
    auto fine = green::spawn([] { return 1; });
    green::sleep(0s);
    killed.kill();
    fine.join();
  }
  EXPECT_TRUE(captured.reports.empty());
}

GREEN_TEST(Unobserved, AnExceptionOfAnyTypeIsDescribed) {
  CapturedFailures captured;
  green::spawn([] { throw 42; }).join();
  green::sleep(0s);  // the hub drops its reference once the notifier ran
  ASSERT_EQ(captured.reports.size(), 1u);
  EXPECT_NE(captured.reports[0].find(" int"), std::string::npos) << captured.reports[0];
}

TEST(Unobserved, TheDefaultHandlerWritesToStderr) {
  ::testing::internal::CaptureStderr();
  green::run([] { green::spawn([] { throw std::runtime_error("lost"); }); });
  const std::string err = ::testing::internal::GetCapturedStderr();
  EXPECT_NE(err.find("green: <Greenlet "), std::string::npos) << err;
  EXPECT_NE(err.find("> failed with std::runtime_error: lost"), std::string::npos) << err;
}

// ---- Pool and Group after map ----------------------------------------------------

GREEN_TEST(Pool, FinishedGreenletsHaveLeftOnceMapReturns) {
  green::Pool pool(2);
  auto out = pool.map([](int x) { return x * 2; }, std::vector<int>{1, 2, 3, 4, 5});
  EXPECT_EQ(out, (std::vector<int>{2, 4, 6, 8, 10}));
  EXPECT_EQ(pool.size(), 0u);
  EXPECT_EQ(pool.free_count(), 2u);
  EXPECT_FALSE(pool.full());
}

GREEN_TEST(Pool, FinishedGreenletsHaveLeftOnceImapEnds) {
  green::Pool pool(2);
  std::vector<int> seen;
  for (int v : pool.imap_unordered([](int x) { return x + 1; }, std::vector<int>{1, 2, 3})) seen.push_back(v);
  EXPECT_EQ(seen.size(), 3u);
  EXPECT_EQ(pool.size(), 0u);
  EXPECT_FALSE(pool.full());
  green::Group group;
  for (int v : group.imap([](int x) { return x; }, std::vector<int>{1, 2, 3})) (void)v;
  EXPECT_TRUE(group.empty());
}

// ---- link / link_value / link_exception / unlink ----------------------------------

GREEN_TEST(Link, CallbacksRunInTheirOwnGreenletsOnceTheGreenletFinishes) {
  Lines order;
  green::Event go;
  auto g = green::spawn([&] {
    go.wait();
    return 7;
  });
  g.link([&](green::GreenletRef r) {
    green::sleep(0s);  // a link callback may block
    order.push_back(std::string("link ") + (r == g ? "same" : "other"));
  });
  g.link_value([&](green::GreenletRef) { order.push_back("value"); });
  g.link_exception([&](green::GreenletRef) { order.push_back("exception"); });
  go.set();
  g.join();
  EXPECT_TRUE(order.empty()) << "callbacks run after the joiners, in greenlets of their own";
  green::sleep(0s);
  green::sleep(0s);
  EXPECT_EQ(order, (Lines{"value", "link same"}));
}

GREEN_TEST(Link, LinkExceptionFiresOnlyOnFailureAndUnlinkRemovesALink) {
  Lines order;
  auto bad = green::spawn([] { throw std::runtime_error("x"); });
  bad.link_value([&](green::GreenletRef) { order.push_back("value"); });
  auto id = bad.link_exception([&](green::GreenletRef r) {
    order.push_back("exception");
    (void)r.exception();
  });
  auto gone = bad.link([&](green::GreenletRef) { order.push_back("unlinked"); });
  EXPECT_TRUE(bad.unlink(gone));
  EXPECT_FALSE(bad.unlink(gone)) << "a link is removed once";
  green::joinall({bad});
  EXPECT_TRUE(bad.exception());
  green::sleep(0s);
  green::sleep(0s);
  EXPECT_EQ(order, (Lines{"exception"}));
  EXPECT_FALSE(bad.unlink(id)) << "a link that fired is gone";
}

GREEN_TEST(Link, LinkingAFinishedGreenletFiresAtOnce) {
  auto g = green::spawn([] { return 1; });
  g.join();
  bool fired = false;
  EXPECT_EQ(g.link([&](green::GreenletRef) { fired = true; }), nullptr);
  green::sleep(0s);
  EXPECT_TRUE(fired);
}

// ---- iwait / wait / joinall(count) --------------------------------------------------

GREEN_TEST(Wait, IwaitYieldsGreenletsInTheOrderTheyFinish) {
  green::Event a_go, b_go;
  auto a = green::spawn([&] { a_go.wait(); });
  auto b = green::spawn([&] { b_go.wait(); });
  auto c = green::spawn([] {});
  green::sleep(0s);  // c finishes first
  auto it = green::iwait({a, b, c});
  auto first = it.next();
  ASSERT_TRUE(first);
  EXPECT_TRUE(*first == c);
  b_go.set();
  auto second = it.next();
  ASSERT_TRUE(second);
  EXPECT_TRUE(*second == b);
  a_go.set();
  auto third = it.next();
  ASSERT_TRUE(third);
  EXPECT_TRUE(*third == a);
  EXPECT_FALSE(it.next());
}

GREEN_TEST(Wait, WaitWithCountAndTimeoutReturnsWhatFinished) {
  green::Event never;
  auto slow = green::spawn([&] { never.wait(); });
  auto quick = green::spawn([] { green::sleep(1ms); });
  auto done = green::wait({slow, quick}, green::forever, 1);
  ASSERT_EQ(done.size(), 1u);
  EXPECT_TRUE(done[0] == quick);
  EXPECT_TRUE(green::wait({slow}, 5ms).empty()) << "nothing finished within the timeout";
  EXPECT_TRUE(green::joinall({slow, quick}, green::forever, false, 1));
  EXPECT_FALSE(green::joinall({slow, quick}, 5ms, false, 2));
  slow.kill();
}

GREEN_TEST(Wait, KillWhileParkedInIwaitUnlinksEverything) {
  green::Event never;
  auto target = green::spawn([&] { never.wait(); });
  auto waiter = green::spawn([&] {
    auto it = green::iwait({target});
    it.next();
  });
  green::sleep(0s);
  waiter.kill();
  EXPECT_TRUE(waiter.killed());
  target.kill();  // fires no dangling link
  EXPECT_TRUE(target.ready());
}

// ---- spawn_later, killall(exception), Group::join(raise_error) ---------------------------

GREEN_TEST(SpawnLater, RunsAfterTheDelayAndAKillBeforeThatMeansItNeverRuns) {
  int ran = 0;
  auto g = green::spawn_later(
      2ms, [&](int x) { return ran += x; }, 5);
  EXPECT_FALSE(g.ready());
  EXPECT_EQ(g.get(), 5);
  auto never = green::spawn_later(10s, [&] { ran = -1; });
  green::sleep(0s);
  never.kill();
  EXPECT_EQ(ran, 5);
}

struct Stop {
  int code;
};

GREEN_TEST(Kill, KillallAndGroupKillRaiseTheGivenException) {
  green::Event never;
  std::vector<int> codes;
  auto body = [&] {
    try {
      never.wait();
    } catch (const Stop& s) {
      codes.push_back(s.code);
    }
  };
  auto a = green::spawn(body);
  auto b = green::spawn(body);
  green::sleep(0s);
  green::killall({a, b}, Stop{3});
  green::Group group;
  group.spawn(body);
  green::sleep(0s);
  group.kill(Stop{4});
  EXPECT_EQ(codes, (std::vector<int>{3, 3, 4}));
}

GREEN_TEST(Group, JoinWithRaiseErrorRethrowsAMembersFailure) {
  green::Group group;
  green::Event never;
  group.spawn([&] { never.wait(); });
  group.spawn([] {
    green::sleep(1ms);
    throw std::runtime_error("member failed");
  });
  EXPECT_THROW(group.join(green::forever, true), std::runtime_error);
  EXPECT_EQ(group.size(), 1u);
  group.kill();
}

// ---- Pool apply / apply_async / map_async ----------------------------------------------

GREEN_TEST(Pool, ApplyApplyAsyncAndMapAsync) {
  green::Pool pool(2);
  EXPECT_EQ(pool.apply([](int a, int b) { return a + b; }, 2, 3), 5);
  int got = 0;
  auto g = pool.apply_async([] { return 9; }, [&](int v) { got = v; });
  EXPECT_EQ(g.get(), 9);
  green::sleep(0s);
  EXPECT_EQ(got, 9);
  bool called = false;
  auto bad = pool.apply_async([]() -> int { throw std::runtime_error("no"); }, [&](int) { called = true; });
  EXPECT_THROW(bad.get(), std::runtime_error);
  green::sleep(0s);
  EXPECT_FALSE(called) << "the callback runs only on success";
  auto m = pool.map_async([](int x) { return x * x; }, std::vector<int>{1, 2, 3});
  EXPECT_EQ(m.get(), (std::vector<int>{1, 4, 9}));
  EXPECT_EQ(pool.size(), 0u);
}

// ---- JoinableQueue, PriorityQueue, LifoQueue, Channel -------------------------------------

GREEN_TEST(JoinableQueue, JoinWaitsUntilEveryItemIsTaskDone) {
  green::JoinableQueue<int> q;
  std::vector<int> done;
  auto worker = green::spawn([&] {
    for (;;) {
      int v = q.get();
      green::sleep(0s);
      done.push_back(v);
      q.task_done();
    }
  });
  for (int i = 0; i < 3; ++i) q.put(i);
  EXPECT_EQ(q.unfinished_tasks(), 3u);
  EXPECT_FALSE(q.join(0s));
  EXPECT_TRUE(q.join());
  EXPECT_EQ(done, (std::vector<int>{0, 1, 2}));
  EXPECT_THROW(q.task_done(), std::logic_error);
  worker.kill();
}

GREEN_TEST(JoinableQueue, AFailedPutCountsNoTask) {
  green::JoinableQueue<int> q(1);
  q.put_nowait(1);
  EXPECT_THROW(q.put_nowait(2), green::QueueFull);
  EXPECT_THROW(q.put(2, 1ms), green::QueueFull);
  EXPECT_EQ(q.unfinished_tasks(), 1u);
  q.get();
  q.task_done();
  EXPECT_TRUE(q.join(0s));
}

GREEN_TEST(Queue, PriorityQueueGivesTheSmallestAndLifoQueueTheNewest) {
  green::PriorityQueue<int> pq;
  for (int v : {5, 1, 4, 2, 3}) pq.put(v);
  EXPECT_EQ(pq.peek(), 1);
  std::vector<int> out;
  while (!pq.empty()) out.push_back(pq.get());
  EXPECT_EQ(out, (std::vector<int>{1, 2, 3, 4, 5}));
  green::PriorityQueue<int, std::greater<int>> maxq(2);
  maxq.put(1);
  maxq.put(3);
  auto blocked = green::spawn([&] { maxq.put(2); });
  green::sleep(0s);
  EXPECT_EQ(maxq.get(), 3);  // lets the blocked put in
  EXPECT_EQ(maxq.get(), 2);
  EXPECT_EQ(maxq.get(), 1);
  blocked.join();
  green::LifoQueue<int> lq;
  for (int v : {1, 2, 3}) lq.put(v);
  EXPECT_EQ(lq.get(), 3);
  EXPECT_EQ(lq.get(), 2);
}

GREEN_TEST(Channel, PutWaitsForAGetterAndNothingIsBuffered) {
  green::Channel<std::string> ch;
  EXPECT_THROW(ch.put_nowait("x"), green::QueueFull) << "no getter, no buffer";
  EXPECT_THROW(ch.get(1ms), green::QueueEmpty);
  bool put_returned = false;
  auto putter = green::spawn([&] {
    ch.put("hello");
    put_returned = true;
  });
  green::sleep(0s);
  EXPECT_FALSE(put_returned) << "put waits until someone takes the item";
  EXPECT_EQ(ch.putters(), 1u);
  EXPECT_EQ(ch.get(), "hello");
  putter.join();
  EXPECT_TRUE(put_returned);
  auto getter = green::spawn([&] { return ch.get(); });
  green::sleep(0s);
  ch.put_nowait("direct");
  EXPECT_EQ(getter.get(), "direct");
}

// ---- RLock ---------------------------------------------------------------------------

GREEN_TEST(RLock, TheOwnerReentersOthersWait) {
  green::RLock lock;
  Lines order;
  lock.acquire();
  {
    std::lock_guard<green::RLock> again(lock);  // reentrant
    EXPECT_TRUE(lock.owned());
  }
  green::Event timed_out;  // the owner holds on until the other has timed out, whatever the clock does
  auto other = green::spawn([&] {
    EXPECT_THROW(lock.release(), std::logic_error) << "only the owner releases";
    EXPECT_FALSE(lock.acquire(1ms));
    timed_out.set();
    lock.acquire();
    order.push_back("other");
    lock.release();
  });
  timed_out.wait();
  order.push_back("owner");
  lock.release();
  other.join();
  EXPECT_EQ(order, (Lines{"owner", "other"}));
  EXPECT_FALSE(lock.locked());
}

// ---- Timeout::start, with_timeout's default, idle -----------------------------------------

GREEN_TEST(Timeout, AnUnarmedTimeoutStartsAndRearms) {
  green::Timeout t(2ms, green::Timeout::unarmed);
  EXPECT_FALSE(t.pending());
  green::sleep(5ms);  // not armed: nothing raised
  t.start();
  EXPECT_TRUE(t.pending());
  try {
    green::sleep(10s);
    FAIL() << "the Timeout did not fire";
  } catch (const green::Timeout& e) {
    EXPECT_TRUE(e == t);
  }
  EXPECT_TRUE(t.expired());
  t.start(1h);  // re-armed with a new duration
  EXPECT_FALSE(t.expired());
  EXPECT_TRUE(t.pending());
  t.cancel();
}

GREEN_TEST(Timeout, WithTimeoutReturnsTheDefaultWhenItsOwnTimeoutExpires) {
  EXPECT_EQ(green::with_timeout(1ms, green::TimeoutValue{-1},
                                [] {
                                  green::sleep(10s);
                                  return 1;
                                }),
            -1);
  EXPECT_EQ(green::with_timeout(1s, green::TimeoutValue{-1}, [] { return 1; }), 1);
  green::Timeout outer(1ms);
  EXPECT_THROW(green::with_timeout(10s, green::TimeoutValue{-1},
                                   [] {
                                     green::sleep(10s);
                                     return 1;
                                   }),
               green::Timeout)
      << "an outer Timeout is not swallowed";
}

GREEN_TEST(Timeout, TryWithTimeoutGivesNulloptOnlyForItsOwnTimeout) {
  EXPECT_EQ(green::try_with_timeout(1ms,
                                    [] {
                                      green::sleep(10s);
                                      return 1;
                                    }),
            std::nullopt);
  EXPECT_EQ(green::try_with_timeout(
                1s, [](int x) { return x; }, 7),
            std::optional<int>(7));
  EXPECT_FALSE(green::try_with_timeout(1ms, [] { green::sleep(10s); }));
  EXPECT_TRUE(green::try_with_timeout(1s, [] {}));
  green::Timeout outer(1ms);
  EXPECT_THROW(green::try_with_timeout(10s, [] { green::sleep(10s); }), green::Timeout)
      << "an outer Timeout is not swallowed";
}

GREEN_TEST(Idle, ReturnsOnceNothingElseIsReady) {
  Lines order;
  auto busy = green::spawn([&] {
    for (int i = 0; i < 3; ++i) {
      order.push_back("busy");
      green::sleep(0s);
    }
  });
  green::idle();
  order.push_back("idle");
  EXPECT_EQ(order, (Lines{"busy", "busy", "busy", "idle"}));
  busy.join();
}

// ---- wait_read / wait_write / select -------------------------------------------------------

struct PipeFds {
  int fd[2];
  PipeFds() { EXPECT_EQ(::pipe(fd), 0); }
  ~PipeFds() {
    ::close(fd[0]);
    ::close(fd[1]);
  }
};

GREEN_TEST(WaitFd, WaitReadWakesWhenAnotherGreenletWritesAndTimesOutOtherwise) {
  PipeFds p;
  EXPECT_FALSE(green::wait_read(p.fd[0], 2ms));
  EXPECT_TRUE(green::wait_write(p.fd[1], 1s));
  auto writer = green::spawn([&] {
    green::sleep(1ms);
    EXPECT_EQ(::write(p.fd[1], "x", 1), 1);
  });
  EXPECT_TRUE(green::wait_read(p.fd[0]));
  writer.join();
  char c;
  EXPECT_EQ(::read(p.fd[0], &c, 1), 1);
}

GREEN_TEST(WaitFd, SelectReportsEveryReadyDescriptor) {
  PipeFds a, b;
  EXPECT_EQ(::write(b.fd[1], "y", 1), 1);
  auto r = green::select({a.fd[0], b.fd[0]}, {a.fd[1]});
  EXPECT_EQ(r.readable, (std::vector<int>{b.fd[0]}));
  EXPECT_EQ(r.writable, (std::vector<int>{a.fd[1]}));
  auto none = green::select({a.fd[0]}, {}, 2ms);
  EXPECT_TRUE(none.readable.empty());
}

GREEN_TEST(WaitFd, KillWhileParkedInSelect) {
  PipeFds p;
  auto g = green::spawn([&] { green::select({p.fd[0]}, {}); });
  green::sleep(0s);
  g.kill();
  EXPECT_TRUE(g.killed());
}

// ---- proc: run, check_output, wait raising on timeout ----------------------------------

GREEN_TEST(Proc, RunCapturesOutputAndCheckRaisesOnFailure) {
  using namespace green::proc;
  Result r = run({"/bin/sh", "-c", "read x; echo out:$x; echo err >&2; exit 3"}, {.input = "in\n"});
  EXPECT_EQ(r.out, "out:in\n");
  EXPECT_EQ(r.err, "err\n");
  EXPECT_EQ(r.returncode, 3);
  try {
    run({"/bin/sh", "-c", "echo partial; exit 4"}, {.check = true});
    FAIL() << "a non-zero exit with check must throw";
  } catch (const CalledProcessError& e) {
    EXPECT_EQ(e.returncode, 4);
    EXPECT_EQ(e.output, "partial\n");
    EXPECT_NE(std::string(e.what()).find("/bin/sh exited with status 4"), std::string::npos) << e.what();
  }
  EXPECT_EQ(check_output({"/bin/echo", "hi"}), "hi\n");
  EXPECT_THROW(check_output({"/bin/false"}), CalledProcessError);
}

GREEN_TEST(Proc, RunKillsTheChildOnTimeoutAndWaitCanRaise) {
  using namespace green::proc;
  EXPECT_THROW(run({"/bin/sleep", "30"}, {.timeout = 20ms}), TimeoutExpired);
  Process p = Process::spawn({"/bin/sleep", "30"});
  EXPECT_THROW(p.wait(5ms, Process::raise_on_timeout), TimeoutExpired);
  p.kill();
  EXPECT_EQ(p.wait(green::forever, Process::raise_on_timeout), -9);
}

}  // namespace
