// Core benchmarks of libgreen: sleep(0) switch cost, spawn+join throughput
// and resident memory per parked greenlet. Plain program, own timing;
// prints `key value` lines for bench/run_core.sh.
//
//   bench_core switch N            N sleep(0) calls in total, two greenlets ping-ponging
//   bench_core spawn N [ALIVE]     N x (spawn a trivial greenlet, join it), with ALIVE
//                                  other greenlets parked on an Event meanwhile
//   bench_core rss N               N greenlets parked on one Event: RSS delta / N; then
//                                  all woken and joined: RSS after that burst
//   bench_core startlat N          N greenlets started one by one (spawn + sleep(0) until it
//                                  has run and parked): latency of each start, the slowest
//                                  ones listed (shows stalls when the stack pool grows)
//   bench_core link N              N x (spawn a trivial greenlet, link a callback that
//                                  counts), then join them all and let the callbacks run
//   bench_core iwait N             N greenlets that each yield once, taken with iwait as
//                                  they finish
//   bench_core jqueue N            N items through a JoinableQueue to one consumer that
//                                  calls task_done, then join()
#include "bench_util.hpp"

#include <green/green.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

using namespace std::chrono_literals;

namespace {

long g_counter = 0;

void ping(long k) {
  for (long i = 0; i < k; ++i) green::sleep(0ns);
}

int bench_switch(long total) {
  const long per = total / 2;
  green::run([per] {
    // Warm-up: carve the stacks, fault in the pages, settle the caches.
    green::joinall({green::spawn(ping, per / 10 + 1), green::spawn(ping, per / 10 + 1)});
    const double c0 = bench::cpu_ns();
    const double t0 = bench::now_ns();
    green::joinall({green::spawn(ping, per), green::spawn(ping, per)});
    const double t1 = bench::now_ns();
    const double c1 = bench::cpu_ns();
    const double calls = 2.0 * static_cast<double>(per);
    std::printf("switches %.0f\n", calls);
    std::printf("seconds %.4f\n", (t1 - t0) / 1e9);
    std::printf("switch_ns %.2f\n", (t1 - t0) / calls);
    std::printf("switch_cpu_ns %.2f\n", (c1 - c0) / calls);
  });
  return 0;
}

int bench_spawn(long n, long alive) {
  green::run([n, alive] {
    green::Event ev;
    std::vector<green::GreenletRef> parked;
    parked.reserve(static_cast<std::size_t>(alive));
    for (long i = 0; i < alive; ++i) parked.emplace_back(green::spawn([&ev] { ev.wait(); }));
    green::sleep(0ns);  // every parked greenlet runs once and parks on ev
    if (green::hub_stats().live_greenlets != static_cast<std::size_t>(alive) + 1) {
      std::fprintf(stderr, "unexpected live count %zu\n", green::hub_stats().live_greenlets);
      std::exit(1);
    }
    auto trivial = [] { ++g_counter; };
    for (long i = 0; i < 10000; ++i) green::spawn(trivial).join();  // warm-up
    g_counter = 0;
    const double c0 = bench::cpu_ns();
    const double t0 = bench::now_ns();
    for (long i = 0; i < n; ++i) {
      auto g = green::spawn(trivial);
      g.join();
    }
    const double t1 = bench::now_ns();
    const double c1 = bench::cpu_ns();
    if (g_counter != n) {
      std::fprintf(stderr, "ran %ld of %ld greenlets\n", g_counter, n);
      std::exit(1);
    }
    ev.set();
    green::joinall(parked);
    std::printf("alive %ld\n", alive);
    std::printf("spawn_joins %ld\n", n);
    std::printf("seconds %.4f\n", (t1 - t0) / 1e9);
    std::printf("spawn_join_ns %.2f\n", (t1 - t0) / static_cast<double>(n));
    std::printf("spawn_join_per_s %.0f\n", static_cast<double>(n) / ((t1 - t0) / 1e9));
    std::printf("spawn_join_cpu_per_s %.0f\n", static_cast<double>(n) / ((c1 - c0) / 1e9));
  });
  return 0;
}

// The page tables' size (VmPTE), which RSS does not count: sparse stacks
// cost page-table pages rather than resident stack pages.
long vmpte_bytes() {
  std::FILE* f = std::fopen("/proc/self/status", "r");
  if (!f) return -1;
  char line[256];
  long kb = -1;
  while (std::fgets(line, sizeof line, f))
    if (std::sscanf(line, "VmPTE: %ld kB", &kb) == 1) break;
  std::fclose(f);
  return kb * 1024;
}

int bench_rss(long n) {
  green::run([n] {
    // BENCH_STACK_SIZE=BYTES: measure another default stack size.
    long stack_size = 64 * 1024;
    if (const char* env = std::getenv("BENCH_STACK_SIZE")) stack_size = std::atol(env);
    green::set_default_stack_size(static_cast<std::size_t>(stack_size));
    green::Event ev;
    // The handles' storage is touched before the baseline so it is not counted.
    std::vector<green::GreenletRef> gs(static_cast<std::size_t>(n));
    long started = 0;
    const long rss0 = bench::rss_bytes();
    const long pte0 = vmpte_bytes();
    const long maps0 = bench::map_count();
    const double t0 = bench::now_ns();
    for (long i = 0; i < n; ++i)
      gs[static_cast<std::size_t>(i)] = green::spawn([&ev, &started] {
        ++started;
        ev.wait();
      });
    green::sleep(0ns);  // all of them run (FIFO) and park before main resumes
    const double t1 = bench::now_ns();
    const long rss1 = bench::rss_bytes();
    const long pte1 = vmpte_bytes();
    const long maps1 = bench::map_count();
    const auto st = green::hub_stats();
    if (started != n) {
      std::fprintf(stderr, "only %ld of %ld greenlets started\n", started, n);
      std::exit(1);
    }
    ev.set();
    const bool all = green::joinall(gs);
    const double t2 = bench::now_ns();
    const long rss2 = bench::rss_bytes();
    const auto st2 = green::hub_stats();
    std::printf("greenlets %ld\n", n);
    std::printf("stack_size %ld\n", stack_size);
    std::printf("pte_per_greenlet %.1f\n", static_cast<double>(pte1 - pte0) / static_cast<double>(n));
    std::printf("rss_before %ld\n", rss0);
    std::printf("rss_peak %ld\n", rss1);
    std::printf("rss_per_greenlet %.1f\n", static_cast<double>(rss1 - rss0) / static_cast<double>(n));
    std::printf("rss_after_join %ld\n", rss2);  // the handles (and control blocks) are still held
    std::printf("stacks_free_after_join %zu\n", st2.stacks_free);
    std::printf("stacks_returned_after_join %zu\n", st2.stacks_returned);  // pages given back to the kernel
    std::printf("maps_before %ld\n", maps0);
    std::printf("maps_peak %ld\n", maps1);
    std::printf("max_map_count %ld\n", bench::max_map_count());
    std::printf("stacks_allocated %zu\n", st.stacks_allocated);
    std::printf("live_greenlets %zu\n", st.live_greenlets);
    std::printf("spawn_park_s %.3f\n", (t1 - t0) / 1e9);
    std::printf("wake_join_s %.3f\n", (t2 - t1) / 1e9);
    std::printf("all_joined %d\n", all ? 1 : 0);
    gs = {};  // drop the handles: the greenlets' control blocks go too
    green::sleep(0ns);
    std::printf("rss_after_release %ld\n", bench::rss_bytes());
  });
  return 0;
}

int bench_startlat(long n) {
  green::run([n] {
    green::Event ev;
    std::vector<green::GreenletRef> gs(static_cast<std::size_t>(n));
    std::vector<double> lat(static_cast<std::size_t>(n));
    for (long i = 0; i < n; ++i) {
      const double t0 = bench::now_ns();
      gs[static_cast<std::size_t>(i)] = green::spawn([&ev] { ev.wait(); });
      green::sleep(0ns);
      lat[static_cast<std::size_t>(i)] = bench::now_ns() - t0;
    }
    std::vector<double> sorted = lat;
    std::sort(sorted.begin(), sorted.end());
    double sum = 0;
    for (double v : lat) sum += v;
    std::printf("greenlets %ld\n", n);
    std::printf("start_mean_us %.2f\n", sum / static_cast<double>(n) / 1e3);
    std::printf("start_p50_us %.2f\n", sorted[sorted.size() / 2] / 1e3);
    std::printf("start_p99_us %.2f\n", sorted[sorted.size() * 99 / 100] / 1e3);
    std::printf("start_max_us %.1f\n", sorted.back() / 1e3);
    long over = 0;
    for (long i = 0; i < n; ++i) {
      if (lat[static_cast<std::size_t>(i)] > 1e6) {  // over 1 ms
        if (over++ < 20) std::printf("slow_start %ld %.1f\n", i, lat[static_cast<std::size_t>(i)] / 1e3);
      }
    }
    std::printf("starts_over_1ms %ld\n", over);
    std::printf("stacks_allocated %zu\n", green::hub_stats().stacks_allocated);
    ev.set();
    green::joinall(gs);
  });
  return 0;
}

// The three gevent-API workloads print "<name>_ns" per item (wall and CPU).
template <class Body>
int bench_items(const char* name, long n, Body body) {
  green::run([&] {
    body(n / 10 + 1);  // warm-up: stacks carved, pages faulted in
    const double c0 = bench::cpu_ns();
    const double t0 = bench::now_ns();
    body(n);
    const double t1 = bench::now_ns();
    const double c1 = bench::cpu_ns();
    std::printf("items %ld\n", n);
    std::printf("%s_ns %.2f\n", name, (t1 - t0) / static_cast<double>(n));
    std::printf("%s_cpu_ns %.2f\n", name, (c1 - c0) / static_cast<double>(n));
  });
  return 0;
}

int bench_link(long n) {
  return bench_items("link", n, [](long k) {
    long called = 0;
    std::vector<green::GreenletRef> gs;
    gs.reserve(static_cast<std::size_t>(k));
    for (long i = 0; i < k; ++i) {
      auto g = green::spawn([] { ++g_counter; });
      g.link([&called](green::GreenletRef) { ++called; });
      gs.push_back(std::move(g));
    }
    green::joinall(gs);
    while (called < k) green::sleep(0ns);
  });
}

int bench_iwait(long n) {
  return bench_items("iwait", n, [](long k) {
    std::vector<green::GreenletRef> gs;
    gs.reserve(static_cast<std::size_t>(k));
    for (long i = 0; i < k; ++i) gs.push_back(green::spawn([] { green::sleep(0ns); }));
    long got = 0;
    for (auto it = green::iwait(std::move(gs)); it.next();) ++got;
    if (got != k) std::exit(1);
  });
}

int bench_jqueue(long n) {
  return bench_items("jqueue", n, [](long k) {
    green::JoinableQueue<long> q;
    auto consumer = green::spawn([&q] {
      for (;;) {
        g_counter += q.get();
        q.task_done();
      }
    });
    for (long i = 0; i < k; ++i) q.put(i);
    q.join();
    consumer.kill();
  });
}

int usage() {
  std::fprintf(stderr, "usage: bench_core switch N | spawn N [ALIVE] | rss N | startlat N | link N | iwait N | jqueue N\n");
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) return usage();
  const long n = bench::arg_long(argc, argv, 2, 0);
  if (n <= 0) return usage();
  if (std::strcmp(argv[1], "switch") == 0) return bench_switch(n);
  if (std::strcmp(argv[1], "spawn") == 0) return bench_spawn(n, bench::arg_long(argc, argv, 3, 0));
  if (std::strcmp(argv[1], "rss") == 0) return bench_rss(n);
  if (std::strcmp(argv[1], "startlat") == 0) return bench_startlat(n);
  if (std::strcmp(argv[1], "link") == 0) return bench_link(n);
  if (std::strcmp(argv[1], "iwait") == 0) return bench_iwait(n);
  if (std::strcmp(argv[1], "jqueue") == 0) return bench_jqueue(n);
  return usage();
}
