// gevent's spelling of signal handlers: green::signal_handler(SIGQUIT, fn).
#pragma once

#include <green/io.hpp>

#include <functional>
#include <memory>
#include <utility>

namespace green {

/// Runs `fn(sig)` in a new greenlet each time `sig` arrives, until the
/// returned handler is destroyed or cancel()ed (gevent.signal_handler). Does
/// not keep green::run waiting. Throws outside green::run. Never switches.
[[nodiscard]] inline std::unique_ptr<SignalHandler> signal_handler(int sig, std::function<void(int)> fn) {
  return std::make_unique<SignalHandler>(std::initializer_list<int>{sig}, std::move(fn));
}

/// The same for a handler that does not need the signal number.
[[nodiscard]] inline std::unique_ptr<SignalHandler> signal_handler(int sig, std::function<void()> fn) {
  return signal_handler(sig, std::function<void(int)>([f = std::move(fn)](int) { f(); }));
}

}  // namespace green
