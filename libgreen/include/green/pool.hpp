// Group and Pool: sets of greenlets managed together, and map/imap over them.
#pragma once

#include <green/greenlet.hpp>
#include <green/hub.hpp>
#include <green/in_order.hpp>
#include <green/queue.hpp>
#include <green/semaphore.hpp>

#include <cstddef>
#include <exception>
#include <functional>
#include <iterator>
#include <memory>
#include <optional>
#include <stdexcept>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

namespace green {

/// Pool::add() with a timeout that found no free slot.
class PoolFull : public std::runtime_error {
 public:
  PoolFull() : std::runtime_error("pool is full") {}
};

template <class V>
class MapRange;

namespace detail {

template <class R>
using map_value_t = std::conditional_t<std::is_void_v<R>, std::monostate, std::decay_t<R>>;

template <class V>
struct MapItem {
  std::size_t index = 0;  // input position; for the end marker, the input's length
  std::optional<V> value;
  std::exception_ptr error;
  bool end = false;
};

template <class V>
struct MapState {
  MapState(bool ord, std::size_t maxsize) : ordered(ord) {
    if (maxsize) window.emplace(maxsize);
  }
  Queue<MapItem<V>> results;
  std::optional<Semaphore> window;  // items spawned and not yet consumed
  GreenletRef feeder;
  InOrder<MapItem<V>> reorder;  // ordered mode
  std::size_t total = static_cast<std::size_t>(-1);
  std::size_t delivered = 0;
  bool ordered;
  bool settled = false;  // the end was reached once (see MapRange::next)
};

// An lvalue input is iterated in place; an rvalue one is moved into the feeder.
template <class Range>
using stored_range_t = std::conditional_t<std::is_lvalue_reference_v<Range>,
                                          std::reference_wrapper<std::remove_reference_t<Range>>, std::decay_t<Range>>;
template <class T>
T& unwrap(T& r) {
  return r;
}
template <class T>
T& unwrap(std::reference_wrapper<T> r) {
  return r.get();
}

}  // namespace detail

/// A set of greenlets managed together (gevent's Group). A greenlet leaves
/// the group once it finishes. The group must outlive its greenlets'
/// membership: destroying it kills the members without waiting (it never
/// switches), so kill() or join() first.
class Group {
 public:
  Group() = default;
  Group(const Group&) = delete;
  Group& operator=(const Group&) = delete;
  virtual ~Group();

  /// Tracks `g` until it finishes (a Pool first waits for a free slot and
  /// throws PoolFull if none comes within `timeout`). Switch point for Pool.
  void add(const GreenletRef& g, Duration timeout = forever);
  /// Stops tracking `g` (it keeps running). Never switches.
  void discard(const GreenletRef& g) noexcept;
  bool contains(const GreenletRef& g) const noexcept;
  std::size_t size() const noexcept { return size_; }
  bool empty() const noexcept { return size_ == 0; }
  std::vector<GreenletRef> greenlets() const;

  /// Waits until the group is empty (greenlets added meanwhile included) or
  /// `timeout` passes; returns empty(). With `raise_error`, rethrows the
  /// exception of a member (one in the group when join() was called) as soon
  /// as it fails, like gevent's join(raise_error=True). Switch point.
  bool join(Duration timeout = forever, bool raise_error = false);
  /// Kills every member (GreenletExit); with `block`, waits up to `timeout`
  /// for the group to empty. Switch point when blocking.
  void kill(bool block = true, Duration timeout = forever);
  /// kill() raising a copy of `e` in each member (gevent's kill(exception=)).
  template <class E>
  requires(!std::is_convertible_v<E, bool>) void kill(E e, bool block = true, Duration timeout = forever) {
    killall(greenlets(), std::move(e), block, timeout);
  }

  /// Runs `f(args...)` in a member greenlet and returns its result (or
  /// rethrows its exception): gevent's apply. Switch point.
  template <class F, class... A>
  auto apply(F&& f, A&&... args) -> detail::spawn_result_t<F, A...> {
    return spawn(std::forward<F>(f), std::forward<A>(args)...).get();
  }

