// Issue 16's last gevent APIs: unstarted greenlets (start, start_later),
// wait/iwait over Events and AsyncResults, select's exceptional set, fork.
#include "green_test.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

// ---- make_greenlet / start / start_later ---------------------------------------------

GREEN_TEST(Unstarted, RunsOnlyOnceStartedAndStartTwiceIsANoOp) {
  int runs = 0;
  auto g = green::make_greenlet([&runs](int k) { return runs += k; }, 2);
  EXPECT_FALSE(g.started());
  EXPECT_FALSE(g.ready());
  green::sleep(0s);
  EXPECT_EQ(runs, 0) << "an unstarted greenlet is not scheduled";
  EXPECT_EQ(green::hub_stats().live_greenlets, 1u) << "nor known to the hub";
  g.start();
  g.start();
  EXPECT_TRUE(g.started());
  EXPECT_EQ(g.get(), 2);
  EXPECT_EQ(runs, 2);
}

GREEN_TEST(Unstarted, JoinWaitsUntilSomeoneStartsIt) {
  auto g = green::make_greenlet([] { return 7; });
  EXPECT_FALSE(g.join(1ms)) << "nobody started it";
  auto starter = green::spawn([g] {
    green::sleep(1ms);
    g.start();
  });
  EXPECT_EQ(g.get(), 7);
  starter.join();
}

GREEN_TEST(Unstarted, KillMarksItKilledItNeverRunsAndLinksFire) {
  bool ran = false, linked = false;
  auto g = green::make_greenlet([&] { ran = true; });
  g.link([&](green::GreenletRef) { linked = true; });
  g.kill();
  EXPECT_TRUE(g.ready());
  EXPECT_TRUE(g.killed());
  g.start();  // too late: a no-op
  green::sleep(1ms);
  EXPECT_FALSE(ran);
  EXPECT_TRUE(linked);
}

GREEN_TEST(Unstarted, StartLaterRunsAfterTheDelayAndAKillBeforeCancelsItsTimer) {
  auto g = green::make_greenlet([] { return green::hub_stats().armed_timers; });
  g.start_later(2ms);
  EXPECT_TRUE(g.started());
  EXPECT_FALSE(g.ready());
  EXPECT_EQ(green::hub_stats().armed_timers, 1u) << "the start timer";
  EXPECT_EQ(g.get(), 0u) << "the timer is gone once it ran";

  bool ran = false;
  auto never = green::make_greenlet([&] { ran = true; });
  never.start_later(10s);
  EXPECT_EQ(green::hub_stats().live_greenlets, 2u);
  never.kill();
  EXPECT_TRUE(never.killed());
  EXPECT_EQ(green::hub_stats().armed_timers, 0u) << "a kill cancels the start timer";
  green::sleep(0s);
  EXPECT_FALSE(ran);
}

GREEN_TEST(Unstarted, StartLaterIsKilledAtTeardownWithoutRunning) {
  // run_clean checks nothing is left; the inner hub must end at once although
  // its greenlet would start in an hour.
  bool ran = false;
  std::thread([&] {
    green::run([&] { green::make_greenlet([&] { ran = true; }).start_later(3600s); });
  }).join();
  EXPECT_FALSE(ran);
}

// ---- wait_objects / iwait_objects -----------------------------------------------------

GREEN_TEST(WaitObjects, IwaitYieldsEventsResultsAndGreenletsInTheOrderTheyBecomeReady) {
  green::Event ev, go;
  green::AsyncResult<int> result;
  auto g = green::spawn([&] { go.wait(); });
  green::Event already;
  already.set();
  auto it = green::iwait_objects({g, ev, result, already});
  EXPECT_EQ(it.next().value_or(99), 3u) << "ready ones first";
  auto setter = green::spawn([&] {
    result.set(5);
    ev.set();
    go.set();
  });
  EXPECT_EQ(it.next().value_or(99), 2u);
  EXPECT_EQ(it.next().value_or(99), 1u);
  EXPECT_EQ(it.next().value_or(99), 0u);
  EXPECT_FALSE(it.next());
  EXPECT_TRUE(it[0].greenlet() == g);
  setter.join();
}

