#include "common/thread_pool.h"

#include <pthread.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <exception>
#include <mutex>
#include <thread>
#include <vector>

#include "common/cpu_features.h"

namespace pyinfer {
namespace {

class ThreadPool {
 public:
  ~ThreadPool() {
    {
      std::lock_guard<std::mutex> lk(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    for (auto& t : workers_) t.join();
  }

  void run(int64_t n, int threads, const std::function<void(int64_t, int64_t)>& fn) {
    std::unique_lock<std::mutex> region(region_mu_, std::try_to_lock);
    if (!region.owns_lock()) {  // another region is active: stay correct, run serially
      fn(0, n);
      return;
    }
    ensure_workers(threads - 1);
    {
      std::lock_guard<std::mutex> lk(mu_);
      fn_ = &fn;
      n_ = n;
      chunks_ = threads;
      next_chunk_.store(0);
      pending_ = threads - 1;
      error_ = nullptr;
      wanted_workers_ = threads - 1;
      ++generation_;
    }
    cv_.notify_all();
    work();
    std::unique_lock<std::mutex> lk(mu_);
    done_cv_.wait(lk, [&] { return pending_ == 0; });
    fn_ = nullptr;
    if (error_) std::rethrow_exception(error_);
  }

 private:
  void ensure_workers(int count) {
    while (static_cast<int>(workers_.size()) < count) {
      int index = static_cast<int>(workers_.size());
      workers_.emplace_back([this, index] { worker_loop(index); });
    }
  }

  // Claim chunks until none is left; chunk i covers [i*n/chunks, (i+1)*n/chunks).
  void work() {
    for (;;) {
      int64_t c = next_chunk_.fetch_add(1);
      if (c >= chunks_) return;
      int64_t b = n_ * c / chunks_, e = n_ * (c + 1) / chunks_;
      if (b >= e) continue;
      try {
        (*fn_)(b, e);
      } catch (...) {
        std::lock_guard<std::mutex> lk(mu_);
        if (!error_) error_ = std::current_exception();
      }
    }
  }

  void worker_loop(int index) {
    uint64_t seen = 0;
    for (;;) {
      {
        std::unique_lock<std::mutex> lk(mu_);
        cv_.wait(lk, [&] { return stop_ || (generation_ != seen && index < wanted_workers_); });
        if (stop_) return;
        seen = generation_;
      }
      work();
      std::lock_guard<std::mutex> lk(mu_);
      if (--pending_ == 0) done_cv_.notify_one();
    }
  }

  std::mutex region_mu_;
  std::mutex mu_;
  std::condition_variable cv_, done_cv_;
  std::vector<std::thread> workers_;
  const std::function<void(int64_t, int64_t)>* fn_ = nullptr;
  int64_t n_ = 0;
  int64_t chunks_ = 0;
  std::atomic<int64_t> next_chunk_{0};
  int pending_ = 0;
  int wanted_workers_ = 0;
  uint64_t generation_ = 0;
  bool stop_ = false;
  std::exception_ptr error_;
};

ThreadPool* g_pool = nullptr;
std::once_flag g_atfork_once;

// After fork() only the forking thread exists in the child: the parent's workers and
// mutexes are meaningless there, so the child drops (leaks) the old pool and builds a new one.
void reset_pool_in_child() { g_pool = nullptr; }

ThreadPool& pool() {
  std::call_once(g_atfork_once, [] { pthread_atfork(nullptr, nullptr, reset_pool_in_child); });
  static std::mutex create_mu;
  std::lock_guard<std::mutex> lk(create_mu);
  if (!g_pool) g_pool = new ThreadPool();  // never destroyed: workers may outlive static teardown
  return *g_pool;
}

}  // namespace

int resolve_threads(int requested) {
  static const int default_threads = std::max(1, physical_core_count());
  return requested > 0 ? requested : default_threads;
}

void parallel_for(int64_t n, int num_threads, const std::function<void(int64_t, int64_t)>& fn) {
  if (n <= 0) return;
  int threads = static_cast<int>(std::min<int64_t>(resolve_threads(num_threads), n));
  if (threads <= 1) {
    fn(0, n);
    return;
  }
  pool().run(n, threads, fn);
}

}  // namespace pyinfer
