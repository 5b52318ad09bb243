// A cache whose entries live until the hub has run every greenlet that was
// ready when the first of them went in: one round of the hub, the time it
// takes to serve the requests that arrived together. h2o keeps its open
// files exactly that long (it clears its file cache after each turn of its
// event loop); nginx's open_file_cache, when turned on, keeps them for
// open_file_cache_valid (60 s by default).
//
// So an answer made from the file system is reused only by requests that
// were already being served when it was made: a file replaced, removed or
// reached through a symlink swapped meanwhile is seen by the first request
// that comes after the round, as if there were no cache (a request that
// arrived in the same round raced with the change either way). "Already
// being served" needs the request's bytes to have come with the hub's I/O
// poll: one read at once after the connection's previous answer (pipelined,
// or sent while the server was busy) may have been sent after a change made
// since the entry went in, so callers ask only for requests that waited
// (web::Request::waited).
//
// The end of the round is a greenlet spawned with the first entry: the hub's
// ready queue is FIFO, so it runs after everything that was ready then and
// before anything that I/O wakes later.
#pragma once

#include <green/greenlet.hpp>

#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>

namespace green::tools::serve {

template <class V>
class RoundCache {
 public:
  /// At most `max_entries` at once; put() beyond that keeps nothing.
  explicit RoundCache(std::size_t max_entries) : max_(max_entries) {}

  /// The entry for `key`, if one was put in this round. Callers that may
  /// switch while they use it hold on to the shared_ptr.
  std::shared_ptr<const V> find(std::string_view key) const {
    const auto it = s_->map.find(key);
    return it == s_->map.end() ? nullptr : it->second;
  }

  /// Keeps `value` under `key` until the round ends. Must run in a greenlet
  /// of the hub the cache serves.
  void put(std::string_view key, std::shared_ptr<const V> value) {
    if (s_->map.size() >= max_) return;
    s_->map.insert_or_assign(std::string(key), std::move(value));
    if (s_->clear_pending) return;
    s_->clear_pending = true;
    // Shared with the greenlet: the cache may be gone before the round ends.
    green::spawn([s = s_] {
      s->map.clear();
      s->clear_pending = false;
    });
  }

  std::size_t size() const noexcept { return s_->map.size(); }

 private:
  struct Hash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const noexcept { return std::hash<std::string_view>{}(s); }
  };
  struct State {
    std::unordered_map<std::string, std::shared_ptr<const V>, Hash, std::equal_to<>> map;
    bool clear_pending = false;
  };
  std::shared_ptr<State> s_ = std::make_shared<State>();
  std::size_t max_;
};

}  // namespace green::tools::serve
