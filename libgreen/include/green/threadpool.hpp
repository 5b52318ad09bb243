// Thread pool: runs blocking code (a library call, a regular-file read,
// getaddrinfo, CPU-heavy work) off the hub and parks only the calling
// greenlet until it returns (gevent's threadpool.apply).
//
//     std::string text = green::run_in_thread([&] { return slurp(path); });
//
// The function runs on a worker thread; its return value or exception is
// handed back through the hub's io_context (asio::post), so the greenlet
// resumes on its own hub like after any other I/O wait.
#pragma once

#include <green/io.hpp>

#include <boost/asio/post.hpp>

#include <atomic>
#include <cstddef>
#include <exception>
#include <functional>
#include <memory>
#include <optional>
#include <type_traits>
#include <utility>

namespace green {

namespace detail {
struct PoolJob {
  std::function<void()> work;      // runs on a worker thread
  std::function<void()> complete;  // posts the completion to the hub
  std::atomic<bool> cancelled{false};
  const void* hub = nullptr;  // the io_context of the waiting greenlet's hub
  // Set in the child of green::fork when the job was running on a worker,
  // which the child does not have.
  std::exception_ptr lost;
};
}  // namespace detail

/// A fixed maximum of worker threads, started on demand. Any hub (thread)
/// may submit to it. It survives green::fork: the child starts its own
/// workers (gevent's threadpool reinit).
class ThreadPool {
 public:
  /// Up to `max_threads` workers (at least 1); none is started before the
  /// first call.
  explicit ThreadPool(std::size_t max_threads = 10);
  /// Runs the jobs still queued, then joins the workers: blocks the calling
  /// thread (never switches). Destroy a pool only when no greenlet is
  /// waiting on it.
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  /// Runs `fn()` on a worker thread and parks the calling greenlet until it
  /// returns; returns its value or rethrows its exception. A kill or Timeout
  /// while it waits withdraws the call if no worker has started it yet;
  /// a call already running cannot be interrupted, so the greenlet waits for
  /// it to end and then raises. In the child of green::fork, a call that was
  /// running on a worker at the fork raises std::runtime_error (the worker
  /// did not survive; the parent's call goes on); queued calls run on new
  /// workers. Switch point.
  template <class F>
  std::invoke_result_t<F&> run(F&& fn);

  std::size_t max_threads() const noexcept { return max_threads_; }
  /// Workers started so far.
  std::size_t threads() const noexcept;

  struct Impl;

 private:
  void submit(std::shared_ptr<detail::PoolJob> job);
  std::size_t max_threads_;
  std::unique_ptr<Impl> impl_;
};

/// The process-wide pool behind run_in_thread (10 threads at most; never
/// destroyed, so its workers cannot hold up exit).
ThreadPool& default_thread_pool();

/// `default_thread_pool().run(fn)`. Switch point.
template <class F>
std::invoke_result_t<F&> run_in_thread(F&& fn) {
  return default_thread_pool().run(std::forward<F>(fn));
}

template <class F>
std::invoke_result_t<F&> ThreadPool::run(F&& fn) {
  using R = std::invoke_result_t<F&>;
  using Stored = std::conditional_t<std::is_void_v<R>, bool, R>;
  std::optional<Stored> value;
  std::exception_ptr error;
  auto job = std::make_shared<detail::PoolJob>();
  // Both captures point into this frame, which outlives the job's use of
  // them: await_op returns only after the completion ran on the hub, and
  // the worker posts the completion only after the work is done.
  job->work = [&fn, &value, &error] {
    try {
      if constexpr (std::is_void_v<R>) {
        fn();
        value.emplace(true);
      } else {
        value.emplace(fn());
      }
    } catch (...) {
      error = std::current_exception();
    }
  };
  boost::asio::io_context& io = green::io_context();
  job->hub = &io;
  await_op<>(
      [&](auto handler) {
        job->complete = [&io, handler]() mutable { boost::asio::post(io, std::move(handler)); };
        submit(job);
      },
      [&] { job->cancelled.store(true, std::memory_order_relaxed); });
  if (job->lost) std::rethrow_exception(job->lost);
  if (error) std::rethrow_exception(error);
  if constexpr (!std::is_void_v<R>) return std::move(*value);
}

}  // namespace green
