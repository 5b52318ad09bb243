// Timeout: a scope that raises an exception inside its greenlet once it
// expires, at the next switch point.
#pragma once

#include <green/detail/core.hpp>

#include <cstdint>
#include <exception>
#include <optional>
#include <type_traits>
#include <utility>

namespace green {

/// Both the scope and the exception it raises, as in gevent.
///
///     try {
///       green::Timeout t(2s);
///       green::sleep(10s);            // raises the Timeout after 2 s
///     } catch (const green::Timeout& e) { ... }
///
/// An armed Timeout belongs to the greenlet that created it. When it expires
/// it raises a copy of itself (or the exception given to the constructor) in
/// that greenlet at its next switch point. Leaving the scope cancels it; an
/// expiry that has not been raised yet is withdrawn, so a Timeout never
/// fires after its scope ends. Scopes nest; each raises its own instance,
/// and `e == t` tells which one fired. Not derived from std::exception, so a
/// `catch (const std::exception&)` cannot swallow it.
class Timeout {
 public:
  /// Tag for a Timeout that waits for start().
  struct Unarmed {};
  static constexpr Unarmed unarmed{};

  /// Arms a timeout on the current greenlet. `forever` never expires.
  explicit Timeout(Duration d);
  /// A timeout that is not armed until start() (gevent's Timeout(seconds)
  /// before .start()). Never throws.
  Timeout(Duration d, Unarmed) noexcept;

  /// Arms a timeout that raises `exc` (any type) instead of itself.
  template <class E, class = std::enable_if_t<!std::is_same_v<std::decay_t<E>, Timeout> &&
                                              !std::is_same_v<std::decay_t<E>, Unarmed>>>
  Timeout(Duration d, E&& exc) : Timeout(d, std::make_exception_ptr(std::forward<E>(exc))) {}

  Timeout(Duration d, std::exception_ptr exc);

  /// Copies are inert: same identity (==), never armed. Exceptions are copies.
  Timeout(const Timeout& o) noexcept;
  Timeout& operator=(const Timeout&) = delete;

  /// Cancels; never throws, never switches.
  ~Timeout();

  /// Disarms the timer and withdraws an expiry not raised yet.
  void cancel() noexcept;
  /// (Re-)arms it for duration() from now, on the calling greenlet: a
  /// pending expiry is cancelled first, and expired() is false again
  /// (gevent's start(), and cancel() then start() to re-arm). Never switches.
  void start();
  /// start() with a new duration.
  void start(Duration d) {
    duration_ = d;
    start();
  }

  /// Armed and not expired yet.
  bool pending() const noexcept;
  /// The timer ran out (whether or not the exception was raised yet).
  bool expired() const noexcept { return expired_; }
  Duration duration() const noexcept { return duration_; }

  /// "timed out after 1.5s" (gevent's str(Timeout)).
  const char* what() const noexcept;

  friend bool operator==(const Timeout& a, const Timeout& b) noexcept { return a.id_ == b.id_; }

  /// An inert Timeout carrying `d`, for waits that give up (join, get).
  static Timeout inert(Duration d) noexcept;

 private:
  struct Node : detail::TimerNode {
    explicit Node(Timeout* t) noexcept : TimerNode(&Timeout::on_expire), self(t) {}
    Timeout* self;
  };
  struct InertTag {};
  Timeout(InertTag, Duration d) noexcept;
  static void on_expire(detail::TimerNode* n);

  Node node_;
  detail::GreenletBase* owner_ = nullptr;
  std::exception_ptr custom_;
  std::uint64_t id_;
  Duration duration_;
  bool armed_ = false;
  bool expired_ = false;
  mutable char what_[48] = {};
};

namespace detail {
[[noreturn]] void throw_timeout(Duration d);
}

/// Runs `f(args...)` under a Timeout of `d`; the Timeout propagates.
template <class F, class... A>
decltype(auto) with_timeout(Duration d, F&& f, A&&... args) {
  Timeout t(d);
  return std::forward<F>(f)(std::forward<A>(args)...);
}

/// Passed to with_timeout to give the value it returns when the time runs
/// out (gevent's with_timeout(seconds, f, timeout_value=V)).
template <class V>
struct TimeoutValue {
  V value;
};
template <class V>
TimeoutValue(V) -> TimeoutValue<V>;

/// Runs `f(args...)` under a Timeout of `d` and returns its result, or
/// nullopt if this Timeout (not an enclosing one, not a kill) expired first;
/// a void `f` gives a bool instead (true: it finished). Everything else `f`
/// throws propagates. For a wait that gives up without raising, where a
/// hand-written `catch (const Timeout& t) { if (!(t == mine)) throw; }`
/// would be one slip from swallowing an outer Timeout. Switch point as `f` is.
template <class F, class... A>
auto try_with_timeout(Duration d, F&& f, A&&... args) {
  using R = std::invoke_result_t<F, A...>;
  Timeout t(d);
  try {
    if constexpr (std::is_void_v<R>) {
      std::forward<F>(f)(std::forward<A>(args)...);
      return true;
    } else {
      return std::optional<std::remove_cvref_t<R>>(std::forward<F>(f)(std::forward<A>(args)...));
    }
  } catch (const Timeout& e) {
    if (!(e == t)) throw;
  }
  if constexpr (std::is_void_v<R>)
    return false;
  else
    return std::optional<std::remove_cvref_t<R>>();
}

/// Runs `f(args...)` under a Timeout of `d` and returns its result, or
/// `fallback.value` if this Timeout (not an outer one) expired first.
template <class V, class F, class... A>
auto with_timeout(Duration d, TimeoutValue<V> fallback, F&& f, A&&... args)
    -> std::common_type_t<std::invoke_result_t<F, A...>, V> {
  using R = std::common_type_t<std::invoke_result_t<F, A...>, V>;
  if (auto r = try_with_timeout(d, std::forward<F>(f), std::forward<A>(args)...)) return R(std::move(*r));
  return std::move(fallback.value);
}

}  // namespace green