GREEN_TEST(WaitObjects, WaitWithCountAndTimeout) {
  green::Event never, soon;
  auto setter = green::spawn([&] {
    green::sleep(1ms);
    soon.set();
  });
  EXPECT_EQ(green::wait_objects({never, soon}, green::forever, 1), (std::vector<std::size_t>{1}));
  EXPECT_TRUE(green::wait_objects({never}, 2ms).empty()) << "the timeout ends it";
  setter.join();
}

GREEN_TEST(WaitObjects, AnEventSetWhileTheWaiterIsParkedElsewhereDoesNotWakeItThere) {
  green::Event ev;
  green::Queue<int> q;
  auto it = green::iwait_objects({ev});
  auto producer = green::spawn([&] {
    ev.set();           // granted while the main greenlet waits on the queue
    green::sleep(1ms);  // a spurious wake would make get() give up before this
    q.put(1);
  });
  EXPECT_EQ(q.get(), 1);
  EXPECT_EQ(it.next().value_or(99), 0u) << "and the event still counts";
  producer.join();
}

GREEN_TEST(WaitObjects, KillWhileParkedUnlinksFromEveryObject) {
  green::Event ev;
  green::AsyncResult<void> r;
  auto waiter = green::spawn([&] { green::wait_objects({ev, r}); });
  green::sleep(0s);
  waiter.kill();
  EXPECT_TRUE(waiter.killed());
  ev.set();  // touches no node of the dead waiter's stack
  r.set();
}

// ---- select with an exceptional set ---------------------------------------------------

namespace {
// A connected TCP pair on loopback: {client, server side}.
std::pair<int, int> tcp_pair() {
  int lst = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  if (lst < 0 || ::bind(lst, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || ::listen(lst, 1) != 0 ||
      ::getsockname(lst, reinterpret_cast<sockaddr*>(&a), &len) != 0)
    throw std::runtime_error("listen on loopback failed");
  int c = ::socket(AF_INET, SOCK_STREAM, 0);
  if (::connect(c, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) throw std::runtime_error("connect failed");
  int s = ::accept(lst, nullptr, nullptr);
  ::close(lst);
  return {c, s};
}
}  // namespace

GREEN_TEST(Select, UrgentDataIsAnExceptionalConditionAndPlainDataIsNot) {
  auto [c, s] = tcp_pair();
  ASSERT_EQ(::send(c, "a", 1, 0), 1);
  auto r = green::select({s}, {}, {s}, 2s);
  EXPECT_EQ(r.readable, (std::vector<int>{s}));
  EXPECT_TRUE(r.exceptional.empty()) << "ordinary data is no exceptional condition";
  char buf[4];
  ASSERT_EQ(::recv(s, buf, sizeof buf, 0), 1);
  EXPECT_TRUE(green::select({}, {}, {s}, 2ms).exceptional.empty()) << "times out";
  ASSERT_EQ(::send(c, "!", 1, MSG_OOB), 1);
  r = green::select({}, {}, {s}, 2s);
  EXPECT_EQ(r.exceptional, (std::vector<int>{s}));
  ::close(c);
  ::close(s);
}

// ---- fork ------------------------------------------------------------------------------

GREEN_TEST(Fork, TheChildsHubRunsTimersAndIoAndTheParentsStillDoes) {
  int up[2];
  ASSERT_EQ(::pipe(up), 0);
  auto ticker = green::spawn([] { green::sleep(1ms); return 1; });  // alive across the fork in both
  const pid_t pid = green::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    // The child: a timer, a greenlet and a descriptor wait on the new loop.
    ::close(up[0]);
    auto g = green::spawn([] {
      green::sleep(2ms);
      return 42;
    });
    int code = g.get() == 42 && ticker.get() == 1 && green::wait_write(up[1], 2s) ? 0 : 1;
    if (::write(up[1], "k", 1) != 1) code = 2;
    std::_Exit(code);
  }
  ::close(up[1]);
  EXPECT_TRUE(green::wait_read(up[0], 10s)) << "the child wrote nothing";
  char c = 0;
  EXPECT_EQ(::read(up[0], &c, 1), 1);
  EXPECT_EQ(c, 'k');
  ::close(up[0]);
  EXPECT_EQ(ticker.get(), 1);
  int status = 0;
  while (::waitpid(pid, &status, WNOHANG) == 0) green::sleep(1ms);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "child status " << status;
}
