// The hub's side of a C library's descriptors and timers (c-ares, curl, the
// pidfds of children). Private to libgreen.
//
// Such a library does its own reads and writes; the hub only tells it when a
// descriptor is ready and when its timer is due. What every one of them needs,
// and what used to be written once per library:
//  - the descriptor is registered with the hub's epoll while watched and
//    released (never closed by Asio) when the watch closes, so the library
//    may close it, and a descriptor number it reuses is never touched;
//  - Asio's reactor is edge-triggered: after each call a direction that is
//    still wanted is waited on again. Nothing is lost in between, since Asio
//    arms every wait with EPOLL_CTL_MOD and the kernel re-checks the state on
//    MOD (a wait armed on a ready descriptor completes at once);
//  - a direction no longer wanted ends at its next edge without a call, so a
//    descriptor the library stopped caring about (an idle keep-alive
//    connection the peer closed) costs one wake-up, never a loop;
//  - completions that arrive after close() do nothing: the pending waits
//    share the watch's state, not the owner's.
#pragma once

#include <green/detail/core.hpp>

#include <functional>
#include <memory>

namespace green::detail {

class FdWatch {
 public:
  /// Called on the hub (inside an I/O poll: it must not switch) when `fd` is
  /// readable (`readable`) or writable and that direction is wanted.
  /// `closed` turns true if the call closed the watch (the library dropped
  /// the descriptor): a handler that loops must check it.
  using Handler = std::function<void(bool readable, const bool& closed)>;

  FdWatch() noexcept = default;
  /// Registers `fd` with the calling thread's hub. With `own_fd` the watch
  /// closes it when it closes (a dup() of a descriptor the library owns, a
  /// pidfd). While a wait is pending it holds `keep_alive` (if that is still
  /// alive), so an owner only the pending waits refer to lives until the
  /// watch closes or the hub ends. Throws std::system_error if `fd` cannot be
  /// registered (then an owned `fd` is closed).
  FdWatch(int fd, Handler on_ready, bool own_fd = false, std::weak_ptr<void> keep_alive = {});
  FdWatch(FdWatch&&) noexcept = default;
  FdWatch& operator=(FdWatch&& o) noexcept;
  /// close()s. Never throws, never switches.
  ~FdWatch();

  /// Sets the directions to call the handler for, and waits for those not
  /// waited on yet. Throws std::bad_alloc.
  void want(bool read, bool write);
  /// Stops watching: pending waits are cancelled and do nothing; the
  /// descriptor is released (closed only if owned). Idempotent.
  void close() noexcept;

  explicit operator bool() const noexcept { return st_ != nullptr; }
  /// The descriptor watched; -1 once closed.
  int fd() const noexcept;

  struct State;

 private:
  std::shared_ptr<State> st_;
};

/// A hub timer that calls `(owner->*Fn)()` when due (on the hub: it must not
/// switch). Cancelled when destroyed.
template <class Owner, void (Owner::*Fn)()>
class HubTimer : TimerNode {
 public:
  explicit HubTimer(Owner* owner) noexcept : TimerNode(&HubTimer::fire), owner_(owner) {}
  ~HubTimer() { timer_cancel(*this); }
  HubTimer(const HubTimer&) = delete;
  HubTimer& operator=(const HubTimer&) = delete;

  /// (Re-)arms for `at`.
  void arm(Clock::time_point at) { timer_arm(*this, at); }
  void cancel() noexcept { timer_cancel(*this); }
  bool armed() const noexcept { return TimerNode::armed(); }
  Clock::time_point deadline() const noexcept { return TimerNode::deadline; }

 private:
  static void fire(TimerNode* t) {
    auto* self = static_cast<HubTimer*>(t);
    (self->owner_->*Fn)();
  }
  Owner* owner_;
};

/// `(owner->*Fn)()` run soon as a hub callback, in FIFO order with the ready
/// greenlets: for a library that asks to be called back "now" from inside
/// one of its own calls. Queued at most once at a time.
template <class Owner, void (Owner::*Fn)()>
class HubCall : Callback {
 public:
  explicit HubCall(Owner* owner) noexcept : Callback(&HubCall::run), owner_(owner) {}
  HubCall(const HubCall&) = delete;
  HubCall& operator=(const HubCall&) = delete;

  void post() {
    if (queued_) return;
    detail::post(*this);
    queued_ = true;
  }

 private:
  static void run(Callback* cb) {
    auto* self = static_cast<HubCall*>(cb);
    self->queued_ = false;
    (self->owner_->*Fn)();
  }
  Owner* owner_;
  bool queued_ = false;
};

}  // namespace green::detail
