#include <green/hub.hpp>
#include <green/pool.hpp>

namespace green {

Group::~Group() {
  // Never switches: members are told to exit but not awaited.
  while (Member* m = head_) {
    head_ = m->next;
    detail::GreenletBase* g = detail::base_of(m->ref);
    g->remove_link(*m);
    if (!g->dead() && in_hub()) detail::interrupt(g, std::make_exception_ptr(GreenletExit()), nullptr);
    delete m;
  }
}

void Group::add(const GreenletRef& g, Duration timeout) {
  if (g.dead() || contains(g)) return;
  acquire_slot(timeout);
  insert(g);
}

void Group::insert(const GreenletRef& g) {
  if (g.dead()) {  // finished before it could be tracked
    release_slot();
    return;
  }
  auto* m = new Member(this, g);
  m->prev = tail_;
  if (tail_)
    tail_->next = m;
  else
    head_ = m;
  tail_ = m;
  ++size_;
  detail::base_of(g)->add_link(*m);
}

void Group::remove(Member* m) noexcept {
  if (m->prev)
    m->prev->next = m->next;
  else
    head_ = m->next;
  if (m->next)
    m->next->prev = m->prev;
  else
    tail_ = m->prev;
  --size_;
  delete m;
  release_slot();
  if (size_ == 0)
    while (detail::grant_front(join_waiters_)) {
    }
}

void Group::on_done(detail::Link* l, detail::GreenletBase&) {
  auto* m = static_cast<Member*>(l);
  m->group->remove(m);
}

// Membership is found from the greenlet's side: its links (usually one or
// two) include this group's Member. Walking the group's own list made every
// add() (StreamServer's per accepted connection) a scan of all members.
void Group::discard(const GreenletRef& g) noexcept {
  detail::GreenletBase* b = detail::base_of(g);
  if (!b) return;
  for (detail::Link* l = b->first_link(); l; l = l->next) {
    if (l->fn == &Group::on_done && static_cast<Member*>(l)->group == this) {
      b->remove_link(*l);
      remove(static_cast<Member*>(l));
      return;
    }
  }
}

bool Group::contains(const GreenletRef& g) const noexcept {
  const detail::GreenletBase* b = detail::base_of(g);
  if (!b) return false;
  for (const detail::Link* l = b->first_link(); l; l = l->next)
    if (l->fn == &Group::on_done && static_cast<const Member*>(l)->group == this) return true;
  return false;
}

std::vector<GreenletRef> Group::greenlets() const {
  std::vector<GreenletRef> out;
  out.reserve(size_);
  for (Member* m = head_; m; m = m->next) out.push_back(m->ref);
  return out;
}

bool Group::join(Duration timeout, bool raise_error) {
  const auto deadline = detail::deadline_after(timeout);
  if (raise_error) {
    const auto members = greenlets();
    // Wakes at each member's end, so a failure is raised as soon as it happens.
    if (!joinall(members, timeout, true)) return false;
    timeout = deadline == detail::no_deadline ? forever : deadline - Clock::now();
  }
  while (size_ > 0) {
    if (timeout <= Duration::zero()) return false;
    detail::WaitNode node(detail::current());
    if (!detail::wait_on(join_waiters_, node, deadline)) return size_ == 0;
  }
  return true;
}

void Group::kill(bool block, Duration timeout) { killall(greenlets(), block, timeout); }

bool Pool::wait_available(Duration timeout) {
  if (size_ == 0) return true;
  if (!slots_.acquire(timeout)) return false;
  slots_.release();
  return true;
}

void Pool::acquire_slot(Duration timeout) {
  if (size_ == 0) return;
  if (!slots_.acquire(timeout)) throw PoolFull();
}

void Pool::release_slot() noexcept {
  if (size_ == 0) return;
  try {
    slots_.release();
  } catch (...) {
    // More releases than slots cannot happen: each member took one.
  }
}

}  // namespace green
