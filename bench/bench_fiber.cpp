// The same workloads as bench_core, on Boost.Fiber 1.81 (default
// round_robin scheduler, one thread).
//
//   bench_fiber switch N                 N this_fiber::yield() calls in total, two fibers
//   bench_fiber spawn N ALIVE STACK      N x (fiber f(trivial); f.join()), ALIVE fibers parked
//                                        on a condition variable meanwhile; STACK is
//                                        `default` (fixedsize_stack) or `pooled`
//                                        (pooled_fixedsize_stack), both of the default size
//   bench_fiber rss N                    N fibers parked on one condition variable
//                                        (default stack allocator): RSS delta / N
//   bench_fiber jump N                   the floor under any switch: N raw Boost.Context
//                                        jump_fcontext calls between two contexts, made
//                                        directly and from two calls deep (as a scheduler
//                                        makes them: see libgreen/src/context_switch.hpp)
#include "bench_util.hpp"

#include <boost/context/detail/fcontext.hpp>
#include <boost/context/stack_traits.hpp>
#include <boost/fiber/all.hpp>

#include <cstdio>
#include <cstring>
#include <exception>
#include <memory>
#include <mutex>
#include <vector>

namespace bf = boost::fibers;

namespace {

long g_counter = 0;

// gevent-style Event for fibers: a flag, a mutex and a condition variable.
struct Event {
  bf::mutex m;
  bf::condition_variable cv;
  bool flag = false;
  void wait() {
    std::unique_lock<bf::mutex> lk(m);
    cv.wait(lk, [this] { return flag; });
  }
  void set() {
    {
      std::unique_lock<bf::mutex> lk(m);
      flag = true;
    }
    cv.notify_all();
  }
};

void ping(long k) {
  for (long i = 0; i < k; ++i) boost::this_fiber::yield();
}

int bench_switch(long total) {
  const long per = total / 2;
  {
    bf::fiber a(ping, per / 10 + 1), b(ping, per / 10 + 1);
    a.join();
    b.join();
  }
  const double c0 = bench::cpu_ns();
  const double t0 = bench::now_ns();
  bf::fiber a(ping, per), b(ping, per);
  a.join();
  b.join();
  const double t1 = bench::now_ns();
  const double c1 = bench::cpu_ns();
  const double calls = 2.0 * static_cast<double>(per);
  std::printf("switches %.0f\n", calls);
  std::printf("seconds %.4f\n", (t1 - t0) / 1e9);
  std::printf("switch_ns %.2f\n", (t1 - t0) / calls);
  std::printf("switch_cpu_ns %.2f\n", (c1 - c0) / calls);
  return 0;
}

template <class Alloc>
int bench_spawn(long n, long alive, Alloc alloc, const char* name) {
  Event ev;
  std::vector<bf::fiber> parked;
  parked.reserve(static_cast<std::size_t>(alive));
  for (long i = 0; i < alive; ++i) parked.emplace_back([&ev] { ev.wait(); });
  boost::this_fiber::yield();  // every parked fiber runs once and blocks
  auto trivial = [] { ++g_counter; };
  for (long i = 0; i < 10000; ++i) bf::fiber(std::allocator_arg, alloc, trivial).join();  // warm-up
  g_counter = 0;
  const double c0 = bench::cpu_ns();
  const double t0 = bench::now_ns();
  for (long i = 0; i < n; ++i) {
    bf::fiber f(std::allocator_arg, alloc, trivial);
    f.join();
  }
  const double t1 = bench::now_ns();
  const double c1 = bench::cpu_ns();
  if (g_counter != n) {
    std::fprintf(stderr, "ran %ld of %ld fibers\n", g_counter, n);
    return 1;
  }
  ev.set();
  for (auto& f : parked) f.join();
  std::printf("stack_allocator %s\n", name);
  std::printf("stack_size %zu\n", boost::context::stack_traits::default_size());
  std::printf("alive %ld\n", alive);
  std::printf("spawn_joins %ld\n", n);
  std::printf("seconds %.4f\n", (t1 - t0) / 1e9);
  std::printf("spawn_join_ns %.2f\n", (t1 - t0) / static_cast<double>(n));
  std::printf("spawn_join_per_s %.0f\n", static_cast<double>(n) / ((t1 - t0) / 1e9));
  std::printf("spawn_join_cpu_per_s %.0f\n", static_cast<double>(n) / ((c1 - c0) / 1e9));
  return 0;
}

int bench_rss(long n) {
  Event ev;
  std::vector<bf::fiber> fs(static_cast<std::size_t>(n));  // touched before the baseline
  long started = 0;
  const long rss0 = bench::rss_bytes();
  const long maps0 = bench::map_count();
  const double t0 = bench::now_ns();
  long created = 0;
  try {
    for (long i = 0; i < n; ++i) {
      fs[static_cast<std::size_t>(i)] = bf::fiber([&ev, &started] {
        ++started;
        ev.wait();
      });
      ++created;
    }
  } catch (const std::exception& e) {
    std::printf("error creating fiber %ld: %s\n", created, e.what());
    std::fflush(stdout);
    ev.set();
    for (long i = 0; i < created; ++i) fs[static_cast<std::size_t>(i)].join();
    return 1;
  }
  boost::this_fiber::yield();
  const double t1 = bench::now_ns();
  const long rss1 = bench::rss_bytes();
  const long maps1 = bench::map_count();
  if (started != n) {
    std::fprintf(stderr, "only %ld of %ld fibers started\n", started, n);
    return 1;
  }
  ev.set();
  for (auto& f : fs) f.join();
  const double t2 = bench::now_ns();
  const long rss2 = bench::rss_bytes();
  std::printf("fibers %ld\n", n);
  std::printf("stack_allocator default(fixedsize_stack)\n");
  std::printf("stack_size %zu\n", boost::context::stack_traits::default_size());
  std::printf("rss_before %ld\n", rss0);
  std::printf("rss_peak %ld\n", rss1);
  std::printf("rss_per_greenlet %.1f\n", static_cast<double>(rss1 - rss0) / static_cast<double>(n));
  std::printf("rss_after_join %ld\n", rss2);
  std::printf("maps_before %ld\n", maps0);
  std::printf("maps_peak %ld\n", maps1);
  std::printf("max_map_count %ld\n", bench::max_map_count());
  std::printf("spawn_park_s %.3f\n", (t1 - t0) / 1e9);
  std::printf("wake_join_s %.3f\n", (t2 - t1) / 1e9);
  std::printf("all_joined 1\n");
  return 0;
}

int usage() {
  std::fprintf(stderr, "usage: bench_fiber switch N | spawn N [ALIVE [default|pooled]] | rss N | jump N\n");
  return 2;
}

namespace bctx = boost::context::detail;

[[gnu::noinline]] bctx::transfer_t jump_in(bctx::fcontext_t to) {
  bctx::transfer_t t = bctx::jump_fcontext(to, nullptr);
  asm volatile("");  // keep the call a call, not a tail jump
  return t;
}
[[gnu::noinline]] bctx::transfer_t jump_nested(bctx::fcontext_t to) {
  bctx::transfer_t t = jump_in(to);
  asm volatile("");
  return t;
}
void bounce_direct(bctx::transfer_t t) {
  for (;;) t = bctx::jump_fcontext(t.fctx, nullptr);
}
void bounce_nested(bctx::transfer_t t) {
  for (;;) t = jump_nested(t.fctx);
}

int bench_jump(long n) {
  alignas(64) static char stacks[2][64 * 1024];
  double ns[2];
  for (int nested = 0; nested < 2; ++nested) {
    char* top = stacks[nested] + sizeof stacks[nested];
    bctx::transfer_t t = bctx::jump_fcontext(
        bctx::make_fcontext(top, sizeof stacks[nested], nested ? &bounce_nested : &bounce_direct), nullptr);
    const double c0 = bench::cpu_ns();
    for (long i = 0; i < n; ++i) t = nested ? jump_nested(t.fctx) : bctx::jump_fcontext(t.fctx, nullptr);
    ns[nested] = (bench::cpu_ns() - c0) / (2.0 * static_cast<double>(n));
  }
  std::printf("jump_direct_cpu_ns %.2f\n", ns[0]);
  std::printf("jump_nested_cpu_ns %.2f\n", ns[1]);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) return usage();
  const long n = bench::arg_long(argc, argv, 2, 0);
  if (n <= 0) return usage();
  if (std::strcmp(argv[1], "switch") == 0) return bench_switch(n);
  if (std::strcmp(argv[1], "spawn") == 0) {
    const long alive = bench::arg_long(argc, argv, 3, 0);
    const char* stack = argc > 4 ? argv[4] : "default";
    if (std::strcmp(stack, "pooled") == 0)
      return bench_spawn(n, alive, bf::pooled_fixedsize_stack(), "pooled_fixedsize_stack");
    if (std::strcmp(stack, "default") == 0)
      return bench_spawn(n, alive, bf::default_stack(), "default(fixedsize_stack)");
    return usage();
  }
  if (std::strcmp(argv[1], "rss") == 0) return bench_rss(n);
  if (std::strcmp(argv[1], "jump") == 0) return bench_jump(n);
  return usage();
}