  /// Spawns `f()` as a member and, if it succeeds, calls `callback(result)`
  /// (`callback()` for void) in a greenlet of its own (gevent's apply_async
  /// with a callback). Returns the member. Switch point for Pool.
  template <class F, class Callback>
  auto apply_async(F f, Callback callback) -> Greenlet<detail::spawn_result_t<F>> {
    using R = detail::spawn_result_t<F>;
    Greenlet<R> g = spawn(std::move(f));
    g.link_value([g, callback = std::move(callback)](GreenletRef) mutable {
      if (g.killed()) return;
      if constexpr (std::is_void_v<R>) {
        callback();
      } else {
        callback(*g.value());
      }
    });
    return g;
  }

  /// map() in a greenlet of its own (not a member), whose get() gives the
  /// results (gevent's map_async). `input` is copied or moved in. Never
  /// switches.
  template <class F, class Range>
  auto map_async(F f, Range&& input) {
    return green::spawn([this, f = std::move(f), in = std::decay_t<Range>(std::forward<Range>(input))]() mutable {
      return map(std::move(f), in);
    });
  }

  /// Spawns `f(args...)` as a member (a Pool waits for a free slot first).
  /// Switch point for Pool.
  template <class F, class... A>
  auto spawn(F&& f, A&&... args) -> Greenlet<detail::spawn_result_t<F, A...>> {
    acquire_slot(forever);
    Greenlet<detail::spawn_result_t<F, A...>> g;
    try {
      g = green::spawn(std::forward<F>(f), std::forward<A>(args)...);
    } catch (...) {
      release_slot();
      throw;
    }
    insert(g);
    return g;
  }

  /// Calls `f` on every element of `input` in member greenlets and yields the
  /// results in input order as they become available (Pool.imap). At most
  /// `maxsize` results are in flight or buffered (0: no limit), which bounds
  /// memory for long inputs. A task's exception is rethrown when its turn
  /// comes. The input is iterated by a feeder greenlet; an lvalue input must
  /// outlive the iteration, an rvalue one is moved in.
  template <class F, class Range>
  auto imap(F f, Range&& input, std::size_t maxsize = 0) {
    return start_map<F, Range>(std::move(f), std::forward<Range>(input), true, maxsize);
  }

  /// Like imap, but yields each result as soon as it is done.
  template <class F, class Range>
  auto imap_unordered(F f, Range&& input, std::size_t maxsize = 0) {
    return start_map<F, Range>(std::move(f), std::forward<Range>(input), false, maxsize);
  }

  /// imap collected into a vector. Switch point.
  template <class F, class Range>
  auto map(F f, Range&& input) {
    auto results = imap(std::move(f), std::forward<Range>(input));
    using V = typename decltype(results)::value_type;
    std::vector<V> out;
    while (auto v = results.next()) out.push_back(std::move(*v));
    return out;
  }

 protected:
  /// Pool's hooks: take a slot before a member joins, give it back after.
  virtual void acquire_slot(Duration timeout) { (void)timeout; }
  virtual void release_slot() noexcept {}

 private:
  struct Member : detail::Link {
    Member(Group* grp, GreenletRef r) : Link(&Group::on_done), group(grp), ref(std::move(r)) {}
    Group* group;
    GreenletRef ref;
    Member* prev = nullptr;
    Member* next = nullptr;
  };
  static void on_done(detail::Link* l, detail::GreenletBase& g);
  void insert(const GreenletRef& g);
  void remove(Member* m) noexcept;

  template <class F, class Range>
  auto start_map(F f, Range&& input, bool ordered, std::size_t maxsize);

  Member* head_ = nullptr;
  Member* tail_ = nullptr;
  std::size_t size_ = 0;
  detail::WaitList join_waiters_;
};

/// A Group with at most `size` members at a time (0: unbounded): spawn() and
/// add() wait while it is full.
class Pool : public Group {
 public:
  explicit Pool(std::size_t size = 0) : size_(size), slots_(size) {}
  ~Pool() override = default;

  /// The most members it holds at once; 0 means unbounded.
  std::size_t capacity() const noexcept { return size_; }
  bool full() const noexcept { return size_ != 0 && slots_.value() == 0; }
  /// Free slots (for an unbounded pool, SIZE_MAX).
  std::size_t free_count() const noexcept { return size_ ? slots_.value() : static_cast<std::size_t>(-1); }
  /// Waits up to `timeout` until a slot is free; returns whether one is.
  /// Switch point.
  bool wait_available(Duration timeout = forever);

 protected:
  void acquire_slot(Duration timeout) override;
  void release_slot() noexcept override;

