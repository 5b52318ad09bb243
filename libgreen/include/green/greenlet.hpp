// Greenlets: spawn, join, kill, get, and their states.
//
// A greenlet is a function running on its own small stack, scheduled
// cooperatively by the calling thread's hub. It runs until it parks (waits
// for something); every call documented as a *switch point* may park, and is
// where a pending kill or Timeout is raised.
#pragma once

#include <green/detail/greenlet_base.hpp>
#include <green/timeout.hpp>

#include <concepts>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
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

/// What a failure handler is told: the greenlet's id and its exception.
struct Failure {
  std::uint64_t greenlet_id;
  std::exception_ptr exception;
};

/// Where failures nobody observed go. A greenlet that ends with an exception
/// (GreenletExit aside) and is destroyed (its last handle dropped, after it
/// finished) without anyone having looked at its state through get(),
/// exception(), successful() or joinall(raise_error) is reported, as gevent
/// prints "<Greenlet> failed with X". The default handler writes
/// "green: <Greenlet 42> failed with std::runtime_error: boom (nobody observed it)"
/// to stderr; an empty function restores it. The handler is process-wide,
/// runs on the destroying thread, must not switch, and what it throws is
/// dropped. Returns the previous handler.
using FailureHandler = std::function<void(const Failure&)>;
FailureHandler set_failure_handler(FailureHandler handler);

/// "std::runtime_error: boom" (the demangled type, then what() for a
/// std::exception). For messages about exceptions of any type.
std::string describe_exception(const std::exception_ptr& e);

/// Options for spawn().
struct SpawnOptions {
  /// Stack size in bytes; 0 takes the hub's default (64 KiB, 256 KiB under
  /// AddressSanitizer). Rounded up to whole pages.
  std::size_t stack_size = 0;
};

/// Names one link() for unlink().
using LinkId = const void*;

class GreenletRef;
namespace detail {
/// The control block behind a handle, for libgreen's own primitives.
GreenletBase* base_of(const GreenletRef& g) noexcept;
}  // namespace detail

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
  /// True once spawned or start()ed (gevent's `started`): scheduled, running
  /// or finished. False for a greenlet from make_greenlet() not started yet.
  bool started() const noexcept { return p_ != nullptr && p_->state() != detail::GreenletBase::State::unstarted; }

  /// Schedules a greenlet from make_greenlet() to run (gevent's
  /// Greenlet.start()); nothing if it was started or killed already. Never
  /// switches.
  void start() const;
  /// start() once `delay` has passed (gevent's start_later). It is started()
  /// at once (join, kill and links work; a kill before the delay ends means
  /// it never runs) but holds no stack until it runs. Never switches.
  void start_later(Duration delay) const;
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

  /// Runs `callback(greenlet)` in a new greenlet once this one finishes
  /// (gevent's link); if it already has, the callback is spawned now. The
  /// callback may block. Links fire in the order they were made, after the
  /// greenlet's joiners are woken. Returns a token for unlink(). Never
  /// switches.
  LinkId link(std::function<void(GreenletRef)> callback) const;
  /// link() that fires only if the greenlet finishes successfully (a kill
  /// counts as success, as in gevent).
  LinkId link_value(std::function<void(GreenletRef)> callback) const;
  /// link() that fires only if the greenlet fails with an exception.
  LinkId link_exception(std::function<void(GreenletRef)> callback) const;
  /// Removes a link that has not fired yet; false if it already fired or
  /// is unknown. (A token, not the callback: std::function has no ==.)
  bool unlink(LinkId id) const noexcept;


 protected:
  detail::GreenletBase* p_ = nullptr;

 private:
  friend detail::GreenletBase* detail::base_of(const GreenletRef& g) noexcept;
};

inline detail::GreenletBase* detail::base_of(const GreenletRef& g) noexcept { return g.p_; }

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
  ///
  /// After kill(), gevent's get() returns the GreenletExit instance and its
  /// `value` is that instance. A C++ result has type T, which cannot hold a
  /// GreenletExit, so here get() throws GreenletKilled (a std::runtime_error),
  /// value() is empty, exception() is null and successful() and killed() are
  /// true: a kill is still a success, as in gevent.
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

/// Makes a greenlet for `f(args...)` without starting it (gevent's
/// `Greenlet(f, *args)`): start() or start_later() schedules it. Until then
/// it is not started() and not ready(); join() waits for it to be started
/// and finish; kill() marks it killed and it never runs. Needs no hub.
template <class F, class... A>
auto make_greenlet(const SpawnOptions& opts, F&& f, A&&... args) -> Greenlet<detail::spawn_result_t<F, A...>> {
  using R = detail::spawn_result_t<F, A...>;
  auto* g =
      new detail::GreenletImpl<R, std::decay_t<F>, std::decay_t<A>...>(std::forward<F>(f), std::forward<A>(args)...);
  Greenlet<R> handle(g);
  detail::make_unstarted(g, opts.stack_size);
  return handle;
}

template <class F, class... A, class = std::enable_if_t<!std::is_same_v<std::decay_t<F>, SpawnOptions>>>
auto make_greenlet(F&& f, A&&... args) -> Greenlet<detail::spawn_result_t<F, A...>> {
  return make_greenlet(SpawnOptions{}, std::forward<F>(f), std::forward<A>(args)...);
}

/// The running greenlet.
GreenletRef current();

/// See hub.hpp (declared here too for spawn_later).
void sleep(Duration d);

/// Waits until every greenlet finished or `timeout` passed; returns true if
/// all finished. With `raise_error`, rethrows the first failure as soon as
/// it happens. Switch point.
///
/// Spawn inside braces to keep gevent's order, `joinall({spawn(a), spawn(b)})`:
/// a braced list is evaluated left to right, function arguments are not.
bool joinall(const std::vector<GreenletRef>& greenlets, Duration timeout = forever, bool raise_error = false);

