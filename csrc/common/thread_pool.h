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

}  // namespace pyinfer
