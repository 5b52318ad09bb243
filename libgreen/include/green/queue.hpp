// Queue<T>: a FIFO greenlets hand items through, bounded or not; its
// PriorityQueue and LifoQueue orders, JoinableQueue (task_done/join) and
// Channel (a hand-over with no buffer).
#pragma once

#include <green/detail/core.hpp>

#include <algorithm>
#include <cstddef>
#include <deque>
#include <functional>
#include <iterator>
#include <optional>
#include <stdexcept>
#include <utility>
#include <vector>

namespace green {

/// get_nowait() on an empty queue, or get(timeout) that ran out.
class QueueEmpty : public std::runtime_error {
 public:
  QueueEmpty() : std::runtime_error("queue is empty") {}
};
/// put_nowait() on a full queue, or put(timeout) that ran out.
class QueueFull : public std::runtime_error {
 public:
  QueueFull() : std::runtime_error("queue is full") {}
};
/// put() on a closed queue, or get() on one that is closed and drained.
class QueueClosed : public std::runtime_error {
 public:
  QueueClosed() : std::runtime_error("queue is closed") {}
};

namespace detail {

// The order a Queue hands its buffered items out in.
template <class T>
class FifoItems {
 public:
  std::size_t size() const noexcept { return d_.size(); }
  bool empty() const noexcept { return d_.empty(); }
  void push(T&& v) { d_.push_back(std::move(v)); }
  const T& peek() const { return d_.front(); }
  T take() {
    T v(std::move(d_.front()));
    d_.pop_front();
    return v;
  }

 private:
  std::deque<T> d_;
};

template <class T>
class LifoItems {
 public:
  std::size_t size() const noexcept { return d_.size(); }
  bool empty() const noexcept { return d_.empty(); }
  void push(T&& v) { d_.push_back(std::move(v)); }
  const T& peek() const { return d_.back(); }
  T take() {
    T v(std::move(d_.back()));
    d_.pop_back();
    return v;
  }

 private:
  std::vector<T> d_;
};

// Smallest first (by Less), like gevent's PriorityQueue (heapq); equal items
// in no particular order.
template <class T, class Less>
class HeapItems {
 public:
  std::size_t size() const noexcept { return d_.size(); }
  bool empty() const noexcept { return d_.empty(); }
  void push(T&& v) {
    d_.push_back(std::move(v));
    std::push_heap(d_.begin(), d_.end(), greater_);
  }
  const T& peek() const { return d_.front(); }
  T take() {
    std::pop_heap(d_.begin(), d_.end(), greater_);
    T v(std::move(d_.back()));
    d_.pop_back();
    return v;
  }

 private:
  struct Greater {
    Less less;
    bool operator()(const T& a, const T& b) const { return less(b, a); }
  };
  std::vector<T> d_;
  Greater greater_;
};

}  // namespace detail

/// A FIFO queue between greenlets. `maxsize` 0 means unbounded. An item put
/// while greenlets wait in get() goes straight to the longest waiting one;
/// a get() that frees a slot lets the longest waiting put() in. So items and
/// waiters are served strictly first come, first served.
///
/// close() ends it: later puts throw QueueClosed, gets drain what is left and
/// then end (next() returns nothing, get() throws QueueClosed), so
/// `for (auto& item : queue)` or `while (auto item = queue.next())` finishes.
///
/// `Items` chooses the order buffered items leave in: see PriorityQueue and
/// LifoQueue.
template <class T, class Items = detail::FifoItems<T>>
class Queue {
 public:
  explicit Queue(std::size_t maxsize = 0) : maxsize_(maxsize) {}
  Queue(const Queue&) = delete;
  Queue& operator=(const Queue&) = delete;

  std::size_t size() const noexcept { return items_.size(); }
  bool empty() const noexcept { return items_.empty(); }
  bool full() const noexcept { return maxsize_ != 0 && items_.size() >= maxsize_; }
  std::size_t maxsize() const noexcept { return maxsize_; }
  bool closed() const noexcept { return closed_; }
  /// Greenlets waiting in get().
  std::size_t getters() const noexcept { return getters_.size(); }

