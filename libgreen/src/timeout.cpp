#include <green/detail/greenlet_base.hpp>
#include <green/timeout.hpp>

#include <chrono>
#include <cstdio>

namespace green {

namespace {
std::uint64_t g_next_timeout_id = 0;
std::uint64_t next_timeout_id() noexcept { return __atomic_add_fetch(&g_next_timeout_id, 1, __ATOMIC_RELAXED); }
}  // namespace

Timeout::Timeout(Duration d) : Timeout(d, std::exception_ptr()) {}

Timeout::Timeout(Duration d, std::exception_ptr exc)
    : node_(this), custom_(std::move(exc)), id_(next_timeout_id()), duration_(d) {
  if (d == forever) return;
  start();
}

Timeout::Timeout(Duration d, Unarmed) noexcept : node_(this), id_(next_timeout_id()), duration_(d) {}

void Timeout::start() {
  detail::GreenletBase* self = detail::current();
  cancel();
  expired_ = false;
  owner_ = self;
  if (duration_ == forever) return;
  detail::timer_arm(node_, detail::deadline_after(duration_));
  armed_ = true;
}

Timeout::Timeout(const Timeout& o) noexcept
    : node_(this), custom_(o.custom_), id_(o.id_), duration_(o.duration_), expired_(o.expired_) {}

Timeout::Timeout(InertTag, Duration d) noexcept : node_(this), id_(next_timeout_id()), duration_(d), expired_(true) {}

Timeout Timeout::inert(Duration d) noexcept { return Timeout(InertTag{}, d); }

Timeout::~Timeout() { cancel(); }

void Timeout::cancel() noexcept {
  if (armed_) {
    detail::timer_cancel(node_);
    armed_ = false;
  }
  // Expired but not raised yet: withdraw it, so it can never fire outside
  // the scope.
  if (owner_ && owner_->pending_source_ == this) {
    owner_->pending_ = nullptr;
    owner_->pending_source_ = nullptr;
  }
}

bool Timeout::pending() const noexcept { return armed_ && !expired_; }

void Timeout::on_expire(detail::TimerNode* n) {
  Timeout* t = static_cast<Node*>(n)->self;
  t->expired_ = true;
  detail::GreenletBase* g = t->owner_;
  if (g->dead()) {
    t->armed_ = false;
    return;
  }
  if (g->pending_) {
    // Another interrupt is on its way in; raise this one after it (if the
    // scope is still alive by then).
    detail::timer_arm(*n, Clock::now() + std::chrono::milliseconds(1));
    return;
  }
  t->armed_ = false;
  std::exception_ptr e = t->custom_ ? t->custom_ : std::make_exception_ptr(Timeout(*t));
  detail::interrupt(g, std::move(e), t);
}

const char* Timeout::what() const noexcept {
  if (what_[0] == '\0') {
    const double s = std::chrono::duration<double>(duration_).count();
    std::snprintf(what_, sizeof what_, "timed out after %gs", s);
  }
  return what_;
}

namespace detail {
void throw_timeout(Duration d) { throw Timeout::inert(d); }
}  // namespace detail

}  // namespace green
