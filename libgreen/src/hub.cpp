// The scheduler. Greenlets switch directly to the next ready greenlet
// (symmetric transfer, context_switch.hpp), so a sleep(0) hand-off is one
// stack switch; the hub's own context runs only to poll I/O and timers,
// which it does when nothing is ready or after one pass over what was ready
// at the last poll (at least kPollInterval hand-offs), so a busy greenlet
// cannot starve I/O.
#include "hub_impl.hpp"

#include "sanitizers.hpp"

#include <green/hub.hpp>

#include <cxxabi.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <stdexcept>

namespace green::detail {

namespace {

constexpr std::size_t kDefaultStackSize = kAsan ? 256 * 1024 : 64 * 1024;

std::uint64_t g_next_id = 0;  // shared by every thread's hub

std::uint64_t next_id() noexcept { return __atomic_add_fetch(&g_next_id, 1, __ATOMIC_RELAXED); }

[[noreturn]] void fatal(const char* what) noexcept {
  std::fprintf(stderr, "green: %s\n", what);
  std::abort();
}

}  // namespace

constinit thread_local Hub* t_hub = nullptr;

void grant(WaitNode* n) noexcept {
  n->granted = true;
  if (n->on_grant)
    n->on_grant(*n);
  else
    wake(n->g);
}

// ---- ReadyQueue / TimerHeap -----------------------------------------------

void ReadyQueue::grow() {
  std::vector<Runnable*> bigger(buf_.size() * 2);
  const std::size_t n = size();
  for (std::size_t i = 0; i < n; ++i) bigger[i] = buf_[(head_ + i) & mask_];
  buf_.swap(bigger);
  mask_ = buf_.size() - 1;
  head_ = 0;
  tail_ = n;
}

void TimerHeap::push(TimerNode* t) {
  heap_.push_back(t);
  t->index = heap_.size() - 1;
  sift_up(t->index);
}

void TimerHeap::remove(TimerNode* t) noexcept {
  const std::size_t i = t->index;
  TimerNode* last = heap_.back();
  heap_.pop_back();
  t->index = static_cast<std::size_t>(-1);
  if (last == t) return;
  place(i, last);
  sift_up(i);
  sift_down(last->index);
}

void TimerHeap::sift_up(std::size_t i) noexcept {
  TimerNode* t = heap_[i];
  while (i > 0) {
    const std::size_t parent = (i - 1) / 2;
    if (!before(t, heap_[parent])) break;
    place(i, heap_[parent]);
    i = parent;
  }
  place(i, t);
}

void TimerHeap::sift_down(std::size_t i) noexcept {
  TimerNode* t = heap_[i];
  const std::size_t n = heap_.size();
  for (;;) {
    std::size_t child = 2 * i + 1;
    if (child >= n) break;
    if (child + 1 < n && before(heap_[child + 1], heap_[child])) ++child;
    if (!before(heap_[child], t)) break;
    place(i, heap_[child]);
    i = child;
  }
  place(i, t);
}

// ---- Hub -------------------------------------------------------------------

Hub::Hub()
    : current_(&hub_ctx_),
      default_stack_size_(kDefaultStackSize),
      eh_(reinterpret_cast<EhGlobals*>(abi::__cxa_get_globals())),
      work_(io_.get_executor()),
      os_timer_(io_) {}

Hub::~Hub() = default;

void Hub::throw_no_hub() { throw std::logic_error("green: not inside green::run on this thread"); }

void Hub::link_live(GreenletBase* g) noexcept {
  g->hub_prev_ = live_tail_;
  g->hub_next_ = nullptr;
  if (live_tail_)
    live_tail_->hub_next_ = g;
  else
    live_head_ = g;
  live_tail_ = g;
  ++live_;
}

void Hub::unlink_live(GreenletBase* g) noexcept {
  if (g->hub_prev_)
    g->hub_prev_->hub_next_ = g->hub_next_;
  else
    live_head_ = g->hub_next_;
  if (g->hub_next_)
    g->hub_next_->hub_prev_ = g->hub_prev_;
  else
    live_tail_ = g->hub_prev_;
  g->hub_prev_ = g->hub_next_ = nullptr;
  --live_;
}

void Hub::adopt(GreenletBase* g, std::size_t stack_size) {
  if (!g->id_) g->id_ = next_id();
  if (stack_size) g->stack_size_ = stack_size;
  if (!g->stack_size_) g->stack_size_ = default_stack_size_;
  g->ctx_.greenlet = g;
  g->state_ = GreenletBase::State::created;
  g->add_ref();  // the hub's reference, dropped once the greenlet's stack is reclaimed
  link_live(g);
}

void Hub::start(GreenletBase* g, std::size_t stack_size) {
  ready_.reserve_one();  // so nothing below can fail half way
  adopt(g, stack_size);
  schedule(g);
}

namespace {
// The timer of a start_later() greenlet. The greenlet is live (the hub kills
// it at teardown, which cancels this) but not queued until it fires.
struct StartTimer : TimerNode {
  StartTimer(Hub* h, GreenletBase* greenlet) noexcept : TimerNode(&StartTimer::on_fire), hub(h), g(greenlet) {}
  static void on_fire(TimerNode* t) {
    std::unique_ptr<StartTimer> self(static_cast<StartTimer*>(t));
    self->hub->delayed_.erase(self->g);
    try {
      self->hub->schedule(self->g);
    } catch (...) {
      fatal("out of memory growing the ready queue");
    }
  }
  Hub* hub;
  GreenletBase* g;
};
}  // namespace

void Hub::start_later(GreenletBase* g, Clock::time_point when) {
  auto timer = std::make_unique<StartTimer>(this, g);
  delayed_.reserve(delayed_.size() + 1);
  ready_.reserve_one();
  adopt(g, 0);
  delayed_.emplace(g, timer.get());
  arm(*timer, when);
  timer.release();
}

void Hub::arm(TimerNode& t, Clock::time_point deadline) {
  if (t.armed()) timers_.remove(&t);
  t.deadline = deadline;
  t.seq = ++timer_seq_;
  timers_.push(&t);
}

bool Hub::prepare(GreenletBase* g) noexcept {
  try {
    g->stack_ = stacks_.allocate(g->stack_size_);
  } catch (...) {
    g->exception_ = std::current_exception();  // std::bad_alloc: the greenlet fails without running
    return false;
  }
  char* top = g->stack_.hi - kStackHeader;
  const std::size_t size = static_cast<std::size_t>(top - g->stack_.lo);
  g->ctx_.sp = make_context(top, size, &Hub::entry);
  g->ctx_.asan_bottom = g->stack_.lo;
  g->ctx_.asan_size = size;
  return true;
}

void Hub::finish_unstarted(GreenletBase* g) noexcept {
  // Killed (or failed to get a stack) before it ever ran: it never will. The
  // queue entry stays; pick_next() drops the hub's reference when it pops it.
  // One made by make_greenlet() and never started has neither (nor is it
  // live); one waiting for start_later() gets its queue entry now.
  const bool adopted = g->state_ != GreenletBase::State::unstarted;
  if (!delayed_.empty()) {
    if (auto it = delayed_.find(g); it != delayed_.end()) {
      std::unique_ptr<StartTimer> timer(static_cast<StartTimer*>(it->second));
      cancel(*timer);
      delayed_.erase(it);
      schedule(g);  // room reserved by start_later()
    }
  }
  if (g->pending_) {
    try {
      std::rethrow_exception(g->pending_);
    } catch (const GreenletExit&) {
      g->exited_ = true;
    } catch (...) {
      g->exception_ = std::current_exception();
    }
    g->pending_ = nullptr;
    g->pending_source_ = nullptr;
  }
  g->state_ = GreenletBase::State::dead;
  g->drop_callable();
  if (adopted) unlink_live(g);
  g->add_ref();
  try {
    schedule(&g->notifier_);
  } catch (...) {
    fatal("out of memory growing the ready queue");
  }
}

Context* Hub::pick_next() {
  while (budget_ > 0 && !ready_.empty()) {
    Runnable* r = ready_.pop();
    --budget_;
    if (r->kind == Runnable::Kind::callback) {
      auto* cb = static_cast<Callback*>(r);
      ++callback_depth_;
      cb->fn(cb);
      --callback_depth_;
      continue;
    }
    auto* g = static_cast<GreenletBase*>(r);
    if (g->state_ == GreenletBase::State::dead) {  // killed before it started
      g->release();
      continue;
    }
    if (g->state_ == GreenletBase::State::created && !prepare(g)) {
      finish_unstarted(g);
      g->release();
      continue;
    }
    g->state_ = GreenletBase::State::running;
    return &g->ctx_;
  }
  return &hub_ctx_;
}

void Hub::trim_parked(Context* prev) noexcept {
  // It is parked now, its deepest point saved in prev->sp: what lies below
  // is free until it runs again.
  trim_at_park_ = nullptr;
  release_below(prev->greenlet->stack_, prev->sp);
}

void Hub::reclaim(GreenletBase* g) noexcept {
  if (trim_at_park_ == g) trim_at_park_ = nullptr;
  stacks_.deallocate(g->stack_);
  g->stack_ = {};
  g->ctx_.sp = nullptr;
  g->release();
}

// A new greenlet's stack starts here (context_switch.hpp). Everything up to
// its last switch is in this frame: a call that never returned would stay
// on the CPU's return-stack predictor and mislead the context resumed next.
void Hub::entry(Context* prev) noexcept {
  Hub* hub = t_hub;
  hub->after_switch(prev);
  GreenletBase* g = hub->current_->greenlet;
  try {
    g->run_body();
  } catch (const GreenletExit&) {
    g->exited_ = true;
  } catch (...) {
    g->exception_ = std::current_exception();
  }
  g->drop_callable();
  // Greenlet-local values die with their greenlet, on its own stack.
  while (LocalSlot* s = g->locals_) {
    g->locals_ = s->next;
    s->destroy(s->value);
    delete s;
  }
  g->pending_ = nullptr;
  g->pending_source_ = nullptr;
  check_stack(g->stack_, __builtin_frame_address(0), g->id_);
  g->state_ = GreenletBase::State::dead;
  hub->unlink_live(g);
  g->add_ref();  // held by the notifier until it has run
  try {
    hub->schedule(&g->notifier_);
    hub->switch_out();
  } catch (...) {
    fatal("out of memory while finishing a greenlet");
  }
  fatal("a finished greenlet was resumed");
}

// Runs due timers and I/O completions; when nothing is ready, first blocks
// until the next timer or I/O event. Returns false when blocking was asked
// for but nothing could ever wake the hub: no timer armed, no I/O pending.
//
// io_refs_ counts waits that an I/O layer (sockets, DNS, HTTP, processes,
// the thread pool) has outstanding; io_passive_ counts watchers that should be
// polled but must not keep the hub waiting (signal handlers). With neither,
// the hub never enters epoll at all, so pure-greenlet programs make no system
// calls to schedule.
bool Hub::poll(bool block) {
  if (block && ready_.empty()) {
    if (timers_.empty() && io_refs_ == 0) return false;
    const auto now = Clock::now();
    if (timers_.empty() || timers_.top()->deadline > now) {
      if (!timers_.empty() && timers_.top()->deadline != os_timer_deadline_) {
        os_timer_deadline_ = timers_.top()->deadline;
        os_timer_.expires_at(os_timer_deadline_);
        os_timer_.async_wait([this](const boost::system::error_code& ec) {
          if (!ec) os_timer_deadline_ = Clock::time_point::max();
        });
      }
      io_.run_one();
    }
  }
  if (io_refs_ > 0 || io_passive_ > 0 || os_timer_deadline_ != Clock::time_point::max()) io_.poll();
  fire_timers();
  return true;
}

void Hub::fire_timers() {
  if (timers_.empty()) return;
  const auto now = Clock::now();
  while (!timers_.empty() && timers_.top()->deadline <= now) {
    TimerNode* t = timers_.top();
    timers_.remove(t);
    ++callback_depth_;
    t->fire(t);
    --callback_depth_;
  }
}

void Hub::drive(GreenletBase* main) {
  for (;;) {
    if (main ? main->dead() : live_ == 0) return;
    bool can_wake = true;
    if (ready_.empty() && !idle_.empty()) {
      // Nothing to run: green::idle() callers go once I/O and timers that
      // are due have had their turn.
      poll(false);
      if (ready_.empty())
        while (grant_front(idle_)) {
        }
    } else {
      can_wake = poll(ready_.empty());
    }
    budget_ = std::max(ready_.size(), kPollInterval);
    Context* to = pick_next();
    if (to != &hub_ctx_) {
      jump(&hub_ctx_, to);
      continue;
    }
    if (!ready_.empty() || can_wake) continue;
    // Nothing can ever happen again.
    if (!main) return;
    interrupt(main, std::make_exception_ptr(LoopExit()), nullptr);
  }
}

void Hub::teardown() {
  // Kill what the main greenlet left running, in spawn order, and let each
  // unwind; a greenlet that swallows GreenletExit gets a second one.
  for (int round = 0; round < 2 && live_ > 0; ++round) {
    std::vector<GreenletBase*> alive;
    for (GreenletBase* g = live_head_; g; g = g->hub_next_) alive.push_back(g);
    for (GreenletBase* g : alive) {
      if (!g->dead() && !g->pending_) interrupt(g, std::make_exception_ptr(GreenletExit()), nullptr);
    }
    drive(nullptr);
  }
  if (live_ > 0) {
    abandoned_ = live_;
    std::fprintf(stderr, "green: %zu greenlet(s) ignored GreenletExit at shutdown and were abandoned\n", live_);
  }
  // Run the notifiers of the last greenlets to finish.
  while (!ready_.empty()) {
    budget_ = ready_.size();
    if (pick_next() != &hub_ctx_) fatal("a greenlet became ready during teardown");
  }
}

void Hub::run_main(GreenletBase* main) {
  start(main, 0);
  drive(main);
  teardown();
}

// ---- GreenletBase ----------------------------------------------------------

GreenletBase::~GreenletBase() {
  if (exception_ && !observed_) report_unobserved(id_, exception_);
  while (LocalSlot* s = locals_) {  // only for a greenlet that never finished
    locals_ = s->next;
    delete s;
  }
}

void GreenletBase::notify(Callback* cb) {
  GreenletBase* g = static_cast<Notifier*>(cb)->owner;
  while (WaitNode* n = g->joiners_.pop_front()) grant(n);
  while (Link* l = g->links_head_) {
    g->remove_link(*l);
    l->fn(l, *g);
  }
  g->release();
}

// ---- the primitives' calls -------------------------------------------------

std::uint64_t running_greenlet_id() noexcept {
  const Hub* hub = t_hub;
  return hub && hub->current_->greenlet ? hub->current_->greenlet->id() : 0;
}

namespace {

// The running greenlet, or null when there is none (outside green::run, or
// in the hub's own context).
inline GreenletBase* running() noexcept {
  const Hub* hub = t_hub;
  return hub ? hub->current_->greenlet : nullptr;
}

[[noreturn, gnu::cold]] void throw_no_greenlet() {
  Hub::get_or_throw();
  throw std::logic_error("green: no greenlet is running");
}

}  // namespace

void Hub::raise_pending(GreenletBase* g) {
  std::exception_ptr e = std::move(g->pending_);
  g->pending_ = nullptr;
  g->pending_source_ = nullptr;
  std::rethrow_exception(e);
}

GreenletBase* current() {
  GreenletBase* g = running();
  if (!g) [[unlikely]]
    throw_no_greenlet();
  return g;
}

void start(GreenletBase* g, std::size_t stack_size) {
  Hub& hub = Hub::get_or_throw();
  if (g->state_ == GreenletBase::State::unstarted || !g->id_) hub.start(g, stack_size);
}

void make_unstarted(GreenletBase* g, std::size_t stack_size) noexcept {
  g->id_ = next_id();
  g->stack_size_ = stack_size;
  g->state_ = GreenletBase::State::unstarted;
}

void start_later(GreenletBase* g, Duration delay) {
  Hub& hub = Hub::get_or_throw();
  if (g->state_ != GreenletBase::State::unstarted) return;
  if (delay <= Duration::zero())
    hub.start(g, 0);
  else
    hub.start_later(g, deadline_after(delay));
}

void park() {
  Hub& hub = *t_hub;
  GreenletBase* g = hub.current_->greenlet;
  if (hub.callback_depth_ > 0) fatal("a hub callback tried to block (callbacks must not switch)");
  if (g->pending_) return;  // an interrupt arrived while it was running: raise it instead of waiting
  g->state_ = GreenletBase::State::parked;
  hub.switch_out();
}

void Hub::prefetch_next() const noexcept {
  if (ready_.empty()) return;
  // The entry after it: its control block, read below on the next call
  // (loading it then stalled that call as long as the prefetch saved).
  if (ready_.size() > 1) {
    const char* after = reinterpret_cast<const char*>(ready_.at(1));
    __builtin_prefetch(after);
    __builtin_prefetch(after + 64);
  }
  const Runnable* r = ready_.front();
  if (r->kind != Runnable::Kind::greenlet) return;
  const auto* g = static_cast<const GreenletBase*>(r);
  const char* sp = static_cast<const char*>(g->ctx_.sp);
  if (!sp) return;  // not started yet: no frames
  for (int i = 0; i < kPrefetchLines; ++i) __builtin_prefetch(sp + 64 * i);
  if (g->stack_.canary) __builtin_prefetch(g->stack_.canary);
}

namespace {
struct ParkTimer : TimerNode {
  explicit ParkTimer(GreenletBase* g) noexcept : TimerNode(&ParkTimer::on_fire), owner(g) {}
  static void on_fire(TimerNode* t) {
    auto* p = static_cast<ParkTimer*>(t);
    p->fired = true;
    wake(p->owner);
  }
  GreenletBase* owner;
  bool fired = false;
};
}  // namespace

bool park_until(Clock::time_point deadline) {
  if (deadline == no_deadline) {
    park();
    return true;
  }
  Hub& hub = *t_hub;
  ParkTimer t(hub.current_->greenlet);
  hub.arm(t, deadline);
  park();
  hub.cancel(t);
  return !t.fired;
}

void wake(GreenletBase* g) noexcept {
  if (g->state_ != GreenletBase::State::parked) return;
  g->state_ = GreenletBase::State::ready;
  try {
    t_hub->schedule(g);
  } catch (...) {
    fatal("out of memory growing the ready queue");
  }
}

void check_interrupt() {
  GreenletBase* g = current();
  if (g->pending_) [[unlikely]]
    Hub::raise_pending(g);
}

bool wait_on(WaitList& list, WaitNode& node, Clock::time_point deadline) {
  list.push_back(node);
  park_until(deadline);
  if (node.granted) return true;
  list.erase(node);
  check_interrupt();
  return false;
}

WaitNode* grant_front(WaitList& list) noexcept {
  WaitNode* n = list.pop_front();
  if (n) grant(n);
  return n;
}

void timer_arm(TimerNode& t, Clock::time_point deadline) { Hub::get_or_throw().arm(t, deadline); }

void timer_cancel(TimerNode& t) noexcept {
  // No hub: it is being destroyed (its io_context's services shut down after
  // t_hub is reset), and its heap with it.
  if (t.armed() && t_hub) t_hub->cancel(t);
}

void post(Callback& cb) { Hub::get_or_throw().schedule(&cb); }

Clock::time_point deadline_after(Duration d) noexcept {
  if (d == forever) return no_deadline;
  const auto now = Clock::now();
  if (d > Clock::time_point::max() - now) return no_deadline;
  return now + d;
}

void interrupt(GreenletBase* g, std::exception_ptr e, const void* source) noexcept {
  if (g->dead() || g->pending_) return;
  g->pending_ = std::move(e);
  g->pending_source_ = source;
  if (g->state_ == GreenletBase::State::created || g->state_ == GreenletBase::State::unstarted) {
    t_hub->finish_unstarted(g);
    return;
  }
  wake(g);
}

void run_main(GreenletBase* main) {
  if (t_hub) throw std::logic_error("green::run is not reentrant");
  Hub hub;
  t_hub = &hub;
  struct Reset {
    ~Reset() { t_hub = nullptr; }
  } reset;
  hub.run_main(main);
}

}  // namespace green::detail

