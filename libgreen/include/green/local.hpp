// Local<T>: greenlet-local storage.
#pragma once

#include <green/detail/greenlet_base.hpp>

#include <cstdint>
#include <utility>

namespace green {

namespace detail {
std::uint64_t local_new_key() noexcept;
void* local_find(std::uint64_t key);
void local_insert(std::uint64_t key, void* value, void (*destroy)(void*));
void local_erase(std::uint64_t key);
}  // namespace detail

/// A value each greenlet has its own copy of (gevent.local). A greenlet
/// never sees another's value; values are destroyed when their greenlet
/// finishes. Must be used from inside a greenlet.
template <class T>
class Local {
 public:
  Local() noexcept : key_(detail::local_new_key()) {}
  Local(const Local&) = delete;
  Local& operator=(const Local&) = delete;

  /// This greenlet's value, or null if it has none.
  T* get() const { return static_cast<T*>(detail::local_find(key_)); }
  bool has() const { return get() != nullptr; }

  /// Sets this greenlet's value.
  T& set(T value) {
    if (T* p = get()) return *p = std::move(value);
    return emplace(std::move(value));
  }
  /// Replaces this greenlet's value with one built from `args`.
  template <class... A>
  T& emplace(A&&... args) {
    reset();
    T* p = new T(std::forward<A>(args)...);
    detail::local_insert(key_, p, [](void* v) { delete static_cast<T*>(v); });
    return *p;
  }
  /// Removes this greenlet's value.
  void reset() { detail::local_erase(key_); }

  /// This greenlet's value, default-constructed on first use.
  T& operator*() {
    if (T* p = get()) return *p;
    return emplace();
  }
  T* operator->() { return &**this; }

 private:
  std::uint64_t key_;
};

}  // namespace green
