#include "hub_impl.hpp"

#include <green/greenlet.hpp>

#include <cxxabi.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <typeinfo>

namespace green {

namespace {

std::mutex g_failure_mutex;
FailureHandler g_failure_handler;  // empty: print to stderr

std::string demangle(const char* name) {
  int status = 0;
  std::unique_ptr<char, void (*)(void*)> d(abi::__cxa_demangle(name, nullptr, nullptr, &status), std::free);
  return status == 0 && d ? d.get() : name;
}

}  // namespace

FailureHandler set_failure_handler(FailureHandler handler) {
  std::lock_guard<std::mutex> lock(g_failure_mutex);
  return std::exchange(g_failure_handler, std::move(handler));
}

std::string describe_exception(const std::exception_ptr& e) {
  if (!e) return "no exception";
  try {
    std::rethrow_exception(e);
  } catch (const std::exception& x) {
    return demangle(typeid(x).name()) + ": " + x.what();
  } catch (...) {
    const std::type_info* t = abi::__cxa_current_exception_type();
    return t ? demangle(t->name()) : "unknown exception";
  }
}

namespace detail {

void report_unobserved(std::uint64_t id, const std::exception_ptr& e) noexcept {
  try {
    FailureHandler handler;
    {
      std::lock_guard<std::mutex> lock(g_failure_mutex);
      handler = g_failure_handler;
    }
    if (handler) {
      handler(Failure{id, e});
    } else {
      const std::string what = describe_exception(e);
      std::fprintf(stderr, "green: <Greenlet %llu> failed with %s (nobody observed it)\n",
                   static_cast<unsigned long long>(id), what.c_str());
    }
  } catch (...) {
    // A destructor reports; it never throws.
  }
}

}  // namespace detail

using detail::GreenletBase;

bool GreenletRef::join(Duration timeout) const {
  if (p_->dead()) return true;
  GreenletBase* self = detail::current();
  if (self == p_) throw std::logic_error("green: a greenlet cannot join itself");
  if (timeout <= Duration::zero()) return false;
  detail::WaitNode node(self);
  detail::wait_on(p_->joiners(), node, detail::deadline_after(timeout));
  return p_->dead();
}

void GreenletRef::kill_ptr(std::exception_ptr e, bool block, Duration timeout) const {
  if (p_->dead()) return;
  if (p_ == detail::current()) std::rethrow_exception(e);
  detail::interrupt(p_, std::move(e), nullptr);
  if (block) join(timeout);
}

GreenletRef current() { return GreenletRef(detail::current()); }

// ---- link ------------------------------------------------------------------

namespace {

enum class LinkWhen { always, value, exception };

// Owned by the greenlet's link list until it fires or is unlinked. A link of
// a greenlet that never finishes (abandoned at teardown) is never freed.
struct CallbackLink : detail::Link {
  CallbackLink(std::function<void(GreenletRef)> f, LinkWhen w) : Link(&CallbackLink::fire), fn(std::move(f)), when(w) {}

  // On the hub, inside the dead greenlet's notifier: must not switch, so the
  // callback gets a greenlet of its own.
  static void fire(detail::Link* l, GreenletBase& g) {
    std::unique_ptr<CallbackLink> self(static_cast<CallbackLink*>(l));
    // Deciding whether to fire is not looking at the exception.
    const bool failed = g.failed();
    if (self->when == LinkWhen::value && failed) return;
    if (self->when == LinkWhen::exception && !failed) return;
    try {
      green::spawn(std::move(self->fn), GreenletRef(&g));
    } catch (...) {
      std::fprintf(stderr, "green: out of memory spawning a link callback of greenlet %llu\n",
                   static_cast<unsigned long long>(g.id()));
    }
  }

