// The thread pool's workers. Jobs are queued under a mutex; a worker that
// finds a job withdrawn (its greenlet was killed before it started) skips
// the work but still posts the completion, which the greenlet waits for.
// A worker posts the completion while it holds the mutex, so green::fork,
// which takes every pool's mutex first, never forks half way through a post
// (the child would inherit the io_context's lock held by a thread it does
// not have).
#include "fork.hpp"

#include <green/io.hpp>
#include <green/threadpool.hpp>

#include <algorithm>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <new>
#include <stdexcept>
#include <thread>
#include <vector>

namespace green {

struct ThreadPool::Impl {
  std::mutex mutex;
  std::condition_variable cv;
  std::deque<std::shared_ptr<detail::PoolJob>> queue;
  std::vector<detail::PoolJob*> running;  // taken by a worker, not completed yet
  std::vector<std::thread> workers;
  std::size_t idle = 0;
  std::size_t max_threads = 1;
  bool stopping = false;

  void work() {
    std::unique_lock lock(mutex);
    for (;;) {
      ++idle;
      cv.wait(lock, [&] { return stopping || !queue.empty(); });
      --idle;
      if (queue.empty()) return;  // stopping, and nothing left
      auto job = std::move(queue.front());
      queue.pop_front();
      running.push_back(job.get());
      lock.unlock();
      if (!job->cancelled.load(std::memory_order_relaxed)) job->work();
      lock.lock();
      running.erase(std::find(running.begin(), running.end(), job.get()));
      job->complete();
      job.reset();
    }
  }
};

namespace {

std::mutex g_pools_mutex;
std::vector<ThreadPool::Impl*>& pools() {
  static auto* v = new std::vector<ThreadPool::Impl*>;
  return *v;
}

}  // namespace

ThreadPool::ThreadPool(std::size_t max_threads)
    : max_threads_(max_threads ? max_threads : 1), impl_(std::make_unique<Impl>()) {
  impl_->max_threads = max_threads_;
  impl_->running.reserve(max_threads_);  // a worker never allocates to push
  std::lock_guard lock(g_pools_mutex);
  pools().push_back(impl_.get());
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard lock(g_pools_mutex);
    auto& v = pools();
    v.erase(std::find(v.begin(), v.end(), impl_.get()));
  }
  {
    std::lock_guard lock(impl_->mutex);
    impl_->stopping = true;
  }
  impl_->cv.notify_all();
  for (auto& t : impl_->workers) t.join();
}

std::size_t ThreadPool::threads() const noexcept {
  std::lock_guard lock(impl_->mutex);
  return impl_->workers.size();
}

void ThreadPool::submit(std::shared_ptr<detail::PoolJob> job) {
  std::unique_lock lock(impl_->mutex);
  impl_->queue.push_back(std::move(job));
  // Start a worker when every started one is busy (idle counts workers
  // waiting on the condition variable that no queued job has claimed yet).
  if (impl_->idle < impl_->queue.size() && impl_->workers.size() < max_threads_) {
    impl_->workers.emplace_back([impl = impl_.get()] { impl->work(); });
  }
  lock.unlock();
  impl_->cv.notify_one();
}

ThreadPool& default_thread_pool() {
  static ThreadPool* pool = new ThreadPool(10);
  return *pool;
}

namespace detail {

void thread_pools_prepare_fork() noexcept {
  g_pools_mutex.lock();
  for (ThreadPool::Impl* p : pools()) p->mutex.lock();
}

void thread_pools_after_fork(bool child) noexcept {
  if (child) {
    // The std::thread objects name threads the child does not have: joining
    // or detaching them fails, destroying them terminates. Kept unreachable
    // from any pool, never destroyed.
    static auto* orphans = new std::vector<std::thread>;
    const void* our_hub = &green::io_context();
    static const auto lost = std::make_exception_ptr(std::runtime_error(
        "green::ThreadPool: the call was running on a worker thread when the process forked; the child has no such "
        "thread (the call goes on in the parent only)"));
    for (ThreadPool::Impl* p : pools()) {
      for (auto& t : p->workers) {
        try {
          orphans->push_back(std::move(t));
        } catch (...) {
          static_cast<void>(new std::thread(std::move(t)));  // out of memory: lose it instead
        }
      }
      p->workers.clear();
      p->idle = 0;
      // Its waiters were those workers: glibc would keep signals for them.
      ::new (static_cast<void*>(&p->cv)) std::condition_variable;
      // Only this hub's greenlets live on in the child; other hubs' threads
      // are gone with theirs.
      for (PoolJob* job : p->running) {
        if (job->hub != our_hub) continue;
        job->lost = lost;
        job->complete();
      }
      p->running.clear();
      std::erase_if(p->queue, [&](const auto& job) { return job->hub != our_hub; });
      try {
        while (p->workers.size() < std::min(p->queue.size(), p->max_threads))
          p->workers.emplace_back([p] { p->work(); });
      } catch (...) {
        // No thread: the queued calls wait for the next submit to start one.
      }
    }
  }
  for (ThreadPool::Impl* p : pools()) p->mutex.unlock();
  g_pools_mutex.unlock();
}

}  // namespace detail

}  // namespace green
