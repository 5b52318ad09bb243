// GREEN_TEST(Suite, Name): a GoogleTest whose body runs as the main greenlet
// of a fresh hub, and which fails if the body leaves anything behind
// (libuv's tests check the same of their loop): greenlets alive, timers
// armed, I/O pending (an operation, a query, a transfer, a wait) or watchers
// (signal handlers, child-exit watches).
#pragma once

#include <gtest/gtest.h>
#include <green/green.hpp>

#include <chrono>
#include <cstdlib>
#include <string>
#include <vector>

namespace green::testing {

/// GREEN_TEST_TIMEOUT_MULTIPLIER (a number, default 1; CI's ASan run sets
/// 3) stretches the time a test gives something else to happen (a peer to
/// connect, a handler to read, the hub to send), so that a slow or loaded
/// machine does not fail it. Never the durations under test.
inline double timeout_multiplier() {
  static const double m = [] {
    const char* v = std::getenv("GREEN_TEST_TIMEOUT_MULTIPLIER");
    const double x = v ? std::atof(v) : 1.0;
    return x >= 1.0 ? x : 1.0;
  }();
  return m;
}

/// `d` times timeout_multiplier().
template <class Rep, class Period>
std::chrono::duration<Rep, Period> scaled(std::chrono::duration<Rep, Period> d) {
  return std::chrono::duration_cast<std::chrono::duration<Rep, Period>>(d * timeout_multiplier());
}
/// A number of polling rounds times timeout_multiplier().
inline int scaled(int rounds) { return static_cast<int>(rounds * timeout_multiplier()); }

inline void run_clean(void (*body)()) {
  green::run([body] {
    body();
    // Let the notifiers of greenlets that just finished run.
    green::sleep(green::Duration::zero());
    const HubStats s = green::hub_stats();
    EXPECT_EQ(s.live_greenlets, 1u) << "greenlets left alive besides the test's own";
    EXPECT_EQ(s.armed_timers, 0u) << "timers left armed";
    EXPECT_EQ(s.pending_io, 0u) << "I/O left pending";
    EXPECT_EQ(s.watchers, 0u) << "watchers (signal handlers, child-exit watches) left behind";
  });
}

/// Collects printed lines, like the seeds' stdout.
struct Lines {
  std::vector<std::string> lines;
  void operator()(std::string s) { lines.push_back(std::move(s)); }
};

}  // namespace green::testing

#define GREEN_TEST(Suite, Name)                                                    \
  static void Suite##_##Name##_green_body();                                       \
  TEST(Suite, Name) { ::green::testing::run_clean(&Suite##_##Name##_green_body); } \
  static void Suite##_##Name##_green_body()

using namespace std::chrono_literals;
using Lines = std::vector<std::string>;
