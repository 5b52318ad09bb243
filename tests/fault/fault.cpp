#include "fault.hpp"

#include <spawn.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>

namespace green::test {

namespace {

struct Slot {
  std::atomic<bool> armed{false};
  std::atomic<int> err{0};
  std::atomic<int> fd{-1};
  std::atomic<int> skip{0};
  std::atomic<int> remaining{0};
  std::atomic<int> failed{0};
};

Slot g_slots[static_cast<std::size_t>(Sys::kCount)];

Slot& slot(Sys s) { return g_slots[static_cast<std::size_t>(s)]; }

// The error this call must fail with, or 0 to let it through.
int take(Sys s, int fd) {
  Slot& sl = slot(s);
  if (!sl.armed.load(std::memory_order_acquire)) return 0;
  const int want_fd = sl.fd.load(std::memory_order_relaxed);
  if (want_fd >= 0 && fd != want_fd) return 0;
  for (int k = sl.skip.load(); k > 0;) {
    if (sl.skip.compare_exchange_weak(k, k - 1)) return 0;
  }
  for (int r = sl.remaining.load(); r > 0;) {
    if (sl.remaining.compare_exchange_weak(r, r - 1)) {
      sl.failed.fetch_add(1);
      return sl.err.load();
    }
  }
  return 0;
}

}  // namespace

FailSyscall::FailSyscall(Sys sys, int err, int times, int fd, int skip) : sys_(sys) {
  Slot& sl = slot(sys);
  sl.err = err;
  sl.fd = fd;
  sl.skip = skip;
  sl.remaining = times;
  sl.failed = 0;
  sl.armed.store(true, std::memory_order_release);
}

FailSyscall::~FailSyscall() {
  Slot& sl = slot(sys_);
  sl.armed.store(false, std::memory_order_release);
  sl.remaining = 0;
}

int FailSyscall::failed() const noexcept { return slot(sys_).failed.load(); }

}  // namespace green::test

using green::test::Sys;
using green::test::take;

// The linker sends every reference to NAME here and __real_NAME to the real
// function.
extern "C" {

ssize_t __real_read(int fd, void* buf, std::size_t n);
ssize_t __real_write(int fd, const void* buf, std::size_t n);
ssize_t __real_recv(int fd, void* buf, std::size_t n, int flags);
ssize_t __real_send(int fd, const void* buf, std::size_t n, int flags);
int __real_accept4(int fd, sockaddr* addr, socklen_t* len, int flags);
int __real_pipe2(int fds[2], int flags);
int __real_posix_spawn(pid_t* pid, const char* path, const posix_spawn_file_actions_t* fa,
                       const posix_spawnattr_t* attr, char* const argv[], char* const envp[]);
int __real_posix_spawnp(pid_t* pid, const char* file, const posix_spawn_file_actions_t* fa,
                        const posix_spawnattr_t* attr, char* const argv[], char* const envp[]);
int __real_epoll_wait(int epfd, epoll_event* events, int max, int timeout);

#define GREEN_FAIL_IF_ARMED(sys, fd) \
  if (const int e = take(sys, fd)) { \
    errno = e;                       \
    return -1;                       \
  }

ssize_t __wrap_read(int fd, void* buf, std::size_t n) {
  GREEN_FAIL_IF_ARMED(Sys::read, fd);
  return __real_read(fd, buf, n);
}
ssize_t __wrap_write(int fd, const void* buf, std::size_t n) {
  GREEN_FAIL_IF_ARMED(Sys::write, fd);
  return __real_write(fd, buf, n);
}
ssize_t __wrap_recv(int fd, void* buf, std::size_t n, int flags) {
  GREEN_FAIL_IF_ARMED(Sys::recv, fd);
  return __real_recv(fd, buf, n, flags);
}
ssize_t __wrap_send(int fd, const void* buf, std::size_t n, int flags) {
  GREEN_FAIL_IF_ARMED(Sys::send, fd);
  return __real_send(fd, buf, n, flags);
}
int __wrap_accept4(int fd, sockaddr* addr, socklen_t* len, int flags) {
  GREEN_FAIL_IF_ARMED(Sys::accept4, fd);
  return __real_accept4(fd, addr, len, flags);
}
int __wrap_pipe2(int fds[2], int flags) {
  GREEN_FAIL_IF_ARMED(Sys::pipe2, -1);
  return __real_pipe2(fds, flags);
}
int __wrap_epoll_wait(int epfd, epoll_event* events, int max, int timeout) {
  GREEN_FAIL_IF_ARMED(Sys::epoll_wait, epfd);
  return __real_epoll_wait(epfd, events, max, timeout);
}
int __wrap_posix_spawn(pid_t* pid, const char* path, const posix_spawn_file_actions_t* fa,
                       const posix_spawnattr_t* attr, char* const argv[], char* const envp[]) {
  if (const int e = take(Sys::posix_spawn, -1)) return e;
  return __real_posix_spawn(pid, path, fa, attr, argv, envp);
}
int __wrap_posix_spawnp(pid_t* pid, const char* file, const posix_spawn_file_actions_t* fa,
                        const posix_spawnattr_t* attr, char* const argv[], char* const envp[]) {
  if (const int e = take(Sys::posix_spawn, -1)) return e;
  return __real_posix_spawnp(pid, file, fa, attr, argv, envp);
}

}  // extern "C"
