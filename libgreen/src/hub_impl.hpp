// The hub: one per thread inside green::run. Private to libgreen.
#pragma once

#include "context_switch.hpp"
#include "sanitizers.hpp"
#include "stack.hpp"

#include <green/detail/greenlet_base.hpp>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include <cstddef>
#include <cstdint>
#include <exception>
#include <unordered_map>
#include <vector>

namespace green::detail {

/// FIFO ring of runnables; grows by doubling, never shrinks.
class ReadyQueue {
 public:
  ReadyQueue() : buf_(1024), mask_(1023) {}
  bool empty() const noexcept { return head_ == tail_; }
  std::size_t size() const noexcept { return tail_ - head_; }
  void push(Runnable* r) {
    if (size() > mask_) [[unlikely]]
      grow();
    buf_[tail_++ & mask_] = r;
  }
  /// Room for one more push() that then cannot throw.
  void reserve_one() {
    if (size() > mask_) grow();
  }
  Runnable* front() const noexcept { return buf_[head_ & mask_]; }
  /// The entry i places behind the front (i < size()).
  Runnable* at(std::size_t i) const noexcept { return buf_[(head_ + i) & mask_]; }
  Runnable* pop() noexcept { return buf_[head_++ & mask_]; }

 private:
  void grow();
  std::vector<Runnable*> buf_;
  std::size_t mask_;
  std::size_t head_ = 0;
  std::size_t tail_ = 0;
};

/// Min-heap of timers by (deadline, arming order); nodes know their index so
/// cancelling is O(log n) and needs no allocation.
class TimerHeap {
 public:
  bool empty() const noexcept { return heap_.empty(); }
  std::size_t size() const noexcept { return heap_.size(); }
  TimerNode* top() const noexcept { return heap_.front(); }
  void push(TimerNode* t);
  void remove(TimerNode* t) noexcept;

 private:
  static bool before(const TimerNode* a, const TimerNode* b) noexcept {
    return a->deadline < b->deadline || (a->deadline == b->deadline && a->seq < b->seq);
  }
  void place(std::size_t i, TimerNode* t) noexcept {
    heap_[i] = t;
    t->index = i;
  }
  void sift_up(std::size_t i) noexcept;
  void sift_down(std::size_t i) noexcept;
  std::vector<TimerNode*> heap_;
};

/// Marks a waiter granted and wakes it (or runs its on_grant).
void grant(WaitNode* n) noexcept;

/// Hands a failure nobody observed to the failure handler (greenlet.cpp).
void report_unobserved(std::uint64_t id, const std::exception_ptr& e) noexcept;

class Hub;
/// The calling thread's hub, null outside green::run. constinit: no TLS
/// wrapper call; initial-exec: no __tls_get_addr call in libgreen.so.
extern constinit thread_local Hub* t_hub [[gnu::tls_model("initial-exec")]];

/// The fewest greenlets switched to in a row before the hub's own context
/// runs to poll I/O and timers (so a busy greenlet cannot starve I/O). After
/// a poll the hub first runs everything that was ready then, one pass over
/// the queue, however long: polling mid-pass (every 64 switches, as before)
/// cost serve echo at 1,000 connections six times Asio's epoll_waits per
/// round trip, each finding only part of the next pass's work.
inline constexpr std::size_t kPollInterval = 64;

/// Cache lines of a parked greenlet's stack that prefetch_next() loads: 1
/// KiB, the frames an I/O wait returns through up to the handler's loop
/// (serve echo: switch, park, wait_readable, read_shared and the handler,
/// ~1 KiB; 8 lines did no better than none in one noisy series at 1,000
/// connections).
inline constexpr int kPrefetchLines = 16;

class Hub {
 public:
  Hub();
  ~Hub();
  Hub(const Hub&) = delete;
  Hub& operator=(const Hub&) = delete;

  static Hub* get() noexcept { return t_hub; }
  static Hub& get_or_throw() {
    if (!t_hub) [[unlikely]]
      throw_no_hub();
    return *t_hub;
  }
  [[noreturn]] static void throw_no_hub();
  /// Raises `g`'s pending kill or Timeout (it has one).
  [[noreturn, gnu::cold]] static void raise_pending(GreenletBase* g);

