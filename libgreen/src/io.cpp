#include "fork.hpp"
#include "hub_impl.hpp"

#include <green/greenlet.hpp>
#include <green/io.hpp>

#include <green/timeout.hpp>

#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/system/system_error.hpp>

#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <map>
#include <system_error>
#include <vector>

namespace green {

boost::asio::io_context& io_context() { return detail::Hub::get_or_throw().io_; }

namespace detail {

IoRef::IoRef() { ++Hub::get_or_throw().io_refs_; }
IoRef::~IoRef() { --Hub::get()->io_refs_; }

PassiveRef::PassiveRef() { ++Hub::get_or_throw().io_passive_; }
// A watcher destroyed with its hub (a pending handler's capture freed by
// the io_context) has nothing left to count.
PassiveRef::~PassiveRef() {
  if (Hub* hub = Hub::get()) --hub->io_passive_;
}

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
  std::optional<detail::PassiveRef> active{std::in_place};

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
  State::arm(state_);
}

SignalHandler::~SignalHandler() { cancel(); }

void SignalHandler::cancel() noexcept {
  if (!state_ || !state_->active) return;
  state_->active.reset();
  boost::system::error_code ignored;
  state_->set.cancel(ignored);
  state_->set.clear(ignored);
}

std::span<char> scratch_buffer() {
  constexpr std::size_t kSize = 64 * 1024;
  static thread_local std::unique_ptr<char[]> buf;
  if (!buf) buf = std::make_unique_for_overwrite<char[]>(kSize);
  return {buf.get(), kSize};
}

// ---- fork ------------------------------------------------------------------

namespace detail {

namespace {
thread_local ForkHook* t_fork_first = nullptr;
thread_local ForkHook* t_fork_last = nullptr;
}  // namespace

ForkHook::ForkHook() noexcept : prev_(t_fork_last) {
  (prev_ ? prev_->next_ : t_fork_first) = this;
  t_fork_last = this;
}

ForkHook::~ForkHook() {
  (prev_ ? prev_->next_ : t_fork_first) = next_;
  (next_ ? next_->prev_ : t_fork_last) = prev_;
}

void sever_descriptor(int fd) noexcept {
  // Unconnected: reads and writes fail at once, and epoll takes it.
  const int own = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (own < 0) return;
  ::dup3(own, fd, O_CLOEXEC);
  ::close(own);
}

void fork_child_sever() noexcept {
  for (ForkHook* h = t_fork_first; h; h = h->next_) h->sever();
}

void fork_child_rebuild() {
  // Walk a copy: a rebuild may make or drop hooks.
  std::vector<ForkHook*> hooks;
  for (ForkHook* h = t_fork_first; h; h = h->next_) hooks.push_back(h);
  for (ForkHook* h : hooks) h->rebuild();
}

}  // namespace detail

int fork() {
  using boost::asio::execution_context;
  detail::Hub& hub = detail::Hub::get_or_throw();
  hub.io_.notify_fork(execution_context::fork_prepare);
  detail::thread_pools_prepare_fork();
  const pid_t pid = ::fork();
  if (pid < 0) {
    const int e = errno;
    detail::thread_pools_after_fork(false);
    hub.io_.notify_fork(execution_context::fork_parent);
    throw std::system_error(e, std::generic_category(), "green::fork");
  }
  if (pid > 0) {
    detail::thread_pools_after_fork(false);
    hub.io_.notify_fork(execution_context::fork_parent);
    return pid;
  }
  detail::fork_child_sever();
  hub.io_.notify_fork(execution_context::fork_child);
  detail::thread_pools_after_fork(true);
  detail::fork_child_rebuild();
  return 0;
}

// ---- wait_read / wait_write / select ----------------------------------------

namespace {

using Descriptor = boost::asio::posix::stream_descriptor;

struct Expired {};  // raised by the select's own Timeout

// One watched descriptor; released, never closed: the caller owns `fd`.
struct Watch {
  explicit Watch(int fd) : d(green::io_context(), fd) {}
  ~Watch() { d.release(); }
  Descriptor d;
};

// One wait of select(): a condition on a watched descriptor.
struct FdWait {
  int fd;
  Descriptor::wait_type what;
  bool done = false;
  boost::system::error_code ec;
};

}  // namespace

SelectResult select(const std::vector<int>& read_fds, const std::vector<int>& write_fds, Duration timeout) {
  return select(read_fds, write_fds, {}, timeout);
}

SelectResult select(const std::vector<int>& read_fds, const std::vector<int>& write_fds,
                    const std::vector<int>& except_fds, Duration timeout) {
  detail::check_interrupt();
  std::map<int, std::unique_ptr<Watch>> watches;  // one per descriptor: epoll takes each once
  std::vector<FdWait> waits;
  waits.reserve(read_fds.size() + write_fds.size() + except_fds.size());
  for (int fd : read_fds) waits.push_back({fd, Descriptor::wait_read, false, {}});
  for (int fd : write_fds) waits.push_back({fd, Descriptor::wait_write, false, {}});
  for (int fd : except_fds) waits.push_back({fd, Descriptor::wait_error, false, {}});
  for (const FdWait& w : waits)
    if (!watches.count(w.fd)) watches.emplace(w.fd, std::make_unique<Watch>(w.fd));

  detail::GreenletBase* self = detail::current();
  detail::IoRef io;
  std::size_t completed = 0;
  auto ready = [&] { return std::any_of(waits.begin(), waits.end(), [](const FdWait& w) { return w.done && !w.ec; }); };
  for (FdWait& w : waits) {
    watches[w.fd]->d.async_wait(w.what,
                                [&completed, self, wp = &w](const boost::system::error_code& ec) {
                                  wp->done = true;
                                  wp->ec = ec;
                                  ++completed;
                                  detail::wake(self);
                                });
  }
  // The handlers point into this frame: whatever happens, cancel what is
  // left and wait for every completion before leaving.
  auto settle = [&]() noexcept {
    for (auto& [fd, watch] : watches) {
      boost::system::error_code ignored;
      watch->d.cancel(ignored);
    }
    while (completed < waits.size()) detail::park_uninterruptible();
  };
  try {
    Timeout t(timeout, Expired{});
    while (!ready()) {
      const bool failed = std::any_of(waits.begin(), waits.end(), [](const FdWait& w) {
        return w.done && w.ec && w.ec != boost::asio::error::operation_aborted;
      });
      if (failed) break;
      detail::park();
      detail::check_interrupt();
    }
  } catch (const Expired&) {
  } catch (...) {
    settle();
    throw;
  }
  settle();
  SelectResult out;
  for (const FdWait& w : waits) {
    if (w.done && w.ec && w.ec != boost::asio::error::operation_aborted)
      throw boost::system::system_error(w.ec, "green: waiting on descriptor " + std::to_string(w.fd));
    if (!w.done || w.ec) continue;
    (w.what == Descriptor::wait_read ? out.readable : w.what == Descriptor::wait_write ? out.writable : out.exceptional)
        .push_back(w.fd);
  }
  return out;
}

bool wait_read(int fd, Duration timeout) { return !select({fd}, {}, timeout).readable.empty(); }

bool wait_write(int fd, Duration timeout) { return !select({}, {fd}, timeout).writable.empty(); }

}  // namespace green
