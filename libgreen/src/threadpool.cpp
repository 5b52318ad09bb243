// The thread pool's workers. Jobs are queued under a mutex; a worker that
// finds a job withdrawn (its greenlet was killed before it started) skips
// the work but still posts the completion, which the greenlet waits for.
#include <green/threadpool.hpp>

#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>
#include <vector>

namespace green {

struct ThreadPool::Impl {
  std::mutex mutex;
  std::condition_variable cv;
  std::deque<std::shared_ptr<detail::PoolJob>> queue;
  std::vector<std::thread> workers;
  std::size_t idle = 0;
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
      lock.unlock();
      if (!job->cancelled.load(std::memory_order_relaxed)) job->work();
      job->complete();
      job.reset();
      lock.lock();
    }
  }
};

ThreadPool::ThreadPool(std::size_t max_threads)
    : max_threads_(max_threads ? max_threads : 1), impl_(std::make_unique<Impl>()) {}

ThreadPool::~ThreadPool() {
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

}  // namespace green