  /// Puts `item`, waiting up to `timeout` while the queue is full; throws
  /// QueueFull if it stays full, QueueClosed if the queue is (or gets)
  /// closed. Switch point when it waits.
  void put(T item, Duration timeout = forever) {
    if (try_put(item)) return;
    if (timeout <= Duration::zero()) throw QueueFull();
    detail::WaitNode node(detail::current());
    node.slot = &item;
    if (!detail::wait_on(putters_, node, detail::deadline_after(timeout))) throw QueueFull();
    if (node.slot == nullptr) throw QueueClosed();
  }

  /// Puts without waiting; throws QueueFull or QueueClosed. Never switches.
  void put_nowait(T item) {
    if (!try_put(item)) throw QueueFull();
  }

  /// Takes the oldest item, waiting up to `timeout` for one; throws
  /// QueueEmpty when the time runs out, QueueClosed once closed and drained.
  /// Switch point when it waits.
  T get(Duration timeout = forever) {
    if (auto v = take()) return std::move(*v);
    if (closed_) throw QueueClosed();
    if (timeout <= Duration::zero()) throw QueueEmpty();
    std::optional<T> slot;
    detail::WaitNode node(detail::current());
    node.slot = &slot;
    if (!detail::wait_on(getters_, node, detail::deadline_after(timeout))) throw QueueEmpty();
    if (!slot) throw QueueClosed();
    return std::move(*slot);
  }

  /// Takes without waiting; throws QueueEmpty or QueueClosed. Never switches.
  T get_nowait() {
    if (auto v = take()) return std::move(*v);
    if (closed_) throw QueueClosed();
    throw QueueEmpty();
  }

  /// The next item, or nothing once the queue is closed and drained. Waits
  /// like get(). Switch point.
  std::optional<T> next() {
    if (auto v = take()) return v;
    if (closed_) return std::nullopt;
    std::optional<T> slot;
    detail::WaitNode node(detail::current());
    node.slot = &slot;
    detail::wait_on(getters_, node, detail::no_deadline);
    return slot;
  }

  /// The oldest item without taking it; throws QueueEmpty.
  const T& peek() const {
    if (items_.empty()) throw QueueEmpty();
    return items_.peek();
  }

  /// Closes the queue: waiting getters end, waiting putters get QueueClosed.
  /// Items already queued can still be taken. Never switches.
  void close() noexcept {
    closed_ = true;
    while (detail::WaitNode* n = detail::grant_front(putters_)) n->slot = nullptr;
    while (detail::grant_front(getters_)) {
    }
  }

  class iterator {
   public:
    using iterator_category = std::input_iterator_tag;
    using value_type = T;
    using difference_type = std::ptrdiff_t;
    iterator() = default;
    explicit iterator(Queue* q) : q_(q) { ++*this; }
    T& operator*() { return *cur_; }
    iterator& operator++() {
      cur_ = q_->next();
      if (!cur_) q_ = nullptr;
      return *this;
    }
    void operator++(int) { ++*this; }
    friend bool operator==(const iterator& a, const iterator& b) { return a.q_ == b.q_; }

   private:
    Queue* q_ = nullptr;
    std::optional<T> cur_;
  };
  /// Iterates until the queue is closed and drained. Each step may wait.
  iterator begin() { return iterator(this); }
  iterator end() { return iterator(); }

 private:
  bool try_put(T& item) {
    if (closed_) throw QueueClosed();
    if (detail::WaitNode* n = detail::grant_front(getters_)) {
      static_cast<std::optional<T>*>(n->slot)->emplace(std::move(item));
      return true;
    }
    if (full()) return false;
    items_.push(std::move(item));
    return true;
  }

  std::optional<T> take() {
    if (items_.empty()) return std::nullopt;
    std::optional<T> v(items_.take());
    if (detail::WaitNode* n = detail::grant_front(putters_)) items_.push(std::move(*static_cast<T*>(n->slot)));
    return v;
  }

