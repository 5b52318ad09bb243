#include <green/greenlet.hpp>

#include <stdexcept>

namespace green {

using detail::GreenletBase;

bool GreenletRef::join(Duration timeout) const {
  if (p_->dead()) return true;
  GreenletBase* self = detail::current();
  if (self == p_) throw std::logic_error("green: a greenlet cannot join itself");
  if (timeout <= Duration::zero()) return false;
  detail::WaitNode node(self);
  detail::wait_on(p_->joiners_, node, detail::deadline_after(timeout));
  return p_->dead();
}

void GreenletRef::kill_ptr(std::exception_ptr e, bool block, Duration timeout) const {
  if (p_->dead()) return;
  if (p_ == detail::current()) std::rethrow_exception(e);
  detail::interrupt(p_, std::move(e), nullptr);
  if (block) join(timeout);
}

GreenletRef current() { return GreenletRef(detail::current()); }

bool joinall(const std::vector<GreenletRef>& greenlets, Duration timeout, bool raise_error) {
  GreenletBase* self = detail::current();
  const auto deadline = detail::deadline_after(timeout);
  std::vector<detail::WaitNode> nodes(greenlets.size(), detail::WaitNode(self));
  struct Unlink {
    const std::vector<GreenletRef>& gs;
    std::vector<detail::WaitNode>& ns;
    ~Unlink() {
      for (std::size_t i = 0; i < ns.size(); ++i) gs[i].base()->joiners_.erase(ns[i]);
    }
  } unlink{greenlets, nodes};
  for (;;) {
    bool all = true;
    for (std::size_t i = 0; i < greenlets.size(); ++i) {
      GreenletBase* g = greenlets[i].base();
      if (g->dead()) {
        if (raise_error && g->exception()) std::rethrow_exception(g->exception());
        continue;
      }
      all = false;
      if (!nodes[i].linked) g->joiners_.push_back(nodes[i]);
    }
    if (all) return true;
    if (timeout <= Duration::zero()) return false;
    const bool in_time = detail::park_until(deadline);
    detail::check_interrupt();
    if (!in_time) {
      for (const GreenletRef& g : greenlets)
        if (!g.dead()) return false;
      return true;
    }
  }
}

void killall(const std::vector<GreenletRef>& greenlets, bool block, Duration timeout) {
  GreenletBase* self = detail::current();
  std::vector<GreenletRef> others;
  others.reserve(greenlets.size());
  for (const GreenletRef& g : greenlets) {
    if (g.base() == self) continue;
    detail::interrupt(g.base(), std::make_exception_ptr(GreenletExit()), nullptr);
    others.push_back(g);
  }
  if (block) joinall(others, timeout);
  if (others.size() != greenlets.size()) throw GreenletExit();
}

}  // namespace green
