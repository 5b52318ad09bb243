// The example in README.md, kept compiling by the build.
#include <green/green.hpp>

#include <cstdio>
#include <vector>

using namespace std::chrono_literals;

int main() {
  green::run([] {
    green::Pool pool(20);
    for (int r : pool.imap(
             [](int i) {
               green::sleep(10ms);
               return i * i;
             },
             std::vector{1, 2, 3}))
      std::printf("%d\n", r);  // 1 4 9, in input order, 10 ms in all
    try {
      green::Timeout t(2s);
      green::sleep(10s);  // raises the Timeout after 2 s
    } catch (const green::Timeout&) {
      std::puts("timed out");
    }
  });
}
