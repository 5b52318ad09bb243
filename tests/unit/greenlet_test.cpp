#include <green/green.hpp>
#include <gtest/gtest.h>
using namespace std::chrono_literals;
TEST(Smoke, Runs) {
  std::string out;
  green::run([&] {
    green::joinall({green::spawn([&] { out += "12 "; green::sleep(0s); out += "34 "; }),
                   green::spawn([&] { out += "56 "; green::sleep(0s); out += "78 "; })});
  });
  EXPECT_EQ(out, "12 56 34 78 ");
}
