#include "common/thread_pool.h"

#include <pthread.h>
#include <sched.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <exception>
#include <mutex>
#include <thread>
#include <vector>

#include "common/cpu_features.h"

namespace pyinfer {
namespace {

using Clock = std::chrono::steady_clock;
using Fn = std::function<void(int64_t, int64_t)>;

// Workers poll for this long after a region before they sleep. A model's kernels come one after
// another with microseconds between them; a worker that slept after each would cost a futex
// wake-up per layer (measure_wakeup: tens of microseconds on a busy VM, where waking an idle
// vCPU goes through the hypervisor). Polling for about as long as a wake-up costs bounds the
// waste either way (the classic spin-then-block rule). After it they sleep: an idle session
// uses no CPU.
constexpr auto kWorkerPoll = std::chrono::microseconds(100);
// Polling with pause instructions only, before yielding the CPU between polls.
constexpr auto kPauseOnly = std::chrono::microseconds(5);
// The caller, waiting for a chunk a worker is running, polls this long before it sleeps.
constexpr auto kCallerPoll = std::chrono::microseconds(50);

// The counters of thread_stats(): each on its own cache line, so that counting adds no false
// sharing to the regions it counts (relaxed increments: they order nothing).
struct alignas(64) Counter {
  std::atomic<uint64_t> v{0};
  void add(uint64_t n = 1) { v.fetch_add(n, std::memory_order_relaxed); }
  uint64_t get() const { return v.load(std::memory_order_relaxed); }
};
struct Stats {
  Counter regions, inline_calls, busy_serial, worker_wakeups, futex_wakes, caller_sleeps, caller_chunks,
      worker_chunks, wait_ns;
};
Stats g_stats;

inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  __asm__ __volatile__("yield");
#endif
}

// Poll done() until it holds or `limit` has passed; true if it holds. After a few microseconds
// of pause instructions the poller yields its CPU between polls: on a machine with more runnable
// threads than cores, the scheduler may put a woken worker on the caller's own core, and a
// worker that only spun there would hold the caller off for the whole polling time (measured on
// a loaded 2-vCPU VM: every region took the full 100 us poll, the worker running both chunks).
template <class Pred>
bool spin_until(Pred done, Clock::duration limit) {
  const auto start = Clock::now();
  const auto deadline = start + limit, yield_from = start + kPauseOnly;
  for (;;) {
    for (int i = 0; i < 64; ++i) {
      if (done()) return true;
      cpu_relax();
    }
    const auto now = Clock::now();
    if (now >= deadline) return done();
    if (now >= yield_from) std::this_thread::yield();
  }
}

// The claim word of a region: region id (32 bits) | chunks (16) | next chunk (16). Threads claim
// a chunk with one fetch_add; the old value says which region's chunk they got and whether it
// exists. next never carries into chunks: it passes chunks by at most one per participating
// thread, and chunks <= kMaxChunks.
constexpr int64_t kMaxChunks = 1 << 14;
inline uint64_t claim_word(uint32_t region, int64_t chunks) {
  return (uint64_t(region) << 32) | (uint64_t(chunks) << 16);
}

// Regions are published without allocation or locks: the caller writes the region's function and
// size, then its claim word (release), then bumps the epoch the workers poll. A worker that
// claims chunk i < chunks of region r owns it; r cannot finish (so its function and size cannot
// be replaced) before that chunk is done, so what it reads after the claim is r's. A worker that
// is late finds every chunk claimed and touches nothing, or joins the region running now.
class ThreadPool {
 public:
  ~ThreadPool() {
    {
      std::lock_guard<std::mutex> lk(mu_);
      stop_.store(true);
    }
    cv_.notify_all();
    for (auto& t : workers_) t.join();
  }

  // Runs fn over [0, n) as a region; another region active: runs it serially (returns false),
  // or with serial_if_busy false runs nothing and returns false.
  bool run(int64_t n, int threads, int64_t chunks, const Fn& fn, bool serial_if_busy = true) {
    std::unique_lock<std::mutex> region(region_mu_, std::try_to_lock);
    if (!region.owns_lock()) {  // another region is active: stay correct, run serially
      if (!serial_if_busy) return false;
      g_stats.busy_serial.add();
      fn(0, n);
      return false;
    }
    g_stats.regions.add();
    ensure_workers(threads - 1);
    const uint32_t id = ++region_id_;
    fn_.store(&fn, std::memory_order_relaxed);
    n_.store(n, std::memory_order_relaxed);
    wanted_.store(threads - 1, std::memory_order_relaxed);
    done_.store(0, std::memory_order_relaxed);
    claim_.store(claim_word(id, chunks), std::memory_order_release);
    epoch_.store(id, std::memory_order_seq_cst);
    if (sleepers_.load(std::memory_order_seq_cst) > 0) {  // pairs with the sleepers' increment
      g_stats.futex_wakes.add();
      std::lock_guard<std::mutex> lk(mu_);
      cv_.notify_all();
    }
    work(true);
    wait_done(chunks);
    if (failed_.load(std::memory_order_acquire)) {
      std::exception_ptr e;
      {
        std::lock_guard<std::mutex> lk(error_mu_);
        std::swap(e, error_);
        failed_.store(false, std::memory_order_relaxed);
      }
      std::rethrow_exception(e);
    }
    return true;
  }

