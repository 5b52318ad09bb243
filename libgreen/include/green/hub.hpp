// The hub: green::run, sleep, and the hub's statistics.
#pragma once

#include <green/detail/core.hpp>
#include <green/greenlet.hpp>

#include <cstddef>
#include <stdexcept>
#include <type_traits>
#include <utility>

namespace green {

/// Raised in the main greenlet when it waits for something that can never
/// happen: no greenlet is ready, no timer is armed and no I/O is pending
/// (gevent's LoopExit, "this operation would block forever").
class LoopExit : public std::logic_error {
 public:
  LoopExit() : std::logic_error("green: the main greenlet would block forever (nothing left to wake it)") {}
};

/// Counters of the calling thread's hub, for tests and diagnostics.
struct HubStats {
  std::size_t live_greenlets = 0;    // spawned and not finished (main included)
  std::size_t armed_timers = 0;      // sleeps, Timeouts and timed waits
  std::size_t ready = 0;             // queued greenlets and callbacks
  std::size_t stacks_allocated = 0;  // stacks ever carved (pooled afterwards)
  std::size_t stacks_free = 0;       // in the pool now
  std::size_t stacks_returned = 0;   // free stacks whose pages went back to the kernel, ever
  std::size_t abandoned = 0;         // greenlets that ignored GreenletExit at teardown
  std::size_t pending_io = 0;        // I/O the hub waits for: operations, DNS queries, transfers, child waits
  std::size_t watchers = 0;          // I/O it polls without waiting for it: signal handlers, child-exit watches
};
HubStats hub_stats();

/// Default stack size for new greenlets on this thread's hub (bytes).
void set_default_stack_size(std::size_t bytes);

/// Asks the hub to give the calling greenlet's stack pages below the depth
/// at which it next parks back to the kernel (one madvise(2) then), for a
/// greenlet that ran deep once and now waits long on a shallow stack: an
/// idle keep-alive connection holds only the pages it parks on. The pages
/// fault back in, zeroed, when it runs deeper again. One request per hub at
/// a time: the greenlet that asked last is the one trimmed (call it right
/// before the wait). Throws std::logic_error outside a greenlet. Never
/// switches.
void trim_stack_at_next_park();

/// True inside green::run on this thread.
bool in_hub() noexcept;

/// Sleeps at least `d`; `sleep(0)` (or any d <= 0) yields to every greenlet
/// already ready and resumes after them. Switch point.
void sleep(Duration d);

/// Waits until the hub has nothing else to do: no other greenlet or callback
/// is ready and the I/O and timers that are due have run (gevent.idle).
/// Switch point.
void idle();

namespace detail {
/// Runs `main` as the first greenlet and drives the hub until it finishes;
/// then kills what is still alive, waits for it, and returns.
void run_main(GreenletBase* main);
}  // namespace detail

/// Runs `f(args...)` as the main greenlet of a new hub on this thread and
/// returns its result (or rethrows its exception) once it finishes. Greenlets
/// still alive at that point are killed and awaited. Not reentrant.
template <class F, class... A>
auto run(F&& f, A&&... args) -> detail::spawn_result_t<F, A...> {
  using R = detail::spawn_result_t<F, A...>;
  auto* g =
      new detail::GreenletImpl<R, std::decay_t<F>, std::decay_t<A>...>(std::forward<F>(f), std::forward<A>(args)...);
  Greenlet<R> handle(g);
  detail::run_main(g);
  return handle.get();
}

}  // namespace green
