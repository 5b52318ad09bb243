// green::yield: the completion token that runs any Asio or Beast asynchronous
// operation on the calling greenlet.
//
//     std::size_t n = sock.async_read_some(buf, green::yield);      // throws
//     boost::system::error_code ec;
//     http::async_read(sock, buffer, req, green::yield[ec]);        // fills ec
//
// The operation starts, the greenlet parks (others run) and resumes through
// the hub's ready queue when the completion handler runs, never inside it.
// A kill or an enclosing green::Timeout while it waits emits a cancellation
// (terminal | total) on the operation's own cancellation slot, waits for the
// aborted completion (so nothing touches the greenlet's buffers afterwards)
// and then raises GreenletExit or the Timeout: cancellation is never an error
// code. Terminal cancellation may leave the I/O object usable only for
// closing, as Asio documents.
//
// The operation must support per-operation cancellation (Asio's sockets,
// timers, acceptors and composed operations, Beast's HTTP and WebSocket
// operations all do). One that does not keeps a killed greenlet parked until
// it completes by itself.
//
// The value returned is the completion's: `void(error_code)` -> void,
// `void(error_code, T)` -> T, `void(error_code, T, U)` -> std::tuple<T, U>,
// `void(T)` -> T. Without [ec], a non-zero error_code throws
// boost::system::system_error (a std::system_error-compatible code).
#pragma once

#include <green/io.hpp>

#include <boost/asio/async_result.hpp>
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/system/error_code.hpp>
#include <boost/system/system_error.hpp>

#include <tuple>
#include <type_traits>
#include <utility>

namespace green {

/// The token type; use the `green::yield` object.
class yield_t {
 public:
  constexpr yield_t() noexcept = default;

  /// The same token, but a failed operation stores its error in `ec` (and
  /// clears it on success) instead of throwing.
  constexpr yield_t operator[](boost::system::error_code& ec) const noexcept {
    yield_t y;
    y.ec_ = &ec;
    return y;
  }

  boost::system::error_code* error_target() const noexcept { return ec_; }

 private:
  boost::system::error_code* ec_ = nullptr;
};

/// Completion token: `op(args..., green::yield)` waits on the current
/// greenlet. Switch point (see above).
inline constexpr yield_t yield{};

namespace detail {

/// Starts `init(handler, args...)` with a handler bound to a cancellation
/// slot of our own, parks until it completes, and on kill/Timeout cancels
/// through that slot. Returns the completion's arguments.
template <class... Args, class Initiation, class... InitArgs>
std::tuple<Args...> await_cancellable(Initiation&& init, InitArgs&&... args) {
  boost::asio::cancellation_signal signal;
  return green::await_op<Args...>(
      [&](auto handler) {
        std::forward<Initiation>(init)(boost::asio::bind_cancellation_slot(signal.slot(), std::move(handler)),
                                       std::forward<InitArgs>(args)...);
      },
      [&] { signal.emit(boost::asio::cancellation_type::terminal | boost::asio::cancellation_type::total); });
}

template <class T>
inline constexpr bool is_error_code_v = std::is_same_v<std::decay_t<T>, boost::system::error_code>;

// Turns the completion's arguments into what the initiating function returns.
template <class... Args>
struct YieldResult;

template <>
struct YieldResult<> {
  using type = void;
  static void take(yield_t, std::tuple<>) {}
};

template <class First, class... Rest>
struct YieldResult<First, Rest...> {
  static constexpr bool has_ec = is_error_code_v<First>;
  template <class... T>
  static auto value(std::tuple<T...>&& t) {
    if constexpr (sizeof...(T) == 0) {
      return;
    } else if constexpr (sizeof...(T) == 1) {
      return std::move(std::get<0>(t));
    } else {
      return std::move(t);
    }
  }
  static auto take(yield_t y, std::tuple<std::decay_t<First>, std::decay_t<Rest>...>&& all) {
    if constexpr (has_ec) {
      boost::system::error_code ec = std::get<0>(all);
      if (boost::system::error_code* out = y.error_target()) {
        *out = ec;
      } else if (ec) {
        throw boost::system::system_error(ec);
      }
      return std::apply(
          [](auto&&, auto&&... rest) { return value(std::tuple<std::decay_t<Rest>...>(std::move(rest)...)); },
          std::move(all));
    } else {
      return value(std::move(all));
    }
  }
};

}  // namespace detail
}  // namespace green

// Doxygen 1.9.4 stops with "Internal inconsistency" on this specialisation
// (docs/Doxyfile.in defines GREEN_DOXYGEN); it is no API of its own anyway.
#ifndef GREEN_DOXYGEN
template <class R, class... Args>
class boost::asio::async_result<green::yield_t, R(Args...)> {
 public:
  template <class Initiation, class... InitArgs>
  static auto initiate(Initiation&& init, green::yield_t y, InitArgs&&... args) {
    auto all = green::detail::await_cancellable<std::decay_t<Args>...>(std::forward<Initiation>(init),
                                                                       std::forward<InitArgs>(args)...);
    return green::detail::YieldResult<Args...>::take(y, std::move(all));
  }
};
#endif
