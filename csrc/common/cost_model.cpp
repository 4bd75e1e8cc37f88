// The cost model of common/thread_pool.h: how long a kernel's work takes on one core, and how
// many threads it deserves. Every number here is measured on the machine it runs on, or
// derived from a measured one; the defaults below are only what the model uses before (or
// without) a measurement, and each says where it comes from.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <mutex>
#include <vector>

#include "common/cpu_features.h"
#include "common/thread_pool.h"
#include "gemm/gemm.h"

namespace pyinfer {
namespace {

using Clock = std::chrono::steady_clock;

// Defaults, used until calibrate_cost_model() has run (C++ callers that never import the
// module) and for the tiers it did not measure, scaled by what it measured on the active one.
// Flops per ns of one core: vector lanes x 2 (multiply-add) x 2 FMA pipes x ~2 GHz at about
// half the peak: AVX-512 64, AVX2 32, scalar 4. Only their ratios matter once one is measured.
constexpr double kDefaultFlopsPerNs[3] = {4.0, 32.0, 64.0};
// Bytes per ns of one core streaming through L2 (read + written): the order of 2 cache lines a
// few cycles at ~2 GHz.
constexpr double kDefaultBytesPerNs = 32.0;
// A region's cost before it is measured: the least a measurement may give (kMinRegionNs below).
constexpr double kDefaultRegionNs = 2500.0;
// Bounds on a measured region cost. The samples time the hand-off alone (0.25-1 us with the
// worker polling); a split kernel also pays for its operands moving to the other core's caches
// and for waiting on the slower half, which the samples do not see. Taken at face value (0.25 us,
// so 1 us of work per thread) they made MobileNetV2 at 2 threads slower than at 1 (9.7 vs 7.8 ms
// on the 2-vCPU AMD EPYC VM); from 2.5 us (10 us of work per thread, the size the kernels used as a
// fixed threshold before the model: 1 MFLOP) it ran in 5.2 ms at 2 threads.
// Above 10 us (a futex wake-up and a trip through the scheduler) the worker did not get a core of
// its own while measured: another process's moment, not what the next kernel will see. With a
// 50 us bound a bench process whose peers' idle threads shared the VM's cores read 50 us and
// kept MobileNetV2 on one thread (6.3 ms at 2 threads, 7.9 at 1, onnxruntime 4.9); 4 x 10 us
// still keeps every kernel under 40 us inline.
constexpr double kMinRegionNs = 2500.0, kMaxRegionNs = 10000.0;
// Regions in the window the cost is read from, and added per resampling.
constexpr int kRegionSamples = 24, kResamples = 3;
// The cost is the window's lower quartile, not its median: the hand-off when the worker's core is
// free, which is when a split pays; samples that met a busy core say nothing about the next one.
constexpr double kRegionQuantile = 0.25;

std::atomic<double> g_flops_scale{1.0};  // measured / default rate of the tier measured
std::atomic<double> g_bytes_per_ns{kDefaultBytesPerNs};
std::atomic<bool> g_rates_measured{false};
std::atomic<double> g_region_ns{-1.0};       // measured region cost, -1 until then
std::atomic<int> g_region_state{0};          // 0 not measured, 1 measuring, 2 measured
std::atomic<int64_t> g_measured_ms{0};       // when last measured (steady clock)
std::atomic<double> g_override{-1.0};        // set_min_thread_work_ns (tests); < 0: none

double region_ns() {
  const double r = g_region_ns.load(std::memory_order_relaxed);
  return r > 0 ? r : kDefaultRegionNs;
}

// Measures the region cost on the first call that could use 2+ threads (24 samples), and adds 3
// samples on one at least kRegionResampleMs after the last; the cost is the lower quartile of the last
// 24, so of about the last 2 s. Load from other processes comes and goes: measured once on a quiet
// machine, the model would split small kernels on a loaded one, where every region costs a trip
// through the scheduler; measured once on a loaded one, it would never split them again; a
// snapshot of one millisecond every few seconds follows the load's bursts (a compiler's) instead of
// its level. Resampling costs at most 0.5 ms every 250 ms (<0.2%; ~0.1 ms, <0.05%, on a quiet
// machine). A thread that finds it being measured, or the pool busy with another region (a nested
// or concurrent call: the measurement then runs nothing, and is tried again later), goes on with
// the last value.
void ensure_region_measured() {
  const int state = g_region_state.load(std::memory_order_acquire);
  if (state == 1) return;
  const int64_t now = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now().time_since_epoch()).count();
  if (state == 2 && now - g_measured_ms.load(std::memory_order_relaxed) < kRegionResampleMs) return;
  int expected = state;
  if (!g_region_state.compare_exchange_strong(expected, 1)) return;
  const bool first = state == 0;
  // Only the thread that moved the state to 1 gets here: the ring needs no lock.
  static std::vector<int64_t> ring;
  static size_t next = 0;
  const std::vector<int64_t> s =
      measure_region_samples(first ? kRegionSamples : kResamples, first ? 2000 : 500, /*warm_up=*/first);
  for (int64_t x : s) {
    if (ring.size() < size_t(kRegionSamples)) {
      ring.push_back(x);
    } else {
      ring[next] = x;
      next = (next + 1) % ring.size();
    }
  }
  g_measured_ms.store(now, std::memory_order_relaxed);  // a busy pool: try again after the interval too
  if (!ring.empty()) {
    std::vector<int64_t> sorted = ring;
    const size_t at = static_cast<size_t>(kRegionQuantile * double(sorted.size() - 1));
    std::nth_element(sorted.begin(), sorted.begin() + at, sorted.end());
    g_region_ns.store(std::clamp(double(sorted[at]), kMinRegionNs, kMaxRegionNs), std::memory_order_relaxed);
  }
  g_region_state.store(ring.empty() ? 0 : 2, std::memory_order_release);
}

template <class F>
double best_ns(int repeats, F fn) {
  fn();  // warm: caches, packing buffers, page faults
  double best = 1e30;
  for (int r = 0; r < repeats; ++r) {
    const auto t0 = Clock::now();
    fn();
    best = std::min(best, double(std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - t0).count()));
  }
  return std::max(best, 1.0);
}