 private:
  std::size_t size_;
  Semaphore slots_;
};

/// The results of imap/imap_unordered: an input range that waits for each
/// result. Destroying it early stops feeding new tasks (the feeder is
/// killed); tasks already running finish on their own.
template <class V>
class MapRange {
 public:
  using value_type = V;

  explicit MapRange(std::shared_ptr<detail::MapState<V>> st) : st_(std::move(st)) {}
  MapRange(MapRange&&) noexcept = default;
  MapRange& operator=(MapRange&&) noexcept = default;
  ~MapRange() {
    if (st_ && st_->feeder && !st_->feeder.dead())
      detail::interrupt(detail::base_of(st_->feeder), std::make_exception_ptr(GreenletExit()), nullptr);
  }

  /// The next result, or nothing at the end; rethrows a task's exception.
  /// Switch point.
  std::optional<V> next() {
    detail::MapState<V>& s = *st_;
    for (;;) {
      if (s.ordered) {
        if (std::optional<detail::MapItem<V>> item = s.reorder.take()) return deliver(*item);
      }
      if (s.delivered == s.total) {
        if (!s.settled) {
          // The last tasks put their results and finished, but their Group
          // membership ends in their notifiers, queued behind this greenlet:
          // let those run, so that once a map is over its greenlets have left
          // (size(), free_count() and full() say so).
          s.settled = true;
          green::sleep(Duration::zero());
        }
        return std::nullopt;
      }
      detail::MapItem<V> item = s.results.get();
      if (item.end) {
        s.total = item.index;
        continue;
      }
      if (s.ordered) {
        s.reorder.put(item.index, std::move(item));
        continue;
      }
      return deliver(item);
    }
  }

  class iterator {
   public:
    using iterator_category = std::input_iterator_tag;
    using value_type = V;
    using difference_type = std::ptrdiff_t;
    iterator() = default;
    explicit iterator(MapRange* r) : r_(r) { ++*this; }
    V& operator*() { return *cur_; }
    iterator& operator++() {
      cur_ = r_->next();
      if (!cur_) r_ = nullptr;
      return *this;
    }
    void operator++(int) { ++*this; }
    friend bool operator==(const iterator& a, const iterator& b) { return a.r_ == b.r_; }

   private:
    MapRange* r_ = nullptr;
    std::optional<V> cur_;
  };
  iterator begin() { return iterator(this); }
  iterator end() { return iterator(); }

 private:
  std::optional<V> deliver(detail::MapItem<V>& item) {
    ++st_->delivered;
    if (st_->window) st_->window->release();
    if (item.error) std::rethrow_exception(item.error);
    return std::move(item.value);
  }
  std::shared_ptr<detail::MapState<V>> st_;
};

template <class F, class Range>
auto Group::start_map(F f, Range&& input, bool ordered, std::size_t maxsize) {
  using X = std::decay_t<decltype(*std::begin(input))>;
  using R = std::invoke_result_t<F&, X&>;
  using V = detail::map_value_t<R>;
  auto st = std::make_shared<detail::MapState<V>>(ordered, maxsize);
  auto fn = std::make_shared<F>(std::move(f));
  detail::stored_range_t<Range&&> stored(std::forward<Range>(input));
  st->feeder = green::spawn([this, st, fn, stored = std::move(stored)]() mutable {
    std::size_t i = 0;
    try {
      for (auto&& x : detail::unwrap(stored)) {
        if (st->window) st->window->acquire();
        spawn([st, fn, i, x = X(x)]() mutable {
          detail::MapItem<V> item;
          item.index = i;
          try {
            if constexpr (std::is_void_v<R>) {
              (*fn)(x);
              item.value.emplace();
            } else {
              item.value.emplace((*fn)(x));
            }
          } catch (const GreenletExit&) {
            item.error = std::make_exception_ptr(GreenletKilled());
            st->results.put_nowait(std::move(item));
            throw;
          } catch (...) {
            item.error = std::current_exception();
          }
          st->results.put_nowait(std::move(item));
        });
        ++i;
      }
    } catch (const GreenletExit&) {
      throw;
    } catch (...) {
      // The input itself failed: report it in the position it failed at.
      detail::MapItem<V> item;
      item.index = i++;
      item.error = std::current_exception();
      st->results.put_nowait(std::move(item));
    }
    detail::MapItem<V> end;
    end.index = i;
    end.end = true;
    st->results.put_nowait(std::move(end));
  });
  return MapRange<V>(std::move(st));
}

}  // namespace green
