// Queue<T>: a FIFO greenlets hand items through, bounded or not.
#pragma once

#include <green/detail/core.hpp>

#include <cstddef>
#include <deque>
#include <iterator>
#include <optional>
#include <stdexcept>
#include <utility>

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

/// A FIFO queue between greenlets. `maxsize` 0 means unbounded. An item put
/// while greenlets wait in get() goes straight to the longest waiting one;
/// a get() that frees a slot lets the longest waiting put() in. So items and
/// waiters are served strictly first come, first served.
///
/// close() ends it: later puts throw QueueClosed, gets drain what is left and
/// then end (next() returns nothing, get() throws QueueClosed), so
/// `for (auto& item : queue)` or `while (auto item = queue.next())` finishes.
template <class T>
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
    return items_.front();
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
    items_.push_back(std::move(item));
    return true;
  }

  std::optional<T> take() {
    if (items_.empty()) return std::nullopt;
    std::optional<T> v(std::move(items_.front()));
    items_.pop_front();
    if (detail::WaitNode* n = detail::grant_front(putters_)) items_.push_back(std::move(*static_cast<T*>(n->slot)));
    return v;
  }

  std::deque<T> items_;
  std::size_t maxsize_;
  detail::WaitList getters_;
  detail::WaitList putters_;
  bool closed_ = false;
};

}  // namespace green
