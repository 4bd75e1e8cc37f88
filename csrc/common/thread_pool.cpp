#include "common/thread_pool.h"

#include <pthread.h>

#include <algorithm>
#include <cstdlib>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <exception>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "common/cpu_features.h"

namespace pyinfer {
namespace {

// Workers and the caller poll for this long before they block. A model's kernels come one
// after another with microseconds between them: a worker that went to sleep after each one
// would cost a futex wake-up (tens of microseconds on a loaded machine) per layer. After the
// spin they sleep, so an idle session still uses no CPU.
constexpr auto kSpin = std::chrono::microseconds(50);

// The counters of thread_stats(): each on its own cache line, so that counting adds no false
// sharing to the regions it counts (relaxed increments: they order nothing).
struct alignas(64) Counter {
  std::atomic<uint64_t> v{0};
  void add(uint64_t n = 1) { v.fetch_add(n, std::memory_order_relaxed); }
};
struct Stats {
  Counter regions, inline_calls, busy_serial, worker_wakeups, caller_sleeps, caller_chunks, worker_chunks,
      wait_ns;
};
Stats g_stats;

inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  __asm__ __volatile__("yield");
#endif
}

// Poll done() until it holds or kSpin has passed; true if it holds.
template <class Pred>
bool spin_until(Pred done) {
  const auto deadline = std::chrono::steady_clock::now() + kSpin;
  for (;;) {
    for (int i = 0; i < 64; ++i) {
      if (done()) return true;
      cpu_relax();
    }
    if (std::chrono::steady_clock::now() >= deadline) return done();
  }
}

// One parallel region. Chunks are claimed with an atomic counter by whichever thread gets
// there first; the caller waits only for chunks that were claimed, never for workers that
// have not woken up yet (on a loaded machine a descheduled worker would otherwise stall the
// region). A late worker keeps the Job alive through its shared_ptr, finds every chunk
// claimed and never touches fn, which may be gone by then.
struct Job {
  const std::function<void(int64_t, int64_t)>* fn = nullptr;
  int64_t n = 0;
  int64_t chunks = 0;
  std::atomic<int64_t> next_chunk{0};
  std::atomic<int64_t> done_chunks{0};
  std::mutex mu;
  std::condition_variable done_cv;
  std::exception_ptr error;

  // Claim chunks until none is left; chunk i covers [i*n/chunks, (i+1)*n/chunks).
  void work(bool caller) {
    for (;;) {
      int64_t c = next_chunk.fetch_add(1);
      if (c >= chunks) return;
      (caller ? g_stats.caller_chunks : g_stats.worker_chunks).add();
      int64_t b = n * c / chunks, e = n * (c + 1) / chunks;
      if (b < e) {
        try {
          (*fn)(b, e);
        } catch (...) {
          std::lock_guard<std::mutex> lk(mu);
          if (!error) error = std::current_exception();
        }
      }
      if (done_chunks.fetch_add(1) + 1 == chunks) {
        std::lock_guard<std::mutex> lk(mu);
        done_cv.notify_all();
      }
    }
  }

  void wait() {
    auto done = [&] { return done_chunks.load(std::memory_order_acquire) == chunks; };
    if (done()) return;
    const auto t0 = std::chrono::steady_clock::now();
    if (!spin_until(done)) {
      std::unique_lock<std::mutex> lk(mu);
      if (!done()) g_stats.caller_sleeps.add();
      done_cv.wait(lk, [&] { return done_chunks.load() == chunks; });
    }
    g_stats.wait_ns.add(static_cast<uint64_t>(
        std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - t0).count()));
  }
};

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
      g_stats.busy_serial.add();
      fn(0, n);
      return;
    }
    g_stats.regions.add();
    ensure_workers(threads - 1);
    auto job = std::make_shared<Job>();
    job->fn = &fn;
    job->n = n;
    job->chunks = threads;
    {
      std::lock_guard<std::mutex> lk(mu_);
      job_ = job;
      wanted_workers_ = threads - 1;
      generation_.fetch_add(1, std::memory_order_release);
    }
    cv_.notify_all();
    job->work(true);
    job->wait();
    {
      std::lock_guard<std::mutex> lk(mu_);
      job_.reset();
    }
    if (job->error) std::rethrow_exception(job->error);
  }

 private:
  void ensure_workers(int count) {
    while (static_cast<int>(workers_.size()) < count) {
      int index = static_cast<int>(workers_.size());
      workers_.emplace_back([this, index] { worker_loop(index); });
    }
  }

  void worker_loop(int index) {
    uint64_t seen = 0;
    for (;;) {
      std::shared_ptr<Job> job;
      spin_until([&] { return generation_.load(std::memory_order_acquire) != seen; });
      {
        std::unique_lock<std::mutex> lk(mu_);
        auto ready = [&] { return stop_ || (generation_.load() != seen && index < wanted_workers_); };
        const bool slept = !ready();
        cv_.wait(lk, ready);
        if (stop_) return;
        seen = generation_.load();
        job = job_;
        if (slept && job) g_stats.worker_wakeups.add();
      }
      if (job) job->work(false);
    }
  }

  std::mutex region_mu_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::thread> workers_;
  std::shared_ptr<Job> job_;
  int wanted_workers_ = 0;
  std::atomic<uint64_t> generation_{0};  // changed under mu_; read without it while spinning
  bool stop_ = false;
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

// The default thread count: PYINFER_NUM_THREADS when it is a positive integer (to cap a
// process, or to test many-thread work splits on a small machine), else one per physical core.
int default_thread_count() {
  if (const char* env = std::getenv("PYINFER_NUM_THREADS")) {
    char* end = nullptr;
    const long n = std::strtol(env, &end, 10);
    if (end != env && *end == '\0' && n > 0 && n <= 4096) return static_cast<int>(n);
  }
  return std::max(1, physical_core_count());
}

int resolve_threads(int requested) {
  static const int default_threads = default_thread_count();
  return requested > 0 ? requested : default_threads;
}

void parallel_for(int64_t n, int num_threads, const std::function<void(int64_t, int64_t)>& fn) {
  if (n <= 0) return;
  int threads = static_cast<int>(std::min<int64_t>(resolve_threads(num_threads), n));
  if (threads <= 1) {
    g_stats.inline_calls.add();
    fn(0, n);
    return;
  }
  pool().run(n, threads, fn);
}

ThreadStats thread_stats() {
  ThreadStats s;
  auto get = [](const Counter& c) { return c.v.load(std::memory_order_relaxed); };
  s.regions = get(g_stats.regions);
  s.inline_calls = get(g_stats.inline_calls);
  s.busy_serial = get(g_stats.busy_serial);
  s.worker_wakeups = get(g_stats.worker_wakeups);
  s.caller_sleeps = get(g_stats.caller_sleeps);
  s.caller_chunks = get(g_stats.caller_chunks);
  s.worker_chunks = get(g_stats.worker_chunks);
  s.wait_ns = get(g_stats.wait_ns);
  return s;
}

void reset_thread_stats() {
  for (Counter* c : {&g_stats.regions, &g_stats.inline_calls, &g_stats.busy_serial, &g_stats.worker_wakeups,
                     &g_stats.caller_sleeps, &g_stats.caller_chunks, &g_stats.worker_chunks, &g_stats.wait_ns})
    c->v.store(0, std::memory_order_relaxed);
}

}  // namespace pyinfer