// The streaming loop: y = a x + b over 64 KiB in and out (L2-resident on any x86 core; L1 on
// none), as an elementwise kernel on a layer's activations moves them.
double measure_bytes_per_ns() {
  constexpr int64_t n = 16384;
  std::vector<float> x(n, 1.f), y(n);
  volatile float sink = 0.f;
  const double ns = best_ns(8, [&] {
    const float a = 1.0001f + sink, b = 0.5f;
    for (int64_t i = 0; i < n; ++i) y[i] = a * x[i] + b;
    sink = y[n - 1];
  });
  return 2.0 * double(n) * sizeof(float) / ns;
}

// A 64 x 64 x 256 product (2 MFLOP, operands 64 KiB each: L2) on one thread, with the active
// tier's micro-kernels: about the shape of a small model's convolution.
double measure_flops_per_ns() {
  constexpr int64_t M = 64, N = 64, K = 256;
  std::vector<float> a(M * K, 0.5f), b(K * N, 0.25f), c(M * N);
  const double ns = best_ns(5, [&] { sgemm(false, false, M, N, K, 1.f, a.data(), K, b.data(), N, 0.f, c.data(), N, 1); });
  return 2.0 * double(M * N * K) / ns;
}

}  // namespace

void calibrate_cost_model() {
  static std::once_flag once;
  std::call_once(once, [] {
    const double flops = measure_flops_per_ns();
    const double bytes = measure_bytes_per_ns();
    if (std::isfinite(flops) && flops > 0)
      g_flops_scale.store(flops / kDefaultFlopsPerNs[static_cast<int>(active_isa())]);
    if (std::isfinite(bytes) && bytes > 0) g_bytes_per_ns.store(bytes);
    g_rates_measured.store(true);
  });
}

double flops_ns(double flops) {
  return flops / (kDefaultFlopsPerNs[static_cast<int>(active_isa())] * g_flops_scale.load(std::memory_order_relaxed));
}

double bytes_ns(double bytes) { return bytes / g_bytes_per_ns.load(std::memory_order_relaxed); }

double min_thread_work_ns() {
  const double o = g_override.load(std::memory_order_relaxed);
  return o >= 0 ? o : kRegionsPerThreadWork * region_ns();
}

double set_min_thread_work_ns(double ns) { return g_override.exchange(ns); }

int threads_for_work(double work_ns, int64_t units, int num_threads) {
  const int64_t most = std::min<int64_t>(resolve_threads(num_threads), units);
  if (most <= 1) return 1;
  if (g_override.load(std::memory_order_relaxed) < 0) ensure_region_measured();
  const double least = min_thread_work_ns();
  if (least <= 0.0) return static_cast<int>(most);
  const double by_work = work_ns / least;
  return static_cast<int>(std::max<int64_t>(1, std::min<int64_t>(most, static_cast<int64_t>(by_work))));
}

CostModel cost_model() {
  CostModel m;
  m.flops_per_ns = flops_ns(1e6) > 0 ? 1e6 / flops_ns(1e6) : 0;
  m.bytes_per_ns = g_bytes_per_ns.load();
  m.region_ns = g_region_ns.load();
  m.min_thread_work_ns = min_thread_work_ns();
  m.rates_measured = g_rates_measured.load();
  return m;
}

}  // namespace pyinfer