  void schedule(Runnable* r) { ready_.push(r); }
  /// The running greenlet gives up the CPU (it is parked, queued or dead).
  /// The common case, the next ready entry is a greenlet that ran before,
  /// makes no call; anything else goes through pick_next(). Always inline:
  /// each caller gets its own switch site (predicted on its own), and a
  /// dying greenlet's last switch must not be made from inside a call (see
  /// Hub::entry).
  [[gnu::always_inline]] void switch_out() {
    Context* from = current_;
    Context* to;
    Runnable* r;
    if (budget_ > 0 && !ready_.empty() && (r = ready_.front())->kind == Runnable::Kind::greenlet &&
        static_cast<GreenletBase*>(r)->state_ == GreenletBase::State::ready) [[likely]] {
      ready_.pop();
      --budget_;
      auto* g = static_cast<GreenletBase*>(r);
      g->state_ = GreenletBase::State::running;
      to = &g->ctx_;
    } else {
      to = pick_next();
    }
    if (to != from) jump(from, to);
  }
  /// Starts loading what the greenlet at the front of the ready queue reads
  /// first when it resumes: the frames it returns through (up from its saved
  /// stack pointer) and the canary its next switch-out checks; and the
  /// control block of the one behind it, which the next call reads. For a
  /// greenlet just woken by I/O (TcpStream's wait), which makes a system call
  /// or two before it switches again: time enough for the loads. With a
  /// thousand connections every greenlet's stack is cold by its turn: the
  /// first load from the resumed stack, the canary load and the control
  /// block were most of serve echo's user-space time (perf: the server's
  /// user-space CPU per round trip 234 -> 129 ns). Not called from park()
  /// itself: a resume there is often followed at once by the next switch
  /// (spawn+join lost 5% to it). Out of line on purpose: GCC drops an
  /// inlined call whose only effect is a prefetch.
  void prefetch_next() const noexcept;
  void start(GreenletBase* g, std::size_t stack_size);
  void start_later(GreenletBase* g, Clock::time_point when);
  void run_main(GreenletBase* main);
  void finish_unstarted(GreenletBase* g) noexcept;

  void arm(TimerNode& t, Clock::time_point deadline);
  /// Gives back the stack pages below where the parked `g` stopped:
  /// trim_stack_at_next_park() for a greenlet that parked already (one that
  /// is ready or running is left alone). Never switches.
  void trim_parked_stack(GreenletBase* g) noexcept {
    if (g->state_ == GreenletBase::State::parked) release_below(g->stack_, g->ctx_.sp);
  }
  void cancel(TimerNode& t) noexcept {
    if (t.armed()) timers_.remove(&t);
  }

  Context* current_;
  int callback_depth_ = 0;
  std::size_t default_stack_size_;
  std::size_t live_ = 0;
  std::size_t abandoned_ = 0;
  // Parked next: give its unused stack pages back (trim_stack_at_next_park).
  GreenletBase* trim_at_park_ = nullptr;
  std::size_t io_refs_ = 0;     // pending I/O the hub must wait for (see poll())
  std::size_t io_passive_ = 0;  // watchers (signal handlers) polled but not waited for
  ReadyQueue ready_;
  WaitList idle_;  // greenlets in green::idle()
  TimerHeap timers_;
  std::unordered_map<GreenletBase*, TimerNode*> delayed_;  // start_later() greenlets and their start timers
  StackPool stacks_;
  // Run by one thread only (the hub's): Asio then keeps completions posted
  // from that thread in a private queue. Other threads may still post.
  boost::asio::io_context io_{1};

 private:
  struct EhGlobals {  // libstdc++'s __cxa_eh_globals
    void* caught;
    unsigned int uncaught;
  };

  void adopt(GreenletBase* g, std::size_t stack_size);
  Context* pick_next();
  [[gnu::always_inline]] void jump(Context* from, Context* to) {
    GreenletBase* g = from->greenlet;
    if (g) check_stack(g->stack_, __builtin_frame_address(0), g->id_);
    from->eh_caught = eh_->caught;
    from->eh_uncaught = eh_->uncaught;
    current_ = to;
    asan_start_switch(g && g->state_ == GreenletBase::State::dead ? nullptr : &from->asan_fake, to->asan_bottom,
                      to->asan_size);
    after_switch(switch_context(&from->sp, to->sp, from));
  }
  [[gnu::always_inline]] void after_switch(Context* prev) noexcept {
    Context* self = current_;
    asan_finish_switch(self->asan_fake, &prev->asan_bottom, &prev->asan_size);
    eh_->caught = self->eh_caught;
    eh_->uncaught = self->eh_uncaught;
    if (prev->greenlet && prev->greenlet->state_ == GreenletBase::State::dead) [[unlikely]]
      reclaim(prev->greenlet);
    else if (trim_at_park_ && prev->greenlet == trim_at_park_) [[unlikely]]
      trim_parked(prev);
  }
  void trim_parked(Context* prev) noexcept;
  bool prepare(GreenletBase* g) noexcept;
  void reclaim(GreenletBase* g) noexcept;
  void link_live(GreenletBase* g) noexcept;
  void unlink_live(GreenletBase* g) noexcept;
  bool poll(bool block);
  void fire_timers();
  void drive(GreenletBase* main);
  void teardown();
  static void entry(Context* prev) noexcept;

  AltSignalStack alt_stack_;
  Context hub_ctx_;
  EhGlobals* eh_;
  GreenletBase* live_head_ = nullptr;
  GreenletBase* live_tail_ = nullptr;
  std::uint64_t timer_seq_ = 0;
  std::size_t budget_ = 0;  // switches left before the hub polls again (see kPollInterval)
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work_;
  boost::asio::steady_timer os_timer_;
  Clock::time_point os_timer_deadline_ = Clock::time_point::max();
};

}  // namespace green::detail
