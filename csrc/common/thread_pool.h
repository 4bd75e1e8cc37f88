// One process-wide pool of worker threads, and the cost model that decides how many of them a
// piece of work deserves.
//
// parallel_for(n, num_threads, fn) splits [0, n) into contiguous chunks and runs fn(begin, end)
// on up to num_threads threads, the calling thread included (num_threads == 1 runs inline, no
// worker is touched). Chunks are claimed from a counter by whichever thread gets there first,
// so the caller never waits for a worker that has not started: a late or descheduled worker
// leaves its chunks to the others. Idle workers poll for a while after a region, then sleep
// (futex): an idle process uses no CPU. One parallel region runs at a time; a region started
// while another is active (another Python thread, or a nested call) runs serially on its
// caller, so concurrent run() calls stay correct.
//
// How many threads: a region costs a hand-off (the workers must see it, claim chunks and
// report back: about a microsecond while they poll, tens when one must be woken), so work is
// split only where each thread gets several times that (threads_for_work). Kernels estimate
// their work in nanoseconds of one core with flops_ns / bytes_ns. See docs/ARCHITECTURE.md,
// "Threads".
#pragma once
#include <cstdint>
#include <functional>
#include <vector>

namespace pyinfer {

// <= 0 means "default": PYINFER_NUM_THREADS, else the number of physical cores.
int resolve_threads(int requested);

void parallel_for(int64_t n, int num_threads, const std::function<void(int64_t, int64_t)>& fn);

// [0, n) in `chunks` contiguous pieces (chunk c = [c*n/chunks, (c+1)*n/chunks)) claimed one at a
// time by up to num_threads threads: finer pieces balance better when a thread is delayed.
void parallel_for_chunks(int64_t n, int num_threads, int64_t chunks,
                         const std::function<void(int64_t, int64_t)>& fn);

// --- the cost model (common/cost_model.cpp) ---------------------------------------------------

// One core's time for `flops` floating-point operations in a vectorized kernel of the active
// SIMD tier, and for streaming `bytes` (read + written) through L2 (elementwise, pooling,
// copies). Rates measured on this machine (calibrate_cost_model), else per-tier defaults.
double flops_ns(double flops);
double bytes_ns(double bytes);

// Threads for work that takes `work_ns` on one core, split into at most `units` independent
// pieces: at most resolve_threads(num_threads) and `units`, and only as many as each get
// min_thread_work_ns() of work. 1 means: run inline, no region. The first call that could
// answer 2 or more measures the pool's region cost (measure_region_samples: a worker started,
// 24 regions 20 us apart, at most 2 ms), and a call at least kRegionResampleMs after the last
// adds 3 more (at most 0.5 ms): the cost is the lower quartile of the last 24 (at most 10 us), about the last 2 s. A
// machine that other processes load makes a region cost a trip through the scheduler instead of
// a cache-line exchange, and that changes while a process runs.
int threads_for_work(double work_ns, int64_t units, int num_threads);

// The least work (ns of one core) a thread must get before another thread is used:
// kRegionsPerThreadWork x the measured region overhead (a hand-off to a polling worker and its
// report back), so that a split costs at most ~25% over its ideal time. Its time being R and the
// work W, two threads take about W/2 + R against W inline: a gain from W/2 > R, a quarter of the
// ideal at most from W/2 >= 4R. Until measured (and with a pool busy at the first try) the
// default region overhead, kDefaultRegionNs. Tests set an override (0: every kernel splits as
// far as its units allow, whatever its size; < 0: back to the measured value).
constexpr double kRegionsPerThreadWork = 4.0;
constexpr int64_t kRegionResampleMs = 250;
double min_thread_work_ns();
double set_min_thread_work_ns(double ns);  // returns the previous override (< 0: none)

// Measures the machine once: the active tier's multiply-add rate (a cache-resident sgemm on one
// thread) and the rate of a streaming loop (from which flops_ns / bytes_ns are scaled; no worker
// is started). Called when the module is imported; idempotent.
void calibrate_cost_model();

// The model's numbers, measured or default (pyinfer.kernels.cost_model()).
struct CostModel {
  double flops_per_ns, bytes_per_ns;  // the active tier's
  double region_ns;                   // region overhead (-1: not measured yet)
  double min_thread_work_ns;
  bool rates_measured;
};
CostModel cost_model();

// The times of up to `repeats` regions of two chunks, 20 us apart, whose caller waits for the
// worker to start its chunk (fewer if budget_us runs out first): a region's fixed cost with the
// workers polling, as a model's kernels see it. warm_up: two regions first, not counted (they
// start or wake the worker). Empty if another region was active (nothing is run then).
std::vector<int64_t> measure_region_samples(int repeats, int64_t budget_us, bool warm_up);

// --- counters and measurement ----------------------------------------------------------------

// Event counts since the last reset, process-wide (what a run costs in threading, independent
// of how noisy the machine's clock is). Read and reset from Python: pyinfer.kernels.thread_stats().
struct ThreadStats {
  uint64_t regions = 0;         // parallel regions handed to the pool (2+ threads)
  uint64_t inline_calls = 0;    // parallel_for calls run on the caller alone (1 thread decided)
  uint64_t busy_serial = 0;     // regions run serially: another region was active
  uint64_t worker_wakeups = 0;  // a worker slept (its polling ran out) and was woken for a region
  uint64_t futex_wakes = 0;     // regions whose caller had to wake sleeping workers (a system call)
  uint64_t caller_sleeps = 0;   // the caller slept waiting for a worker's chunk
  uint64_t caller_chunks = 0;   // chunks the calling thread ran inside regions
  uint64_t worker_chunks = 0;   // chunks workers ran
  uint64_t wait_ns = 0;         // caller time spent waiting for workers after its own chunks
};
ThreadStats thread_stats();
void reset_thread_stats();

// Hand-off latency of the pool with `threads` threads: `repeats` regions of two chunks, the
// caller's chunk waiting until a worker has started the other; gap_us between regions (0: back
// to back, workers polling; longer than the polling time: workers asleep). Nanoseconds from
// publishing the region to a worker starting its chunk, and the whole region's time.
struct WakeupSample {
  int64_t handoff_ns, region_ns;
  bool same_cpu;  // the worker ran on the caller's CPU (the scheduler had no other free)
};
std::vector<WakeupSample> measure_wakeup(int threads, int repeats, int gap_us);

}  // namespace pyinfer