  std::function<void(GreenletRef)> fn;
  LinkWhen when;
};

LinkId add_callback_link(GreenletBase* g, std::function<void(GreenletRef)> fn, LinkWhen when) {
  auto link = std::make_unique<CallbackLink>(std::move(fn), when);
  if (g->dead()) {
    // Finished already: its notifier ran (or is queued and has no joiners
    // left to wake first); fire now, which only spawns.
    CallbackLink::fire(link.release(), *g);
    return nullptr;
  }
  g->add_link(*link);
  return link.release();
}

}  // namespace

LinkId GreenletRef::link(std::function<void(GreenletRef)> callback) const {
  return add_callback_link(p_, std::move(callback), LinkWhen::always);
}

LinkId GreenletRef::link_value(std::function<void(GreenletRef)> callback) const {
  return add_callback_link(p_, std::move(callback), LinkWhen::value);
}

LinkId GreenletRef::link_exception(std::function<void(GreenletRef)> callback) const {
  return add_callback_link(p_, std::move(callback), LinkWhen::exception);
}

bool GreenletRef::unlink(LinkId id) const noexcept {
  if (!id) return false;
  for (detail::Link* l = p_->first_link(); l; l = l->next) {
    if (l == id) {
      p_->remove_link(*l);
      delete static_cast<CallbackLink*>(l);
      return true;
    }
  }
  return false;
}

void GreenletRef::start() const { detail::start(p_, 0); }

void GreenletRef::start_later(Duration delay) const { detail::start_later(p_, delay); }

// ---- iwait / wait ----------------------------------------------------------

// One WaitNode per object, in its waiter list (a greenlet's joiners, an
// Event's or AsyncResult's waiters) until it fires. A granted node records
// its position at once, so the order is the order things happened, and wakes
// the iterator's greenlet only while it waits in next(): a grant while it is
// parked elsewhere must not wake it there.
struct ObjectWaitIterator::State {
  static void granted(detail::WaitNode& n) {
    auto* st = static_cast<State*>(n.slot);
    st->done.push_back(static_cast<std::size_t>(&n - st->nodes.data()));
    if (st->waiter) detail::wake(st->waiter);
  }

