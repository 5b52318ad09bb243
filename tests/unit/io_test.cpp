// await_op and SignalHandler: Asio operations and signals on the hub.
#include "green_test.hpp"

#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>

#include <csignal>
#include <thread>

namespace {

using boost::system::error_code;

error_code await_timer(boost::asio::steady_timer& t) {
  auto [ec] = green::await_op<error_code>([&](auto handler) { t.async_wait(std::move(handler)); }, [&] { t.cancel(); });
  return ec;
}

GREEN_TEST(Io, AwaitOpParksOnlyItsOwnGreenlet) {
  Lines out;
  auto waiter = green::spawn([&] {
    boost::asio::steady_timer t(green::io_context(), 20ms);
    out.push_back("waiting");
    EXPECT_FALSE(await_timer(t));
    out.push_back("timer done");
  });
  auto other = green::spawn([&] {
    for (int i = 0; i < 3; ++i) {
      out.push_back("other " + std::to_string(i));
      green::sleep(0s);
    }
  });
  green::joinall({waiter, other});
  EXPECT_EQ(out, (Lines{"waiting", "other 0", "other 1", "other 2", "timer done"}));
}

// What GREEN_TEST's clean-hub check reads: it could not fail if these
// stayed zero.
GREEN_TEST(Io, HubStatsCountPendingIoAndWatchersUntilTheyEnd) {
  {
    green::SignalHandler h({SIGUSR2}, [](int) {});
    EXPECT_EQ(green::hub_stats().watchers, 1u);
  }
  EXPECT_EQ(green::hub_stats().watchers, 0u);
  boost::asio::steady_timer t(green::io_context(), 1h);
  auto waiter = green::spawn([&] { await_timer(t); });
  green::sleep(0s);
  EXPECT_EQ(green::hub_stats().pending_io, 1u);
  waiter.kill();
  EXPECT_EQ(green::hub_stats().pending_io, 0u);
}

GREEN_TEST(Io, TimeoutCancelsThePendingOperation) {
  boost::asio::steady_timer t(green::io_context(), 10s);
  bool timed_out = false;
  try {
    green::Timeout limit(5ms);
    await_timer(t);
  } catch (const green::Timeout&) {
    timed_out = true;
  }
  EXPECT_TRUE(timed_out);
  // The operation was cancelled and completed: the timer can be reused.
  t.expires_after(1ms);
  EXPECT_FALSE(await_timer(t));
}

GREEN_TEST(Io, KillWhileAwaitingCancelsAndUnwinds) {
  bool unwound = false;
  auto g = green::spawn([&] {
    struct Guard {
      bool& f;
      ~Guard() { f = true; }
    } guard{unwound};
    boost::asio::steady_timer t(green::io_context(), 10s);
    await_timer(t);
  });
  green::sleep(1ms);
  g.kill();
  EXPECT_TRUE(g.killed());
  EXPECT_TRUE(unwound);
}

GREEN_TEST(Io, CompletionPostedFromAnotherThreadWakesTheGreenlet) {
  std::thread worker;
  auto& io = green::io_context();
  auto [value] = green::await_op<int>(
      [&](auto handler) {
        worker = std::thread([&io, h = std::move(handler)]() mutable {
          std::this_thread::sleep_for(10ms);
          boost::asio::post(io, [h = std::move(h)]() mutable { h(42); });
        });
      },
      [] {});
  worker.join();
  EXPECT_EQ(value, 42);
}

GREEN_TEST(Io, SignalHandlerRunsInAGreenlet) {
  green::Event got;
  int seen = 0;
  green::SignalHandler handler({SIGUSR1}, [&](int sig) {
    seen = sig;
    got.set();
  });
  std::raise(SIGUSR1);
  EXPECT_TRUE(got.wait(5s));
  EXPECT_EQ(seen, SIGUSR1);
}

TEST(Io, ASignalHandlerAloneDoesNotKeepTheHubWaiting) {
  EXPECT_THROW(green::run([] {
                 green::SignalHandler handler({SIGUSR2}, [](int) {});
                 green::Event never;
                 never.wait();
               }),
               green::LoopExit);
}

}  // namespace