 private:
  void ensure_workers(int count) {
    while (static_cast<int>(workers_.size()) < count) {
      const int index = static_cast<int>(workers_.size());
      const uint32_t seen = epoch_.load();
      workers_.emplace_back([this, index, seen] { worker_loop(index, seen); });
    }
  }

  // Claims and runs chunks until the claim word says there are none left.
  void work(bool caller) {
    for (;;) {
      const uint64_t w = claim_.fetch_add(1, std::memory_order_acq_rel);
      const int64_t chunks = int64_t((w >> 16) & 0xffff), c = int64_t(w & 0xffff);
      if (c >= chunks) return;
      (caller ? g_stats.caller_chunks : g_stats.worker_chunks).add();
      const Fn& fn = *fn_.load(std::memory_order_relaxed);
      const int64_t n = n_.load(std::memory_order_relaxed);
      const int64_t b = n * c / chunks, e = n * (c + 1) / chunks;
      if (b < e) {
        try {
          fn(b, e);
        } catch (...) {
          std::lock_guard<std::mutex> lk(error_mu_);
          if (!error_) error_ = std::current_exception();
          failed_.store(true, std::memory_order_release);
        }
      }
      if (done_.fetch_add(1) + 1 == chunks && caller_sleeping_.load()) {  // seq_cst: Dekker with wait_done
        std::lock_guard<std::mutex> lk(done_mu_);
        done_cv_.notify_one();
      }
    }
  }

  void wait_done(int64_t chunks) {
    auto finished = [&] { return done_.load(std::memory_order_acquire) >= chunks; };
    if (finished()) return;
    const auto t0 = Clock::now();
    if (!spin_until(finished, kCallerPoll)) {
      std::unique_lock<std::mutex> lk(done_mu_);
      caller_sleeping_.store(true);
      if (done_.load() < chunks) g_stats.caller_sleeps.add();
      done_cv_.wait(lk, [&] { return done_.load() >= chunks; });
      caller_sleeping_.store(false);
    }
    g_stats.wait_ns.add(static_cast<uint64_t>(
        std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - t0).count()));
  }

  void worker_loop(int index, uint32_t seen) {
    for (;;) {
      uint32_t e = seen;
      auto fresh = [&] {
        e = epoch_.load(std::memory_order_acquire);
        return e != seen || stop_.load(std::memory_order_relaxed);
      };
      bool slept = false;
      if (!spin_until(fresh, kWorkerPoll)) {
        std::unique_lock<std::mutex> lk(mu_);
        sleepers_.fetch_add(1);  // seq_cst: the caller reads sleepers_ after bumping the epoch
        while (epoch_.load() == seen && !stop_.load()) {
          slept = true;
          cv_.wait(lk);
        }
        sleepers_.fetch_sub(1);
        e = epoch_.load();
      }
      if (stop_.load()) return;
      seen = e;
      if (index >= wanted_.load(std::memory_order_relaxed)) continue;  // this region wants fewer workers
      if (slept) g_stats.worker_wakeups.add();
      work(false);
    }
  }

  // The region being run (written by its caller before the claim word; see above).
  alignas(64) std::atomic<const Fn*> fn_{nullptr};
  std::atomic<int64_t> n_{0};
  std::atomic<int> wanted_{0};
  uint32_t region_id_ = 0;  // the caller's, under region_mu_
  alignas(64) std::atomic<uint64_t> claim_{0};
  alignas(64) std::atomic<int64_t> done_{0};
  std::atomic<bool> caller_sleeping_{false};
  alignas(64) std::atomic<uint32_t> epoch_{0};  // what polling workers read: the newest region's id
  alignas(64) std::atomic<int> sleepers_{0};
  std::atomic<bool> stop_{false};
  std::atomic<bool> failed_{false};
  std::mutex mu_;
  std::condition_variable cv_;  // sleeping workers
  std::mutex done_mu_;
  std::condition_variable done_cv_;  // the sleeping caller
  std::mutex error_mu_;
  std::exception_ptr error_;
  std::mutex region_mu_;
  std::vector<std::thread> workers_;
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
  return requested > 0 ? std::min(requested, 4096) : default_threads;
}

void parallel_for_chunks(int64_t n, int num_threads, int64_t chunks, const Fn& fn) {
  if (n <= 0) return;
  chunks = std::min({chunks, n, kMaxChunks});
  const int threads = static_cast<int>(std::min<int64_t>(resolve_threads(num_threads), chunks));
  if (threads <= 1 || chunks <= 1) {
    g_stats.inline_calls.add();
    fn(0, n);
    return;
  }
  pool().run(n, threads, chunks, fn);
}

