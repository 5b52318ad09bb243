#include <green/semaphore.hpp>

#include <stdexcept>

namespace green {

bool Semaphore::acquire(Duration timeout) {
  if (try_acquire()) return true;
  if (timeout <= Duration::zero()) return false;
  detail::WaitNode node(detail::current());
  return detail::wait_on(waiters_, node, detail::deadline_after(timeout));
}

bool Semaphore::try_acquire() noexcept {
  // Waiters exist only while value_ is 0 (release hands units over), so a
  // newcomer can never overtake them.
  if (value_ == 0) return false;
  --value_;
  return true;
}

void Semaphore::release() {
  if (detail::grant_front(waiters_)) return;
  if (value_ >= limit_) throw std::logic_error("green: semaphore released too many times");
  ++value_;
}

bool RLock::acquire(Duration timeout) {
  detail::GreenletBase* self = detail::current();
  if (owner_ == self) {
    ++count_;
    return true;
  }
  if (!lock_.acquire(timeout)) return false;
  owner_ = self;
  count_ = 1;
  return true;
}

void RLock::release() {
  if (owner_ != detail::current()) throw std::logic_error("green: RLock released by a greenlet that does not hold it");
  if (--count_ > 0) return;
  owner_ = nullptr;
  lock_.release();
}

bool RLock::owned() const { return owner_ == detail::current(); }

}  // namespace green
