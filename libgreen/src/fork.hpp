// What green::fork does for the C libraries and threads behind the hub.
// Private to libgreen.
//
// After fork(2) the child shares every descriptor with the parent: a c-ares
// socket or a curl connection the child kept using would carry its bytes on
// the parent's connection, and the answers would go to whichever process
// reads first. Worker threads do not exist in the child at all. So, as
// gevent's reinit does for its resolver and thread pool, the child starts
// these afresh:
//  - sever(), in the child before the hub's new epoll registers descriptors
//    again: each inherited descriptor is replaced (dup3) by an unconnected
//    socket of the child's own. Nothing the library does with it from then on
//    (TLS close_notify, curl's cleanup) reaches the parent's peer, and the
//    new epoll watches the child's socket, not the parent's. Deregistering
//    instead would act on the epoll instance still shared with the parent.
//  - rebuild(), in the child after the new loop is up: the library state is
//    made again; what was in flight fails in the child (the parent goes on
//    with it) and its greenlets wake with an error.
#pragma once

namespace green::detail {

/// A hub-thread object that the child of green::fork must rebuild.
/// Registers with the calling thread on construction.
class ForkHook {
 public:
  ForkHook() noexcept;
  virtual ~ForkHook();
  ForkHook(const ForkHook&) = delete;
  ForkHook& operator=(const ForkHook&) = delete;

  /// Replaces each descriptor shared with the parent (sever_descriptor).
  /// Must not switch, throw or touch the event loop.
  virtual void sever() noexcept = 0;
  /// Makes the library state again; must not switch.
  virtual void rebuild() = 0;

 private:
  friend void fork_child_sever() noexcept;
  friend void fork_child_rebuild();
  ForkHook* prev_ = nullptr;
  ForkHook* next_ = nullptr;
};

/// Puts an unconnected socket of the child's own in place of `fd`.
void sever_descriptor(int fd) noexcept;

/// The calling thread's hooks, in registration order.
void fork_child_sever() noexcept;
void fork_child_rebuild();

/// Every ThreadPool around fork(2): prepare locks them so no worker is
/// half way through a queue change or a completion; the parent unlocks; the
/// child forgets the workers (they did not survive), fails the calls that
/// were running for the forking hub, and starts workers for those queued.
void thread_pools_prepare_fork() noexcept;
void thread_pools_after_fork(bool child) noexcept;

}  // namespace green::detail
