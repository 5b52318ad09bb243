// Asio on the hub: the io_context every I/O object of a hub uses, and the one
// way a greenlet waits for an asynchronous operation (await_op).
//
// Every I/O layer (green::net, green::dns, green::http, green::proc, the
// thread pool) is built on await_op, so all of them share the same rules:
//  - the waiting greenlet parks; other greenlets run;
//  - a kill or Timeout while waiting cancels the operation, waits for its
//    (aborted) completion so nothing can touch the greenlet's stack later,
//    and then raises in the greenlet;
//  - while an operation is outstanding the hub knows to wait for I/O (it
//    blocks in epoll instead of declaring the program stuck).
#pragma once

#include <green/detail/core.hpp>

#include <boost/asio/io_context.hpp>
#include <boost/system/error_code.hpp>

#include <csignal>
#include <functional>
#include <initializer_list>
#include <memory>
#include <optional>
#include <span>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

namespace green {

/// The calling thread's hub's io_context. Create Asio I/O objects on it.
/// Throws std::logic_error outside green::run.
boost::asio::io_context& io_context();

namespace detail {

/// While alive, the hub expects I/O completions and will block for them.
class IoRef {
 public:
  IoRef();
  ~IoRef();
  IoRef(const IoRef&) = delete;
  IoRef& operator=(const IoRef&) = delete;
};

/// While alive, the hub polls for I/O but does not wait for it on this
/// account: a watcher (a signal handler, a child's exit watch) that must not
/// keep a program from ending. Released at the latest with its hub.
class PassiveRef {
 public:
  PassiveRef();
  ~PassiveRef();
  PassiveRef(const PassiveRef&) = delete;
  PassiveRef& operator=(const PassiveRef&) = delete;
};

/// Parks without looking at pending interrupts (used while an operation that
/// references this greenlet's stack is being cancelled). Never throws.
void park_uninterruptible() noexcept;

/// Whether the current greenlet has a kill or Timeout waiting to be raised.
bool interrupt_pending();

}  // namespace detail

/// Starts an Asio asynchronous operation and parks the current greenlet until
/// it completes; returns the completion's arguments as a tuple (for
/// `void(error_code, std::size_t)`: `std::tuple<error_code, std::size_t>`).
///
/// `initiate(handler)` must start exactly one operation that eventually calls
/// `handler(args...)` on this hub's io_context. `cancel()` must make that
/// operation complete soon (socket.cancel(), timer.cancel(), ...); it is
/// called when a kill or Timeout arrives, after which await_op waits for the
/// completion and raises the interrupt. Switch point.
template <class... Args, class Initiate, class Cancel>
std::tuple<Args...> await_op(Initiate&& initiate, Cancel&& cancel) {
  struct Slot {
    detail::GreenletBase* g;
    std::optional<std::tuple<Args...>> result;
  };
  detail::check_interrupt();
  Slot slot{detail::current(), std::nullopt};
  detail::IoRef io;
  // The handler only touches `slot`, which outlives it: await_op never
  // returns before the handler ran.
  std::forward<Initiate>(initiate)([s = &slot](Args... args) {
    s->result.emplace(std::move(args)...);
    detail::wake(s->g);
  });
  while (!slot.result) {
    detail::park();
    if (!slot.result && detail::interrupt_pending()) {
      std::forward<Cancel>(cancel)();
      while (!slot.result) detail::park_uninterruptible();
      detail::check_interrupt();
    }
  }
  return std::move(*slot.result);
}

/// A 64 KiB buffer per thread, shared by its greenlets, for reads whose
/// bytes are used or copied out before the reader's next switch point (the
/// next greenlet's read overwrites them): a connection or pipe that waits for
/// input then holds no buffer of its own. Allocated on first use (a
/// thread_local array would be 64 KiB of TLS set up for every thread the
/// process starts). Throws std::bad_alloc. Never switches.
std::span<char> scratch_buffer();

/// Waits until descriptor `fd` (any pollable descriptor the hub does not
/// already watch: a pipe, a socket, a terminal) is readable, or `timeout`
/// passes; returns false on timeout (gevent's wait_read, which raises
/// instead). Throws std::system_error if the descriptor cannot be watched.
/// `fd` stays open and owned by the caller. Switch point.
bool wait_read(int fd, Duration timeout = forever);
/// wait_read() for writability (gevent's wait_write).
bool wait_write(int fd, Duration timeout = forever);

/// What select() found ready, each in the order given.
struct SelectResult {
  std::vector<int> readable;
  std::vector<int> writable;
  std::vector<int> exceptional;  // an exceptional condition: out-of-band data (EPOLLPRI)
};
/// Waits until at least one of `read_fds` is readable, one of `write_fds`
/// writable or one of `except_fds` has an exceptional condition pending
/// (TCP urgent data, as select(2)'s exceptfds), or `timeout` passes
/// (select.select(rlist, wlist, xlist, timeout); gevent ignores xlist);
/// returns every descriptor ready at that point (all lists empty on
/// timeout). Same descriptor rules as wait_read(). Switch point.
SelectResult select(const std::vector<int>& read_fds, const std::vector<int>& write_fds,
                    const std::vector<int>& except_fds, Duration timeout = forever);
/// select() without exceptional conditions.
SelectResult select(const std::vector<int>& read_fds, const std::vector<int>& write_fds, Duration timeout = forever);

/// Forks the process (gevent.fork) and returns what fork(2) does: 0 in the
/// child, the child's pid in the parent. The child's hub continues with a new
/// event loop (Asio's notify_fork: a new epoll instance with every watched
/// descriptor registered again, new timer and wake-up descriptors; signal
/// handlers kept) and, as under gevent, with every greenlet: memory is
/// copied, so they all go on running in both processes. As gevent's reinit
/// does for its resolver and thread pool, the child also gets its own
/// c-ares channels (every dns::Resolver of the hub, so net::resolve too),
/// its own curl multi handle (green::http: no connection of the parent's is
/// reused) and new workers for every ThreadPool; what the child inherited
/// there was in flight goes on in the parent only and fails in the child
/// (Status::error, an http::Error, std::runtime_error from the pool).
/// Other descriptors stay shared with the parent (sockets, pipes, servers),
/// as with fork(2). Other threads' hubs do not exist in the child. Throws
/// std::system_error if fork(2) fails. Never switches.
int fork();

/// Runs `fn(signal_number)` in a new greenlet each time one of `signals` is
/// delivered to the process, until the handler is destroyed or cancel()ed
/// (gevent.signal_handler). A pending handler does not keep the hub waiting:
/// a program whose only remaining work is a signal handler still ends.
class SignalHandler {
 public:
  SignalHandler(std::initializer_list<int> signals, std::function<void(int)> fn);
  ~SignalHandler();
  SignalHandler(const SignalHandler&) = delete;
  SignalHandler& operator=(const SignalHandler&) = delete;

  /// Stops handling (the signals revert to their previous disposition).
  void cancel() noexcept;

  struct State;

 private:
  std::shared_ptr<State> state_;
};

}  // namespace green
