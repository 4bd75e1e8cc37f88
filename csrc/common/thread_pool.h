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

// --- the cost model ------------------------------------------------------------------------

// One core's time for `flops` floating-point operations in a vectorized kernel of the active
// SIMD tier, and for streaming `bytes` through the caches (elementwise, pooling, copies).
double flops_ns(double flops);
double bytes_ns(double bytes);

// Threads for work that takes `work_ns` on one core, split into at most `units` independent
// pieces: at most resolve_threads(num_threads) and `units`, and only as many as each get
// kMinThreadWorkNs (several hand-offs' worth) of work. 1 means: run inline, no region.
int threads_for_work(double work_ns, int64_t units, int num_threads);

// The least work (ns of one core) a thread must get before another thread is used: about 4
// hand-offs of a polling worker (measured by measure_wakeup: ~0.5-1.5 us on the machines we
// ran, a VM included), so that a region costs at most ~25% over its ideal split when the
// workers are awake, and never more than the work itself when they are not.
constexpr double kMinThreadWorkNs = 5000.0;

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