  std::vector<Waitable> objects;
  std::vector<detail::WaitNode> nodes;
  std::vector<std::size_t> done;  // positions ready, in order; reserved, so granted() never allocates
  std::size_t taken = 0;          // done[0, taken) were returned
  GreenletBase* waiter = nullptr;
  Clock::time_point deadline;
  std::size_t wanted;
};

ObjectWaitIterator::ObjectWaitIterator(std::vector<Waitable> objects, Duration timeout, std::size_t count)
    : st_(std::make_unique<State>()) {
  State& st = *st_;
  GreenletBase* self = detail::current();
  st.deadline = detail::deadline_after(timeout);
  st.wanted = count == 0 ? objects.size() : std::min(count, objects.size());
  st.objects = std::move(objects);
  st.nodes.assign(st.objects.size(), detail::WaitNode(self));
  st.done.reserve(st.objects.size());
  for (std::size_t i = 0; i < st.objects.size(); ++i) {
    if (st.objects[i].ready()) {
      st.done.push_back(i);
      continue;
    }
    st.nodes[i].slot = &st;
    st.nodes[i].on_grant = &State::granted;
    st.objects[i].waiters().push_back(st.nodes[i]);
  }
}

ObjectWaitIterator::ObjectWaitIterator(ObjectWaitIterator&&) noexcept = default;

ObjectWaitIterator::~ObjectWaitIterator() {
  if (!st_) return;
  // erase() is a no-op for a node already granted, or detached by a
  // primitive destroyed meanwhile.
  for (std::size_t i = 0; i < st_->nodes.size(); ++i)
    if (st_->nodes[i].linked) st_->objects[i].waiters().erase(st_->nodes[i]);
}

const Waitable& ObjectWaitIterator::operator[](std::size_t i) const { return st_->objects.at(i); }

std::optional<std::size_t> ObjectWaitIterator::next() {
  State& st = *st_;
  if (st.taken >= st.wanted) return std::nullopt;
  while (st.taken == st.done.size()) {
    if (st.deadline != detail::no_deadline && Clock::now() >= st.deadline) return std::nullopt;
    st.waiter = detail::current();
    const bool in_time = detail::park_until(st.deadline);
    st.waiter = nullptr;
    detail::check_interrupt();
    if (!in_time && st.taken == st.done.size()) return std::nullopt;
  }
  return st.done[st.taken++];
}

ObjectWaitIterator iwait_objects(std::vector<Waitable> objects, Duration timeout, std::size_t count) {
  return ObjectWaitIterator(std::move(objects), timeout, count);
}

std::vector<std::size_t> wait_objects(std::vector<Waitable> objects, Duration timeout, std::size_t count) {
  std::vector<std::size_t> out;
  ObjectWaitIterator it(std::move(objects), timeout, count);
  while (auto i = it.next()) out.push_back(*i);
  return out;
}

namespace {
std::vector<Waitable> as_waitables(std::vector<GreenletRef> greenlets) {
  return std::vector<Waitable>(std::make_move_iterator(greenlets.begin()), std::make_move_iterator(greenlets.end()));
}
}  // namespace

WaitIterator::WaitIterator(std::vector<GreenletRef> greenlets, Duration timeout, std::size_t count)
    : it_(as_waitables(std::move(greenlets)), timeout, count) {}

std::optional<GreenletRef> WaitIterator::next() {
  if (auto i = it_.next()) return it_[*i].greenlet();
  return std::nullopt;
}

WaitIterator iwait(std::vector<GreenletRef> greenlets, Duration timeout, std::size_t count) {
  return WaitIterator(std::move(greenlets), timeout, count);
}

std::vector<GreenletRef> wait(std::vector<GreenletRef> greenlets, Duration timeout, std::size_t count) {
  std::vector<GreenletRef> out;
  WaitIterator it(std::move(greenlets), timeout, count);
  while (auto g = it.next()) out.push_back(std::move(*g));
  return out;
}

bool joinall(const std::vector<GreenletRef>& greenlets, Duration timeout, bool raise_error) {
  return joinall(greenlets, timeout, raise_error, 0);
}

bool joinall(const std::vector<GreenletRef>& greenlets, Duration timeout, bool raise_error, std::size_t count) {
  const std::size_t wanted = count == 0 ? greenlets.size() : std::min(count, greenlets.size());
  GreenletBase* self = detail::current();
  const auto deadline = detail::deadline_after(timeout);
  std::vector<detail::WaitNode> nodes(greenlets.size(), detail::WaitNode(self));
  struct Unlink {
    const std::vector<GreenletRef>& gs;
    std::vector<detail::WaitNode>& ns;
    ~Unlink() {
      for (std::size_t i = 0; i < ns.size(); ++i) detail::base_of(gs[i])->joiners().erase(ns[i]);
    }
  } unlink{greenlets, nodes};
  auto finished = [&] {
    std::size_t n = 0;
    for (const GreenletRef& g : greenlets) n += g.dead() ? 1 : 0;
    return n;
  };
  for (;;) {
    std::size_t dead = 0;
    for (std::size_t i = 0; i < greenlets.size(); ++i) {
      GreenletBase* g = detail::base_of(greenlets[i]);
      if (g->dead()) {
        if (raise_error && g->exception()) std::rethrow_exception(g->exception());
        ++dead;
        continue;
      }
      if (!nodes[i].linked) g->joiners().push_back(nodes[i]);
    }
    if (dead >= wanted) return true;
    if (timeout <= Duration::zero()) return false;
    const bool in_time = detail::park_until(deadline);
    detail::check_interrupt();
    if (!in_time) return finished() >= wanted;
  }
}

void killall(const std::vector<GreenletRef>& greenlets, bool block, Duration timeout) {
  detail::killall_with(
      greenlets, [] { return std::make_exception_ptr(GreenletExit()); }, block, timeout);
}

void detail::killall_with(const std::vector<GreenletRef>& greenlets, const std::function<std::exception_ptr()>& make,
                          bool block, Duration timeout) {
  GreenletBase* self = detail::current();
  std::vector<GreenletRef> others;
  others.reserve(greenlets.size());
  for (const GreenletRef& g : greenlets) {
    if (detail::base_of(g) == self) continue;
    detail::interrupt(detail::base_of(g), make(), nullptr);
    others.push_back(g);
  }
  if (block) joinall(others, timeout);
  if (others.size() != greenlets.size()) std::rethrow_exception(make());
}

}  // namespace green
