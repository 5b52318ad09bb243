// A program outside green's tree: two greenlets hand numbers over a Queue.
// Prints "consumer: 0 1 2 3 4 (libgreen VERSION)".
#include <green/hub.hpp>
#include <green/queue.hpp>
#include <green/version.hpp>

#include <cstdio>
#include <string>

int main() {
  const std::string got = green::run([] {
    green::Queue<int> q;
    auto producer = green::spawn([&] {
      for (int i = 0; i < 5; ++i) q.put(i);
      q.close();
    });
    std::string out;
    while (auto v = q.next()) out += (out.empty() ? "" : " ") + std::to_string(*v);
    producer.join();
    return out;
  });
  std::printf("consumer: %s (libgreen %s)\n", got.c_str(), green::version());
}
