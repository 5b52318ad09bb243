// The untyped greenlet control block. Public headers derive typed results
// from it; the hub (libgreen/src/hub.cpp) owns scheduling and stacks.
#pragma once

#include <green/detail/core.hpp>

#include <cstddef>
#include <cstdint>
#include <exception>

namespace green {
class Timeout;
void sleep(Duration d);
}  // namespace green

namespace green::detail {

/// One execution context the hub can switch to: a greenlet, or the hub's own
/// (the thread's original stack).
struct Context {
  void* sp = nullptr;                // the stack pointer while suspended
  GreenletBase* greenlet = nullptr;  // null for the hub
  // libstdc++ keeps the caught-exception stack per thread; every context keeps
  // its own copy so switching inside a catch block or during unwinding is safe
  // (Boost 1.81's fibers do not do this).
  void* eh_caught = nullptr;
  unsigned eh_uncaught = 0;
  // AddressSanitizer fiber bookkeeping (unused in other builds).
  void* asan_fake = nullptr;
  const void* asan_bottom = nullptr;
  std::size_t asan_size = 0;
};

/// A greenlet's stack: [lo, hi). `canary` is the guard word just below `lo`
/// (in the header of the stack beneath), or null when a guard page is there.
struct StackRef {
  char* lo = nullptr;
  char* hi = nullptr;
  std::uint64_t* canary = nullptr;
};

/// Greenlet-local values (green::Local<T>), a short list per greenlet.
struct LocalSlot {
  std::uint64_t key;
  void* value;
  void (*destroy)(void*);
  LocalSlot* next;
};

class GreenletBase : public Runnable {
 public:
  // unstarted: made by make_greenlet() and not start()ed yet (unknown to the hub).
  enum class State : std::uint8_t { created, ready, running, parked, dead, unstarted };

  GreenletBase() noexcept : Runnable(Kind::greenlet), notifier_(this) {}
  GreenletBase(const GreenletBase&) = delete;
  GreenletBase& operator=(const GreenletBase&) = delete;

  void add_ref() noexcept { ++refs_; }
  void release() noexcept {
    if (--refs_ == 0) delete this;
  }

  State state() const noexcept { return state_; }
  bool dead() const noexcept { return state_ == State::dead; }
  /// Ended by GreenletExit (a kill), which counts as success.
  bool exited() const noexcept { return exited_; }
  /// Looking counts as observing: a failure nobody looked at is reported
  /// when the greenlet is destroyed (green::set_failure_handler).
  const std::exception_ptr& exception() const noexcept {
    observed_ = true;
    return exception_;
  }
  std::uint64_t id() const noexcept { return id_; }

  /// Runs the user's function and keeps its result; called on the greenlet's
  /// own stack. Exceptions propagate to the caller (the hub's trampoline).
  virtual void run_body() = 0;
  /// Destroys the function and arguments once they can no longer run.
  virtual void drop_callable() noexcept = 0;

  /// Ended with an exception; unlike exception(), asking is not observing.
  bool failed() const noexcept { return exception_ != nullptr; }
  /// Greenlets in join(), woken when it finishes.
  WaitList& joiners() noexcept { return joiners_; }

  // Links run once the greenlet is dead (see notify), in the order added.
  Link* first_link() const noexcept { return links_head_; }
  void add_link(Link& l) noexcept {
    l.prev = links_tail_;
    l.next = nullptr;
    if (links_tail_)
      links_tail_->next = &l;
    else
      links_head_ = &l;
    links_tail_ = &l;
    l.linked = true;
  }
  void remove_link(Link& l) noexcept {
    if (!l.linked) return;
    if (l.prev)
      l.prev->next = l.next;
    else
      links_head_ = l.next;
    if (l.next)
      l.next->prev = l.prev;
    else
      links_tail_ = l.prev;
    l.prev = l.next = nullptr;
    l.linked = false;
  }

 protected:
  virtual ~GreenletBase();

 private:
  // The scheduler's state: written only by the hub (hub.cpp) and the calls
  // every primitive is built from (core.hpp, io.hpp), Timeout's withdrawal
  // of its own expiry, and greenlet-local storage.
  friend class Hub;
  friend class ::green::Timeout;
  friend void ::green::sleep(Duration d);
  friend void start(GreenletBase* g, std::size_t stack_size);
  friend void make_unstarted(GreenletBase* g, std::size_t stack_size) noexcept;
  friend void start_later(GreenletBase* g, Duration delay);
  friend void park();
  friend void wake(GreenletBase* g) noexcept;
  friend void check_interrupt();
  friend void interrupt(GreenletBase* g, std::exception_ptr e, const void* source) noexcept;
  friend void park_uninterruptible() noexcept;
  friend bool interrupt_pending();
  friend void* local_find(std::uint64_t key);
  friend void local_insert(std::uint64_t key, void* value, void (*destroy)(void*));
  friend void local_erase(std::uint64_t key);

  static void notify(Callback* cb);

  // First, so that it shares the Runnable's padding and its cache line with
  // `kind` and ctx_: the switch to a greenlet reads all three (at the end of
  // the block it was one more cold line per resume with a thousand
  // greenlets).
  State state_ = State::created;
  Context ctx_;
  StackRef stack_;
  std::size_t stack_size_ = 0;
  std::exception_ptr pending_;            // kill or timeout to raise at the next switch point
  const void* pending_source_ = nullptr;  // the Timeout that set pending_, if any
  std::exception_ptr exception_;
  WaitList joiners_;
  Link* links_head_ = nullptr;
  Link* links_tail_ = nullptr;
  LocalSlot* locals_ = nullptr;
  // Runs the links once the greenlet is dead, as a hub callback (deferred,
  // like gevent's, so a Pool frees a slot only after the dying greenlet's
  // peers already queued have run).
  struct Notifier : Callback {
    explicit Notifier(GreenletBase* o) noexcept : Callback(&GreenletBase::notify), owner(o) {}
    GreenletBase* owner;
  } notifier_;
  GreenletBase* hub_prev_ = nullptr;  // the hub's list of live greenlets
  GreenletBase* hub_next_ = nullptr;
  std::uint64_t id_ = 0;
  std::uint32_t refs_ = 0;
  bool exited_ = false;
  mutable bool observed_ = false;  // someone looked at exception_ (see exception())
};

/// Registers a freshly built control block with the current hub and queues it
/// to start. `stack_size` 0 means the one given to make_unstarted(), else the
/// hub's default.
void start(GreenletBase* g, std::size_t stack_size);
/// Gives a freshly built control block an id and leaves it unstarted (needs
/// no hub).
void make_unstarted(GreenletBase* g, std::size_t stack_size) noexcept;
/// start() once `delay` has passed.
void start_later(GreenletBase* g, Duration delay);

/// Raises `e` inside `g` at its next switch point (or cancels its start).
/// `source` identifies a Timeout so that it can withdraw the exception.
void interrupt(GreenletBase* g, std::exception_ptr e, const void* source) noexcept;

}  // namespace green::detail
