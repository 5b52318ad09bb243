#include "hub_impl.hpp"

#include <green/greenlet.hpp>
#include <green/io.hpp>

#include <boost/asio/signal_set.hpp>

namespace green {

boost::asio::io_context& io_context() { return detail::Hub::get_or_throw().io_; }

namespace detail {

IoRef::IoRef() { ++Hub::get_or_throw().io_refs_; }
IoRef::~IoRef() { --Hub::get()->io_refs_; }

void park_uninterruptible() noexcept {
  Hub& hub = *Hub::get();
  hub.current_->greenlet->state_ = GreenletBase::State::parked;
  hub.switch_out();
}

bool interrupt_pending() { return current()->pending_ != nullptr; }

}  // namespace detail

struct SignalHandler::State {
  State(boost::asio::io_context& io, std::function<void(int)> f) : set(io), fn(std::move(f)) {}
  boost::asio::signal_set set;
  std::function<void(int)> fn;
  bool active = true;

  static void arm(const std::shared_ptr<State>& st) {
    st->set.async_wait([st](const boost::system::error_code& ec, int sig) {
      if (ec || !st->active) return;
      green::spawn(st->fn, sig);
      arm(st);
    });
  }
};

SignalHandler::SignalHandler(std::initializer_list<int> signals, std::function<void(int)> fn)
    : state_(std::make_shared<State>(io_context(), std::move(fn))) {
  for (int s : signals) state_->set.add(s);
  ++detail::Hub::get()->io_passive_;
  State::arm(state_);
}

SignalHandler::~SignalHandler() { cancel(); }

void SignalHandler::cancel() noexcept {
  if (!state_ || !state_->active) return;
  state_->active = false;
  boost::system::error_code ignored;
  state_->set.cancel(ignored);
  state_->set.clear(ignored);
  if (detail::Hub* hub = detail::Hub::get()) --hub->io_passive_;
}

}  // namespace green
