// The machinery under libgreen's public API: greenlet control blocks, wait
// nodes, timers and the park/wake calls every primitive is built from.
//
// Nothing here is part of the stable API; the public headers use it so that
// templates (Greenlet<T>, Queue<T>, Pool::imap) can live in headers.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <exception>

namespace green {

using Clock = std::chrono::steady_clock;
using Duration = Clock::duration;

/// A timeout that never expires.
inline constexpr Duration forever = Duration::max();

/// Raised inside a greenlet by kill(). Not derived from std::exception, so
/// `catch (const std::exception&)` lets it through. A greenlet that ends with
/// it counts as successful, like gevent's GreenletExit.
struct GreenletExit {};

namespace detail {

class GreenletBase;

/// Something the hub can put on its FIFO ready queue: a greenlet to resume, or
/// a callback to run on the hub (callbacks never switch).
struct Runnable {
  enum class Kind : std::uint8_t { greenlet, callback };
  explicit Runnable(Kind k) noexcept : kind(k) {}
  Kind kind;
};

struct Callback : Runnable {
  explicit Callback(void (*f)(Callback*)) noexcept : Runnable(Kind::callback), fn(f) {}
  void (*fn)(Callback*);
};

/// One greenlet waiting on one primitive. Lives on the waiter's stack.
struct WaitNode {
  explicit WaitNode(GreenletBase* owner) noexcept : g(owner) {}
  GreenletBase* g;
  WaitNode* prev = nullptr;
  WaitNode* next = nullptr;
  bool linked = false;
  bool granted = false;  // the primitive handed this waiter what it waited for
  void* slot = nullptr;  // primitive-specific payload (a Queue's item, ...)
  // Called instead of waking `g` when granted (iwait_objects: one greenlet
  // watching many primitives, and woken only while it waits in next()).
  void (*on_grant)(WaitNode&) = nullptr;
};

/// Intrusive FIFO of waiters: O(1) push, pop and erase, no allocation.
class WaitList {
 public:
  WaitList() = default;
  WaitList(const WaitList&) = delete;
  WaitList& operator=(const WaitList&) = delete;
  /// A primitive destroyed while greenlets still wait on it detaches them:
  /// they stay parked until killed, and their own cleanup finds nothing to
  /// unlink instead of touching freed memory.
  ~WaitList() {
    while (head_) {
      WaitNode* n = head_;
      head_ = n->next;
      n->prev = n->next = nullptr;
      n->linked = false;
    }
  }

  bool empty() const noexcept { return head_ == nullptr; }
  std::size_t size() const noexcept { return size_; }
  WaitNode* front() const noexcept { return head_; }

  void push_back(WaitNode& n) noexcept {
    n.prev = tail_;
    n.next = nullptr;
    if (tail_)
      tail_->next = &n;
    else
      head_ = &n;
    tail_ = &n;
    n.linked = true;
    ++size_;
  }
  WaitNode* pop_front() noexcept {
    WaitNode* n = head_;
    if (n) erase(*n);
    return n;
  }
  void erase(WaitNode& n) noexcept {
    if (!n.linked) return;
    if (n.prev)
      n.prev->next = n.next;
    else
      head_ = n.next;
    if (n.next)
      n.next->prev = n.prev;
    else
      tail_ = n.prev;
    n.prev = n.next = nullptr;
    n.linked = false;
    --size_;
  }

 private:
  WaitNode* head_ = nullptr;
  WaitNode* tail_ = nullptr;
  std::size_t size_ = 0;
};

/// How wait_objects() reaches the waiter list of an Event or AsyncResult
/// (each names it a friend).
struct WaitAccess {
  template <class W>
  static auto list(W& w) noexcept -> decltype((w.waiters_)) {
    return w.waiters_;
  }
};

/// A hub timer. Lives wherever its owner lives (usually a waiter's stack);
/// the hub keeps an indexed heap of pointers, so cancelling is O(log n).
struct TimerNode {
  explicit TimerNode(void (*f)(TimerNode*)) noexcept : fire(f) {}
  Clock::time_point deadline{};
  std::uint64_t seq = 0;
  std::size_t index = static_cast<std::size_t>(-1);  // position in the heap
  void (*fire)(TimerNode*);
  bool armed() const noexcept { return index != static_cast<std::size_t>(-1); }
};

/// Called when a greenlet finishes (on the hub, after the greenlet is dead).
/// Must not switch.
struct Link {
  explicit Link(void (*f)(Link*, GreenletBase&)) noexcept : fn(f) {}
  void (*fn)(Link*, GreenletBase&);
  Link* prev = nullptr;
  Link* next = nullptr;
  bool linked = false;
};

// ---- the calls every primitive is built from --------------------------------

/// The running greenlet. Throws std::logic_error outside green::run().
GreenletBase* current();

/// Switches away until someone wake()s the current greenlet. Never throws;
/// the caller checks its WaitNode and then calls check_interrupt().
void park();

/// Parks like park(), but gives up at `deadline`. Returns false if the
/// deadline passed before a wake.
bool park_until(Clock::time_point deadline);

/// Puts a parked greenlet on the ready queue. No-op for one already queued,
/// running or dead.
void wake(GreenletBase* g) noexcept;

/// Throws the current greenlet's pending kill or timeout, if any.
void check_interrupt();

/// Waits on `list` with `node` until granted or `deadline`. Returns true if
/// granted, false on deadline. A kill or Timeout arriving while waiting
/// erases the node and propagates (a grant wins over an interrupt: the
/// interrupt then fires at the next switch point).
bool wait_on(WaitList& list, WaitNode& node, Clock::time_point deadline);

/// Grants the first waiter of `list` (if any) and wakes it.
WaitNode* grant_front(WaitList& list) noexcept;

void timer_arm(TimerNode& t, Clock::time_point deadline);
void timer_cancel(TimerNode& t) noexcept;

/// Queue a callback to run on the hub in FIFO order with the greenlets.
void post(Callback& cb);

/// deadline for a relative timeout, saturating at forever.
Clock::time_point deadline_after(Duration d) noexcept;

inline constexpr Clock::time_point no_deadline = Clock::time_point::max();

}  // namespace detail
}  // namespace green
