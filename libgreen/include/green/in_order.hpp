// InOrder<T>: results that finish in any order, handed on in the order their
// work was started (Pool::imap, `green fetch --ordered`, `green resolve
// --ordered`), with a window that bounds how many are held back.
#pragma once

#include <green/semaphore.hpp>

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <utility>
#include <vector>

namespace green {

/// Results numbered 0, 1, 2, ... in the order their work was started, put in
/// any order, taken in number order. Take them out before writing them:
/// writing may park, and another greenlet may take the next one meanwhile.
template <class T>
class InOrder {
 public:
  /// With a `window` (not 0), start() waits while that many results are
  /// started and not yet taken, so a slow result cannot make the ones after
  /// it pile up without bound.
  explicit InOrder(std::size_t window = 0) {
    if (window) window_.emplace(window);
  }
  InOrder(const InOrder&) = delete;
  InOrder& operator=(const InOrder&) = delete;

  /// Counts one more result started, once the window has room. Switch point
  /// (waits for room).
  void start() {
    if (window_) window_->acquire();
  }

  /// Keeps result number `seq` until every earlier one was taken. Never
  /// switches.
  void put(std::uint64_t seq, T value) { held_.insert_or_assign(seq, std::move(value)); }

  /// The next result in order, if it is there; its window slot is free
  /// again. Never switches.
  std::optional<T> take() {
    auto it = held_.begin();
    if (it == held_.end() || it->first != next_) return std::nullopt;
    return pop(it);
  }

  /// Every result held, in order, earlier ones missing or not (after a
  /// stop, when the missing ones will never come). Never switches.
  std::vector<T> take_all() {
    std::vector<T> out;
    out.reserve(held_.size());
    while (!held_.empty()) out.push_back(*pop(held_.begin()));
    return out;
  }

  /// Results put and not taken yet.
  std::size_t held() const noexcept { return held_.size(); }

 private:
  std::optional<T> pop(typename std::map<std::uint64_t, T>::iterator it) {
    std::optional<T> v(std::move(it->second));
    next_ = it->first + 1;
    held_.erase(it);
    if (window_) window_->release();
    return v;
  }

  std::optional<Semaphore> window_;
  std::map<std::uint64_t, T> held_;
  std::uint64_t next_ = 0;
};

}  // namespace green