namespace green {

HubStats hub_stats() {
  using detail::Hub;
  Hub& hub = Hub::get_or_throw();
  HubStats s;
  s.live_greenlets = hub.live_;
  s.armed_timers = hub.timers_.size();
  s.ready = hub.ready_.size();
  s.stacks_allocated = hub.stacks_.allocated();
  s.stacks_free = hub.stacks_.free_count();
  s.stacks_returned = hub.stacks_.returned();
  s.abandoned = hub.abandoned_;
  s.pending_io = hub.io_refs_;
  s.watchers = hub.io_passive_;
  return s;
}

void set_default_stack_size(std::size_t bytes) {
  detail::Hub::get_or_throw().default_stack_size_ = bytes ? bytes : detail::kDefaultStackSize;
}

bool in_hub() noexcept { return detail::Hub::get() != nullptr; }

void trim_stack_at_next_park() {
  detail::GreenletBase* g = detail::current();
  detail::Hub::get()->trim_at_park_ = g;
}

void sleep(Duration d) {
  // The hot path of every busy-loop hand-off: one TLS read, no calls but
  // the switch itself.
  detail::GreenletBase* g = detail::current();
  if (g->pending_) [[unlikely]]
    detail::Hub::raise_pending(g);
  if (d <= Duration::zero()) {
    detail::Hub& hub = *detail::t_hub;
    g->state_ = detail::GreenletBase::State::ready;
    hub.schedule(g);
    hub.switch_out();
  } else {
    detail::park_until(detail::deadline_after(d));
  }
  if (g->pending_) [[unlikely]]
    detail::Hub::raise_pending(g);
}

void idle() {
  detail::current();
  detail::WaitNode node(detail::current());
  detail::wait_on(detail::Hub::get()->idle_, node, detail::no_deadline);
  detail::check_interrupt();
}

}  // namespace green
