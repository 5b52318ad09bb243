// Greenlets: spawn, join, kill, get, and their states.
//
// A greenlet is a function running on its own small stack, scheduled
// cooperatively by the calling thread's hub. It runs until it parks (waits
// for something); every call documented as a *switch point* may park, and is
// where a pending kill or Timeout is raised.
#pragma once

#include <green/detail/greenlet_base.hpp>
#include <green/timeout.hpp>

#include <cstddef>
#include <cstdint>
#include <exception>
#include <functional>
#include <optional>
#include <stdexcept>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

namespace green {

/// get() on a greenlet that was killed (it has no value to return).
class GreenletKilled : public std::runtime_error {
 public:
  GreenletKilled() : std::runtime_error("greenlet was killed") {}
};

/// Options for spawn().
struct SpawnOptions {
  /// Stack size in bytes; 0 takes the hub's default (64 KiB, 256 KiB under
  /// AddressSanitizer). Rounded up to whole pages.
  std::size_t stack_size = 0;
};

/// An untyped, reference-counted handle to a greenlet. Copies refer to the
/// same greenlet. Handles belong to the hub's thread.
class GreenletRef {
 public:
  GreenletRef() noexcept = default;
  explicit GreenletRef(detail::GreenletBase* p) noexcept : p_(p) {
    if (p_) p_->add_ref();
  }
  GreenletRef(const GreenletRef& o) noexcept : GreenletRef(o.p_) {}
  GreenletRef(GreenletRef&& o) noexcept : p_(std::exchange(o.p_, nullptr)) {}
  GreenletRef& operator=(GreenletRef o) noexcept {
    std::swap(p_, o.p_);
    return *this;
  }
  ~GreenletRef() {
    if (p_) p_->release();
  }

  explicit operator bool() const noexcept { return p_ != nullptr; }
  friend bool operator==(const GreenletRef& a, const GreenletRef& b) noexcept { return a.p_ == b.p_; }

  /// A number unique among this process's greenlets.
  std::uint64_t id() const noexcept { return p_->id(); }
  /// True once spawned (gevent's `started`): scheduled, running or finished.
  bool started() const noexcept { return p_ != nullptr; }
  /// Finished, by returning, throwing or being killed.
  bool ready() const noexcept { return p_->dead(); }
  bool dead() const noexcept { return p_->dead(); }
  /// Finished without an exception (a kill counts as success).
  bool successful() const noexcept { return p_->dead() && !p_->exception(); }
  /// The exception that ended it, or null.
  std::exception_ptr exception() const noexcept { return p_->exception(); }
  /// Ended by GreenletExit.
  bool killed() const noexcept { return p_->exited(); }

  /// Waits until the greenlet finishes or `timeout` passes; returns ready().
  /// Never rethrows the greenlet's exception. Switch point.
  bool join(Duration timeout = forever) const;

  /// Raises `e` (GreenletExit by default) inside the greenlet at its next
  /// switch point; a greenlet that has not started never runs. With `block`,
  /// waits up to `timeout` for it to finish. Killing yourself throws at once.
  template <class E = GreenletExit>
  void kill(E e = E{}, bool block = true, Duration timeout = forever) const {
    kill_ptr(std::make_exception_ptr(std::move(e)), block, timeout);
  }
  void kill_ptr(std::exception_ptr e, bool block = true, Duration timeout = forever) const;

  detail::GreenletBase* base() const noexcept { return p_; }

 protected:
  detail::GreenletBase* p_ = nullptr;
};

namespace detail {

template <class T>
class GreenletResult : public GreenletBase {
 public:
  std::optional<T> result_;
};

template <>
class GreenletResult<void> : public GreenletBase {};

template <class R, class Fn, class... Args>
class GreenletImpl final : public GreenletResult<R> {
 public:
  template <class F, class... A>
  explicit GreenletImpl(F&& f, A&&... a)
      : call_(std::in_place, std::forward<F>(f), std::tuple<Args...>(std::forward<A>(a)...)) {}

  void run_body() override {
    auto& [fn, args] = *call_;
    if constexpr (std::is_void_v<R>) {
      std::apply(fn, std::move(args));
    } else {
      this->result_.emplace(std::apply(fn, std::move(args)));
    }
  }

  // Like gevent, a finished greenlet lets go of its function and arguments,
  // so what they captured (often a handle to the greenlet itself) is freed.
  void drop_callable() noexcept override { call_.reset(); }

 private:
  std::optional<std::pair<Fn, std::tuple<Args...>>> call_;
};

}  // namespace detail

/// A typed handle: adds get() and value() for the function's result.
template <class T>
class Greenlet : public GreenletRef {
 public:
  Greenlet() noexcept = default;
  explicit Greenlet(detail::GreenletResult<T>* p) noexcept : GreenletRef(p) {}

  /// Waits for the result and returns it, or rethrows the greenlet's
  /// exception. Throws green::Timeout if `timeout` passes first, and
  /// GreenletKilled if it was killed. Switch point.
  T get(Duration timeout = forever) const {
    wait_ready(timeout);
    if (auto e = p_->exception()) std::rethrow_exception(e);
    if constexpr (!std::is_void_v<T>) {
      auto& r = static_cast<detail::GreenletResult<T>*>(p_)->result_;
      if (!r) throw GreenletKilled();
      return *r;
    }
  }

  /// The result if it finished by returning, else nothing (gevent's `value`).
  template <class U = T, class = std::enable_if_t<!std::is_void_v<U>>>
  std::optional<U> value() const {
    return static_cast<detail::GreenletResult<T>*>(p_)->result_;
  }

 private:
  void wait_ready(Duration timeout) const;
};

template <class T>
void Greenlet<T>::wait_ready(Duration timeout) const {
  if (!join(timeout)) detail::throw_timeout(timeout);
}

namespace detail {
template <class F, class... A>
using spawn_result_t = std::invoke_result_t<std::decay_t<F>&&, std::decay_t<A>&&...>;
}

/// Starts `f(args...)` in a new greenlet (copies of the arguments are kept in
/// it). It runs once the current greenlet parks; greenlets start in spawn
/// order. Never switches.
template <class F, class... A>
auto spawn(const SpawnOptions& opts, F&& f, A&&... args) -> Greenlet<detail::spawn_result_t<F, A...>> {
  using R = detail::spawn_result_t<F, A...>;
  auto* g =
      new detail::GreenletImpl<R, std::decay_t<F>, std::decay_t<A>...>(std::forward<F>(f), std::forward<A>(args)...);
  Greenlet<R> handle(g);
  detail::start(g, opts.stack_size);
  return handle;
}

template <class F, class... A, class = std::enable_if_t<!std::is_same_v<std::decay_t<F>, SpawnOptions>>>
auto spawn(F&& f, A&&... args) -> Greenlet<detail::spawn_result_t<F, A...>> {
  return spawn(SpawnOptions{}, std::forward<F>(f), std::forward<A>(args)...);
}

/// The running greenlet.
GreenletRef current();

/// Waits until every greenlet finished or `timeout` passed; returns true if
/// all finished. With `raise_error`, rethrows the first failure as soon as
/// it happens. Switch point.
///
/// Spawn inside braces to keep gevent's order, `joinall({spawn(a), spawn(b)})`:
/// a braced list is evaluated left to right, function arguments are not.
bool joinall(const std::vector<GreenletRef>& greenlets, Duration timeout = forever, bool raise_error = false);

/// Kills every greenlet (GreenletExit), then with `block` waits for them.
void killall(const std::vector<GreenletRef>& greenlets, bool block = true, Duration timeout = forever);

}  // namespace green