  Items items_;
  std::size_t maxsize_;
  detail::WaitList getters_;
  detail::WaitList putters_;
  bool closed_ = false;
};

/// A Queue that hands out its smallest item first (by `Less`), as gevent's
/// PriorityQueue; items of equal rank leave in no particular order.
template <class T, class Less = std::less<T>>
using PriorityQueue = Queue<T, detail::HeapItems<T, Less>>;

/// A Queue that hands out its newest item first (gevent's LifoQueue).
template <class T>
using LifoQueue = Queue<T, detail::LifoItems<T>>;

/// A Queue that counts unfinished tasks (gevent's JoinableQueue): every put
/// adds one, every task_done() removes one, and join() waits until none are
/// left, i.e. until every item put was taken and processed.
template <class T>
class JoinableQueue : public Queue<T> {
 public:
  explicit JoinableQueue(std::size_t maxsize = 0) : Queue<T>(maxsize) {}

  /// Queue::put, counting a task. Switch point when it waits.
  void put(T item, Duration timeout = forever) {
    ++unfinished_;  // before: a getter may finish the item before put() returns
    try {
      Queue<T>::put(std::move(item), timeout);
    } catch (...) {
      --unfinished_;
      throw;
    }
  }
  /// Queue::put_nowait, counting a task. Never switches.
  void put_nowait(T item) {
    ++unfinished_;
    try {
      Queue<T>::put_nowait(std::move(item));
    } catch (...) {
      --unfinished_;
      throw;
    }
  }

  /// One item taken earlier is processed. Throws std::logic_error when
  /// called more times than items were put. Never switches.
  void task_done() {
    if (unfinished_ == 0) throw std::logic_error("green: task_done() called more times than items were put");
    if (--unfinished_ == 0)
      while (detail::grant_front(joiners_)) {
      }
  }

  /// Waits until every item put has been task_done() or `timeout` passes;
  /// returns whether none are left. Switch point when it waits.
  bool join(Duration timeout = forever) {
    if (unfinished_ == 0) return true;
    if (timeout <= Duration::zero()) return false;
    detail::WaitNode node(detail::current());
    return detail::wait_on(joiners_, node, detail::deadline_after(timeout));
  }

  /// Items put and not task_done() yet.
  std::size_t unfinished_tasks() const noexcept { return unfinished_; }

 private:
  std::size_t unfinished_ = 0;
  detail::WaitList joiners_;
};

/// A hand-over with no buffer (gevent's Channel): put() waits until a
/// getter takes the item, get() until a putter offers one. Both serve their
/// waiters first come, first served.
template <class T>
class Channel {
 public:
  Channel() = default;
  Channel(const Channel&) = delete;
  Channel& operator=(const Channel&) = delete;

  /// Greenlets waiting in get() / put().
  std::size_t getters() const noexcept { return getters_.size(); }
  std::size_t putters() const noexcept { return putters_.size(); }

  /// Hands `item` to a getter, waiting up to `timeout` for one; throws
  /// QueueFull if none came. Switch point when it waits.
  void put(T item, Duration timeout = forever) {
    if (detail::WaitNode* n = detail::grant_front(getters_)) {
      static_cast<std::optional<T>*>(n->slot)->emplace(std::move(item));
      return;
    }
    if (timeout <= Duration::zero()) throw QueueFull();
    detail::WaitNode node(detail::current());
    node.slot = &item;  // a getter moves it out while this greenlet is parked
    if (!detail::wait_on(putters_, node, detail::deadline_after(timeout))) throw QueueFull();
  }
  /// put() without waiting: needs a greenlet waiting in get().
  void put_nowait(T item) { put(std::move(item), Duration::zero()); }

  /// Takes an item from a putter, waiting up to `timeout` for one; throws
  /// QueueEmpty if none came. Switch point when it waits.
  T get(Duration timeout = forever) {
    if (detail::WaitNode* n = detail::grant_front(putters_)) return std::move(*static_cast<T*>(n->slot));
    if (timeout <= Duration::zero()) throw QueueEmpty();
    std::optional<T> slot;
    detail::WaitNode node(detail::current());
    node.slot = &slot;
    if (!detail::wait_on(getters_, node, detail::deadline_after(timeout))) throw QueueEmpty();
    return std::move(*slot);
  }
  /// get() without waiting: needs a greenlet waiting in put().
  T get_nowait() { return get(Duration::zero()); }

 private:
  detail::WaitList getters_;
  detail::WaitList putters_;
};

}  // namespace green
