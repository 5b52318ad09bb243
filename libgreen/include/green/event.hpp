// Event and AsyncResult: wake every waiter once something happened.
#pragma once

#include <green/detail/core.hpp>
#include <green/timeout.hpp>

#include <exception>
#include <optional>
#include <type_traits>
#include <utility>

namespace green {

/// A flag greenlets can wait for. set() wakes every waiter, in the order they
/// started waiting; until clear(), later waits return at once.
class Event {
 public:
  Event() = default;
  Event(const Event&) = delete;
  Event& operator=(const Event&) = delete;

  /// Sets the flag and wakes all waiters. Never switches.
  void set() noexcept {
    flag_ = true;
    while (detail::grant_front(waiters_)) {
    }
  }
  void clear() noexcept { flag_ = false; }
  bool is_set() const noexcept { return flag_; }
  bool ready() const noexcept { return flag_; }

  /// Waits until the flag is set or `timeout` passes; returns the flag.
  /// Switch point.
  bool wait(Duration timeout = forever) {
    if (flag_) return true;
    if (timeout <= Duration::zero()) return false;
    detail::WaitNode node(detail::current());
    return detail::wait_on(waiters_, node, detail::deadline_after(timeout)) || flag_;
  }

 private:
  friend struct detail::WaitAccess;
  detail::WaitList waiters_;
  bool flag_ = false;
};

/// A value (or an exception) that arrives later: gevent's AsyncResult, a
/// future that any number of greenlets can wait for. Setting it again
/// replaces the value.
template <class T = void>
class AsyncResult {
  using Stored = std::conditional_t<std::is_void_v<T>, bool, T>;

 public:
  AsyncResult() = default;
  AsyncResult(const AsyncResult&) = delete;
  AsyncResult& operator=(const AsyncResult&) = delete;

  /// Stores the value and wakes every waiter. Never switches.
  template <class U = T, class = std::enable_if_t<!std::is_void_v<U>>>
  void set(U value) {
    value_.emplace(std::move(value));
    exception_ = nullptr;
    wake_all();
  }
  template <class U = T, class = std::enable_if_t<std::is_void_v<U>>>
  void set() {
    value_.emplace(true);
    exception_ = nullptr;
    wake_all();
  }
  /// Stores an exception for get() to rethrow and wakes every waiter.
  void set_exception(std::exception_ptr e) {
    value_.reset();
    exception_ = std::move(e);
    wake_all();
  }
  template <class E>
  void set_exception(E e) {
    set_exception(std::make_exception_ptr(std::move(e)));
  }

  bool ready() const noexcept { return value_.has_value() || exception_ != nullptr; }
  bool successful() const noexcept { return value_.has_value(); }
  std::exception_ptr exception() const noexcept { return exception_; }

  /// Waits until set (or `timeout`); returns ready(). Switch point.
  bool wait(Duration timeout = forever) {
    if (ready()) return true;
    if (timeout <= Duration::zero()) return false;
    detail::WaitNode node(detail::current());
    detail::wait_on(waiters_, node, detail::deadline_after(timeout));
    return ready();
  }

  /// Waits, then returns the value or rethrows the exception. Throws
  /// green::Timeout if `timeout` passes first. Switch point.
  T get(Duration timeout = forever) {
    if (!wait(timeout)) detail::throw_timeout(timeout);
    if (exception_) std::rethrow_exception(exception_);
    if constexpr (!std::is_void_v<T>) return *value_;
  }

 private:
  friend struct detail::WaitAccess;
  void wake_all() noexcept {
    while (detail::grant_front(waiters_)) {
    }
  }
  std::optional<Stored> value_;
  std::exception_ptr exception_;
  detail::WaitList waiters_;
};

}  // namespace green
