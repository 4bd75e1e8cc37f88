// One process-wide pool of worker threads.
//
// parallel_for(n, num_threads, fn) splits [0, n) into contiguous chunks and runs
// fn(begin, end) on up to num_threads threads, the calling thread included
// (num_threads == 1 runs inline, no worker is touched). Idle workers sleep on a
// condition variable: they never spin. One parallel region runs at a time; a
// region started while another is active (another Python thread, or a nested call)
// runs serially on its caller, so concurrent run() calls stay correct.
#pragma once
#include <cstdint>
#include <functional>

namespace pyinfer {

// <= 0 means "default": the number of physical cores.
int resolve_threads(int requested);

void parallel_for(int64_t n, int num_threads, const std::function<void(int64_t, int64_t)>& fn);

// Event counts since the last reset, process-wide (what a run costs in threading, independent
// of how noisy the machine's clock is). Read and reset from Python: pyinfer.kernels.thread_stats().
struct ThreadStats {
  uint64_t regions = 0;         // parallel regions handed to the pool (2+ threads)
  uint64_t inline_calls = 0;    // parallel_for calls run on the caller alone (1 thread decided)
  uint64_t busy_serial = 0;     // regions run serially: another region was active
  uint64_t worker_wakeups = 0;  // a worker slept (its spin ran out) and was woken for a region
  uint64_t caller_sleeps = 0;   // the caller slept waiting for a worker's chunk
  uint64_t caller_chunks = 0;   // chunks the calling thread ran inside regions
  uint64_t worker_chunks = 0;   // chunks workers ran
  uint64_t wait_ns = 0;         // caller time spent waiting for workers after its own chunks
};
ThreadStats thread_stats();
void reset_thread_stats();

}  // namespace pyinfer
