// Fault injection for the test binaries (STYLE.md item 7, fmt's posix mock
// done at link time). green_unit_tests and green_tools_tests are linked with
// -Wl,--wrap=NAME for each system call below, so every call to it from
// libgreen, tools/common, Asio's inline code and the tests themselves goes
// through a wrapper here that can make it fail. The library's sources and
// its release build are untouched: no seam costs anything outside these two
// binaries. Calls made inside shared libraries (libcurl, c-ares, libc's own)
// are not wrapped.
#pragma once

#include <atomic>

namespace green::test {

enum class Sys {
  read,
  write,
  recv,
  send,
  accept4,
  pipe2,
  posix_spawn,  // and posix_spawnp; fails by returning the error, as they do
  epoll_wait,
  kCount
};

/// While alive, makes the next `times` calls of `sys` fail with `err`
/// (errno = err, return -1), after letting `skip` matching calls through.
/// With `fd` >= 0 only calls on that descriptor count. Not nestable for the
/// same Sys. Thread-safe: the hub's worker threads see it too.
class FailSyscall {
 public:
  FailSyscall(Sys sys, int err, int times = 1, int fd = -1, int skip = 0);
  ~FailSyscall();
  FailSyscall(const FailSyscall&) = delete;
  FailSyscall& operator=(const FailSyscall&) = delete;

  /// Calls made to fail so far (a test checks the fault really hit).
  int failed() const noexcept;

 private:
  Sys sys_;
};

}  // namespace green::test