void parallel_for(int64_t n, int num_threads, const Fn& fn) {
  parallel_for_chunks(n, num_threads, resolve_threads(num_threads), fn);
}

// --- counters and measurement ----------------------------------------------------------------

ThreadStats thread_stats() {
  ThreadStats s;
  s.regions = g_stats.regions.get();
  s.inline_calls = g_stats.inline_calls.get();
  s.busy_serial = g_stats.busy_serial.get();
  s.worker_wakeups = g_stats.worker_wakeups.get();
  s.futex_wakes = g_stats.futex_wakes.get();
  s.caller_sleeps = g_stats.caller_sleeps.get();
  s.caller_chunks = g_stats.caller_chunks.get();
  s.worker_chunks = g_stats.worker_chunks.get();
  s.wait_ns = g_stats.wait_ns.get();
  return s;
}

void reset_thread_stats() {
  for (Counter* c : {&g_stats.regions, &g_stats.inline_calls, &g_stats.busy_serial, &g_stats.worker_wakeups,
                     &g_stats.futex_wakes, &g_stats.caller_sleeps, &g_stats.caller_chunks, &g_stats.worker_chunks,
                     &g_stats.wait_ns})
    c->v.store(0, std::memory_order_relaxed);
}

std::vector<WakeupSample> measure_wakeup(int threads, int repeats, int gap_us) {
  threads = std::max(2, resolve_threads(threads));
  std::vector<WakeupSample> out;
  for (int r = 0; r < repeats; ++r) {
    if (gap_us > 0) std::this_thread::sleep_for(std::chrono::microseconds(gap_us));
    const std::thread::id caller = std::this_thread::get_id();
    std::atomic<int64_t> started{-1};
    std::atomic<int> worker_cpu{-1};
    const int caller_cpu = sched_getcpu();
    const auto t0 = Clock::now();
    parallel_for_chunks(threads, threads, threads, [&](int64_t, int64_t) {
      const int64_t ns = std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - t0).count();
      if (std::this_thread::get_id() != caller) {
        int64_t none = -1;
        if (started.compare_exchange_strong(none, ns)) worker_cpu.store(sched_getcpu());
        return;
      }
      // The caller's chunk: hold it until a worker has started (at most 50 ms: a region run
      // serially because another was active never gets one).
      spin_until([&] { return started.load() >= 0; }, std::chrono::milliseconds(50));
    });
    const int64_t region = std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - t0).count();
    out.push_back({started.load() >= 0 ? started.load() : region, region, worker_cpu.load() == caller_cpu});
  }
  return out;
}

namespace {
// Between measured regions the caller computes this long, as it runs a model's small kernels
// inline between two regions: the workers are then past their pause-only polling (kPauseOnly)
// and yield their CPU between polls, as they are when most regions of a model start, and still
// well within kWorkerPoll. Back to back (no gap) a worker that never yields answers in ~0.3 us
// even on a loaded machine, where in a model run the scheduler gives its CPU away at a yield.
constexpr auto kRegionGap = std::chrono::microseconds(20);

// One sample per region of two chunks, the caller's chunk held (at most `hold`) until the worker
// has started the other: the time from publishing the region to its end, that is a hand-off and
// the report back. Stops early once `budget` has passed. Empty if another region was active
// (nothing is run then).
std::vector<int64_t> region_overhead_samples(int repeats, Clock::duration hold, Clock::duration budget) {
  std::vector<int64_t> out;
  const std::thread::id caller = std::this_thread::get_id();
  const auto stop = Clock::now() + budget;
  for (int r = 0; r < repeats && Clock::now() < stop; ++r) {
    for (const auto gap_end = Clock::now() + kRegionGap; Clock::now() < gap_end;) cpu_relax();
    std::atomic<bool> started{false};
    const auto t0 = Clock::now();
    const Fn fn = [&](int64_t, int64_t) {
      if (std::this_thread::get_id() != caller) return started.store(true);
      spin_until([&] { return started.load(); }, hold);
    };
    if (!pool().run(2, 2, 2, fn, /*serial_if_busy=*/false)) return {};
    out.push_back(std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - t0).count());
  }
  return out;
}
}  // namespace

std::vector<int64_t> measure_region_samples(int repeats, int64_t budget_us, bool warm_up) {
  const auto budget = std::chrono::microseconds(std::max<int64_t>(1, budget_us));
  // Two regions first: they start the worker (a thread creation) or wake it, and bring it to
  // polling, as a model's second kernel finds it.
  if (warm_up && region_overhead_samples(2, std::chrono::milliseconds(1), budget).empty()) return {};
  return region_overhead_samples(repeats, std::chrono::microseconds(200), budget);
}

}  // namespace pyinfer
