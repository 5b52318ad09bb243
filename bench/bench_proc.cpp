// Subprocess throughput on the hub (issue 5): spawn and reap N `true`
// processes, C at a time, with green::proc. Driven by bench/run_proc.sh.
//
//   bench_proc N C hub|thread   -> prints "seconds N C mode"
#include <green/green.hpp>
#include <green/proc.hpp>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>

int main(int argc, char** argv) {
  if (argc != 4) {
    std::fprintf(stderr, "usage: bench_proc N CONCURRENCY hub|thread\n");
    return 2;
  }
  const int n = std::atoi(argv[1]);
  const int c = std::atoi(argv[2]);
  const bool in_thread = std::strcmp(argv[3], "thread") == 0;
  int failed = 0;
  const auto t0 = std::chrono::steady_clock::now();
  green::run([&] {
    green::Pool pool(static_cast<std::size_t>(c));
    for (int i = 0; i < n; ++i) {
      pool.spawn([&] {
        auto p = green::proc::Process::spawn({"true"}, {.spawn_in_thread = in_thread});
        if (p.wait() != 0) ++failed;
      });
    }
    pool.join();
  });
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::printf("%.3f %d %d %s\n", secs, n, c, argv[3]);
  return failed ? 1 : 0;
}