/// Kills every greenlet (GreenletExit), then with `block` waits for them.
void killall(const std::vector<GreenletRef>& greenlets, bool block = true, Duration timeout = forever);
namespace detail {
void killall_with(const std::vector<GreenletRef>& greenlets, const std::function<std::exception_ptr()>& make,
                  bool block, Duration timeout);
}
/// killall() raising a copy of `e` in each greenlet instead of GreenletExit
/// (gevent's killall(exception=)).
template <class E>
requires(!std::is_convertible_v<E, bool>) void killall(const std::vector<GreenletRef>& greenlets, E e,
                                                       bool block = true, Duration timeout = forever) {
  detail::killall_with(
      greenlets, [&e] { return std::make_exception_ptr(e); }, block, timeout);
}

/// joinall() that is content once `count` of the greenlets finished
/// (gevent's joinall(count=)); returns whether they did. count 0 means all.
bool joinall(const std::vector<GreenletRef>& greenlets, Duration timeout, bool raise_error, std::size_t count);

/// Something wait_objects() and iwait_objects() can wait for: a greenlet
/// (until it finishes), an Event (until it is set) or an AsyncResult (until
/// it holds a value or an exception). An Event or AsyncResult must outlive
/// the wait.
class Waitable {
 public:
  Waitable(GreenletRef g) noexcept : greenlet_(std::move(g)) {}
  template <class W>
  requires requires(W& w) {
    detail::WaitAccess::list(w);
    { w.ready() } -> std::convertible_to<bool>;
  }
  Waitable(W& w) noexcept
      : list_(&detail::WaitAccess::list(w)), object_(&w), ready_(&ready_of<W>) {}

  /// Finished, set, or holding a result.
  bool ready() const { return object_ ? ready_(object_) : greenlet_.ready(); }
  /// The greenlet, or a null handle for an Event or AsyncResult.
  const GreenletRef& greenlet() const noexcept { return greenlet_; }
  detail::WaitList& waiters() const noexcept { return object_ ? *list_ : detail::base_of(greenlet_)->joiners(); }

 private:
  template <class W>
  static bool ready_of(const void* w) {
    return static_cast<const W*>(w)->ready();
  }
  GreenletRef greenlet_;
  detail::WaitList* list_ = nullptr;
  const void* object_ = nullptr;
  bool (*ready_)(const void*) = nullptr;
};

/// The objects as they become ready, in the order they do (gevent.iwait
/// over any objects):
///
///     for (auto it = green::iwait_objects({g, ev, result}); auto i = it.next();) use(*i);
///
/// next() waits for the next one and returns its position in the list;
/// nothing once all (or `count`, when not 0) were returned or `timeout`
/// (counted from iwait_objects()) passed. Objects ready already come first,
/// in the order given. An Event set and cleared again before next() looks
/// still counts. Only the greenlet that made the iterator may call next().
/// Switch point (next()).
class ObjectWaitIterator {
 public:
  ObjectWaitIterator(std::vector<Waitable> objects, Duration timeout, std::size_t count);
  ObjectWaitIterator(ObjectWaitIterator&&) noexcept;
  ObjectWaitIterator& operator=(ObjectWaitIterator&&) = delete;
  ~ObjectWaitIterator();
  std::optional<std::size_t> next();
  const Waitable& operator[](std::size_t i) const;

  struct State;

 private:
  std::unique_ptr<State> st_;
};
ObjectWaitIterator iwait_objects(std::vector<Waitable> objects, Duration timeout = forever, std::size_t count = 0);

/// Waits until all (or `count`) of the objects are ready or `timeout`
/// passed, and returns the positions of those that are, in the order they
/// became ready (gevent.wait(objects, timeout, count)). Switch point.
std::vector<std::size_t> wait_objects(std::vector<Waitable> objects, Duration timeout = forever,
                                      std::size_t count = 0);

/// The greenlets as they finish, in the order they finish (gevent.iwait):
///
///     for (auto it = green::iwait(gs); auto g = it.next();) use(*g);
///
/// next() waits for the next one to finish; it returns nothing once all
/// (or `count`, when not 0) were returned or `timeout` (counted from
/// iwait()) passed. Greenlets that already finished come first, in the
/// order given. Switch point (next()).
class WaitIterator {
 public:
  WaitIterator(std::vector<GreenletRef> greenlets, Duration timeout, std::size_t count);
  std::optional<GreenletRef> next();

 private:
  ObjectWaitIterator it_;
};
WaitIterator iwait(std::vector<GreenletRef> greenlets, Duration timeout = forever, std::size_t count = 0);

/// Waits until all (or `count`) of the greenlets finished or `timeout`
/// passed, and returns those that finished, in the order they finished
/// (gevent.wait). Never rethrows their exceptions. Switch point.
std::vector<GreenletRef> wait(std::vector<GreenletRef> greenlets, Duration timeout = forever, std::size_t count = 0);

/// Starts `f(args...)` in a new greenlet after `delay` (gevent's
/// spawn_later): make_greenlet() then start_later(). The greenlet exists at
/// once (join, kill and links work; a kill before the delay ends means `f`
/// never runs). Never switches.
template <class F, class... A>
auto spawn_later(Duration delay, F&& f, A&&... args) -> Greenlet<detail::spawn_result_t<F, A...>> {
  auto g = make_greenlet(std::forward<F>(f), std::forward<A>(args)...);
  g.start_later(delay);
  return g;
}

}  // namespace green
