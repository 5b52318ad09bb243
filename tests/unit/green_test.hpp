// GREEN_TEST(Suite, Name): a GoogleTest whose body runs as the main greenlet
// of a fresh hub, and which fails if the body leaves greenlets alive or
// timers armed behind it (the hub must be clean at teardown).
#pragma once

#include <gtest/gtest.h>
#include <green/green.hpp>

#include <chrono>
#include <string>
#include <vector>

namespace green::testing {

inline void run_clean(void (*body)()) {
  green::run([body] {
    body();
    // Let the notifiers of greenlets that just finished run.
    green::sleep(green::Duration::zero());
    const HubStats s = green::hub_stats();
    EXPECT_EQ(s.live_greenlets, 1u) << "greenlets left alive besides the test's own";
    EXPECT_EQ(s.armed_timers, 0u) << "timers left armed";
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
