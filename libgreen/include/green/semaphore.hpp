// Semaphore, BoundedSemaphore, Lock and RLock.
#pragma once

#include <green/detail/core.hpp>

#include <cstddef>
#include <limits>

namespace green {

/// A counting semaphore. release() hands the unit straight to the longest
/// waiting greenlet, so waiters are served in order and cannot be overtaken.
/// Also BasicLockable (lock/unlock), for std::lock_guard.
class Semaphore {
 public:
  explicit Semaphore(std::size_t value = 1) noexcept : value_(value) {}
  Semaphore(const Semaphore&) = delete;
  Semaphore& operator=(const Semaphore&) = delete;

  /// Takes a unit, waiting up to `timeout`; false if none came in time.
  /// Switch point when it waits.
  bool acquire(Duration timeout = forever);
  /// Takes a unit if one is free now. Never switches.
  bool try_acquire() noexcept;
  /// Returns a unit (to the first waiter, if any). Never switches.
  void release();

  std::size_t value() const noexcept { return value_; }
  bool locked() const noexcept { return value_ == 0; }
  std::size_t waiting() const noexcept { return waiters_.size(); }

  void lock() { acquire(); }
  bool try_lock() noexcept { return try_acquire(); }
  void unlock() { release(); }

 protected:
  Semaphore(std::size_t value, std::size_t limit) noexcept : value_(value), limit_(limit) {}

 private:
  std::size_t value_;
  std::size_t limit_ = std::numeric_limits<std::size_t>::max();
  detail::WaitList waiters_;
};

/// A semaphore that refuses to be released more times than acquired:
/// release() then throws std::logic_error.
class BoundedSemaphore : public Semaphore {
 public:
  explicit BoundedSemaphore(std::size_t value = 1) noexcept : Semaphore(value, value) {}
};

/// A mutual-exclusion lock between greenlets (a BoundedSemaphore of 1).
class Lock : public BoundedSemaphore {
 public:
  Lock() noexcept : BoundedSemaphore(1) {}
};

/// A lock its owner may take again (gevent's RLock): the greenlet holding
/// it can acquire() it any number of times and must release() it as often;
/// others wait until then. BasicLockable, for std::lock_guard.
class RLock {
 public:
  RLock() noexcept = default;
  RLock(const RLock&) = delete;
  RLock& operator=(const RLock&) = delete;

  /// Takes the lock (again, if this greenlet holds it), waiting up to
  /// `timeout`; false if it stayed taken. Switch point when it waits.
  bool acquire(Duration timeout = forever);
  /// Gives up one level of ownership. Throws std::logic_error if the
  /// calling greenlet does not hold it. Never switches.
  void release();

  bool locked() const noexcept { return count_ > 0; }
  /// Whether the calling greenlet holds it.
  bool owned() const;

  void lock() { acquire(); }
  bool try_lock() { return acquire(Duration::zero()); }
  void unlock() { release(); }

 private:
  Lock lock_;
  detail::GreenletBase* owner_ = nullptr;
  std::size_t count_ = 0;
};

}  // namespace green
