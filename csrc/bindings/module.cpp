// The pyinfer._kernels extension module: CPU info, error translation, and the kernel
// families (each binds itself from its own file: bindings/bindings.h).
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <algorithm>
#include <stdexcept>
#include <vector>

#include "bindings/bindings.h"
#include "capi/capi.h"
#include "common/cpu_features.h"
#include "common/cpu_info.h"
#include "common/isa_probe.h"
#include "common/thread_pool.h"
#include "gemm/gemm_kernels.h"

namespace py = pybind11;

namespace {

py::dict cache_dict(const pyinfer::CacheInfo& c) {
  py::dict d;
  d["l1d_bytes"] = c.l1d.bytes;
  d["l2_bytes"] = c.l2.bytes;
  d["l3_bytes"] = c.l3.bytes;
  d["l1d_shared_by"] = c.l1d.shared_by;
  d["l2_shared_by"] = c.l2.shared_by;
  d["l3_shared_by"] = c.l3.shared_by;
  d["source"] = c.source;
  return d;
}

}  // namespace

PYBIND11_MODULE(_kernels, m) {
  m.doc() = "pyinfer's C++ kernels (float32). Public API: pyinfer.kernels.";

  // Checks that fail inside the C++ code throw std::invalid_argument; Python sees
  // pyinfer.errors.KernelArgumentError, a subclass of pyinfer.Error and of ValueError.
  static py::object kernel_error = py::module_::import("pyinfer.errors").attr("KernelArgumentError");
  py::register_exception_translator([](std::exception_ptr p) {
    try {
      if (p) std::rethrow_exception(p);
    } catch (const std::invalid_argument& e) {
      PyErr_SetString(kernel_error.ptr(), e.what());
    } catch (const std::length_error& e) {
      PyErr_SetString(kernel_error.ptr(), e.what());
    }
  });

  m.def("active_isa", [] { return std::string(pyinfer::isa_name(pyinfer::active_isa())); },
        "The SIMD tier the kernels use now: 'avx512', 'avx2' or 'scalar'.");
  m.def("best_isa", [] { return std::string(pyinfer::isa_name(pyinfer::best_supported_isa())); });
  m.def("supported_isas", [] {
    py::list out;
    for (auto isa : pyinfer::supported_isas()) out.append(pyinfer::isa_name(isa));
    return out;
  });
  m.def("set_isa", [](const std::string& name) { pyinfer::set_active_isa(pyinfer::parse_isa(name)); },
        "Switch the SIMD tier at run time (for tests). Only tiers in supported_isas() are allowed.");
  m.def("isa_probe", [] { return py::make_tuple(pyinfer::isa_probe().name(), pyinfer::isa_probe().vector_width()); },
        "(namespace, float lanes) of the compiled kernel copy the active tier dispatches to.");
  m.def("physical_cores", &pyinfer::physical_core_count);
  m.def(
      "cache_info",
      [] {
        const pyinfer::CpuInfo& info = pyinfer::cpu_info();
        py::dict d = cache_dict(info.cache);
        d["logical_cpus"] = info.logical_cpus;
        d["threads_per_core"] = info.threads_per_core;
        const pyinfer::CacheBudget b = pyinfer::cache_budget();
        d["l1d_per_core"] = b.l1d;
        d["l2_per_core"] = b.l2;
        d["l3_per_core"] = b.l3;
        const pyinfer::GemmKernels& kt = pyinfer::gemm_kernels();
        const pyinfer::GemmBlocking g = pyinfer::gemm_blocking(kt.mr, kt.nr);
        py::dict gd;
        gd["mr"] = kt.mr, gd["nr"] = kt.nr, gd["kc"] = g.kc, gd["mc"] = g.mc, gd["nc"] = g.nc;
        d["gemm_blocking"] = gd;
        return d;
      },
      "cache_info(): this machine's caches as the kernels block for them (common/cpu_info.h): sizes of "
      "one L1d / L2 / L3 instance and the logical CPUs sharing each, where they were read (sysfs, cpuid, "
      "default, or env: PYINFER_CACHE_SIZES), what one thread plans to use (l*_per_core) and the GEMM "
      "blocks that gives for the active SIMD tier's micro-tile.");
  m.def(
      "_detect_caches",
      [](const std::string& source) -> py::object {
        pyinfer::CacheInfo c;
        const bool ok = source == "sysfs"   ? pyinfer::detect_caches_sysfs(c)
                        : source == "cpuid" ? pyinfer::detect_caches_cpuid(c)
                                            : throw std::invalid_argument("source must be 'sysfs' or 'cpuid'");
        return ok ? py::object(cache_dict(c)) : py::object(py::none());
      },
      "_detect_caches(source): one detection source alone ('sysfs' or 'cpuid'), None if it gave nothing (tests).");
  m.def(
      "_set_gemm_blocking",
      [](int64_t kc, int64_t mc, int64_t nc) { pyinfer::set_gemm_blocking_override(kc, mc, nc); },
      py::arg("kc") = 0, py::arg("mc") = 0, py::arg("nc") = 0,
      "_set_gemm_blocking(kc, mc, nc): fixed GEMM cache blocks for products started afterwards; kc=0 "
      "restores the ones derived from the caches (tests, tools/bench_gemm.py experiments).");
  m.def("default_num_threads", [] { return pyinfer::resolve_threads(0); });
  m.def(
      "thread_stats",
      [](bool reset) {
        const pyinfer::ThreadStats s = pyinfer::thread_stats();
        if (reset) pyinfer::reset_thread_stats();
        py::dict d;
        d["regions"] = s.regions;
        d["inline_calls"] = s.inline_calls;
        d["busy_serial"] = s.busy_serial;
        d["worker_wakeups"] = s.worker_wakeups;
        d["futex_wakes"] = s.futex_wakes;
        d["caller_sleeps"] = s.caller_sleeps;
        d["caller_chunks"] = s.caller_chunks;
        d["worker_chunks"] = s.worker_chunks;
        d["wait_ns"] = s.wait_ns;
        return d;
      },
      py::arg("reset") = false,
      "thread_stats(reset=False): the thread pool's event counts since the last reset, process-wide: "
      "regions (parallel regions run on 2+ threads), inline_calls (parallel loops a kernel ran on the "
      "calling thread alone), busy_serial (regions run serially because another was active), "
      "worker_wakeups (a worker had gone to sleep and was woken for a region), futex_wakes (regions whose "
      "caller had to wake sleeping workers: a system call on its path), "
      "caller_sleeps (the caller slept waiting for a worker), caller_chunks / worker_chunks (pieces of "
      "work each side ran), wait_ns (time the caller waited for workers after its own share). "
      "reset=True zeroes them after reading. Counts, not timings: compare runs by them on a busy machine.");
  m.def("_set_min_thread_work_ns", &pyinfer::set_min_thread_work_ns, py::arg("ns"),
      "_set_min_thread_work_ns(ns) -> previous override: the cost model's least work per thread (ns of one "
      "core) fixed at ns for tests (0 splits every kernel as far as its pieces allow); ns < 0 returns to the "
      "measured value. The previous override is < 0 when there was none.");
  m.def("_measure_region_samples", [](int repeats, int64_t budget_us, bool warm_up) {
        py::gil_scoped_release release;
        return pyinfer::measure_region_samples(repeats, budget_us, warm_up);
      }, py::arg("repeats"), py::arg("budget_us") = 2000, py::arg("warm_up") = true,
      "_measure_region_samples(repeats, budget_us=2000, warm_up=True): the cost model's region-cost samples (ns).");
  m.def("cost_model", [] {
        const pyinfer::CostModel c = pyinfer::cost_model();
        py::dict d;
        d["flops_per_ns"] = c.flops_per_ns;
        d["bytes_per_ns"] = c.bytes_per_ns;
        d["region_ns"] = c.region_ns;
        d["min_thread_work_ns"] = c.min_thread_work_ns;
        d["rates_measured"] = c.rates_measured;
        return d;
      },
      "cost_model(): the numbers the kernels choose thread counts by, measured on this machine: "
      "flops_per_ns (one core, the active SIMD tier, a cache-resident product), bytes_per_ns (one core "
      "streaming through L2), region_ns (a parallel region's cost with the workers polling; -1 until the "
      "first kernel that could use 2+ threads measured it), min_thread_work_ns (work one thread must get "
      "before another is used: 4 x region_ns), rates_measured.");
  m.def("_threads_for_work", &pyinfer::threads_for_work, py::arg("work_ns"), py::arg("units"), py::arg("num_threads"),
        "_threads_for_work(work_ns, units, num_threads): the cost model's thread count for work of work_ns "
        "(one core) in `units` pieces (tests).");
  m.def("_flops_ns", &pyinfer::flops_ns, "_flops_ns(flops): the cost model's one-core time of SIMD arithmetic.");
  m.def("_bytes_ns", &pyinfer::bytes_ns, "_bytes_ns(bytes): the cost model's one-core time to stream bytes.");
  m.def(
      "measure_wakeup",
      [](int threads, int repeats, int gap_us) {
        if (repeats < 1) throw std::invalid_argument("measure_wakeup: repeats must be at least 1");
        std::vector<pyinfer::WakeupSample> s;
        {
          py::gil_scoped_release release;
          s = pyinfer::measure_wakeup(threads, repeats, gap_us);
        }
        std::vector<int64_t> h, r;
        int same = 0;
        for (const auto& x : s) h.push_back(x.handoff_ns), r.push_back(x.region_ns), same += x.same_cpu;
        std::sort(h.begin(), h.end());
        std::sort(r.begin(), r.end());
        py::dict d;
        d["median_ns"] = h[h.size() / 2];
        d["p90_ns"] = h[h.size() * 9 / 10];
        d["min_ns"] = h.front();
        d["region_median_ns"] = r[r.size() / 2];
        d["handoff_ns"] = h;
        d["same_cpu"] = double(same) / double(s.size());
        return d;
      },
      py::arg("threads") = 2, py::arg("repeats") = 100, py::arg("gap_us") = 0,
      "measure_wakeup(threads=2, repeats=100, gap_us=0): the thread pool's hand-off latency: `repeats` "
      "regions whose calling thread holds its chunk until a worker has started another; gap_us "
      "microseconds between regions (0: back to back, the workers polling; 2000: longer than they "
      "poll, so each region wakes a sleeping worker). Returns median_ns / p90_ns / min_ns of publish -> a "
      "worker starting (sorted samples in handoff_ns), region_median_ns of the whole region, and same_cpu: the "
      "share of regions whose worker ran on the caller's CPU (then the two take turns: no parallelism).");

  // The cost model's rates, measured once on one thread (a fraction of a millisecond; no worker
  // is started: the region cost is measured by the first kernel that could use two threads).
  pyinfer::calibrate_cost_model();

  pyinfer::bind::run_bindings(m);  // every family, from its own file (bindings/bindings.h)

  // The C ABI table for pyinfer._runtime (the compiled-plan loop, Cython): it runs the same
  // prepared kernels as this module, with its SIMD tier and thread pool. See csrc/capi/pyinfer_capi.h.
  m.attr("_C_API") = py::capsule(static_cast<const void*>(pyinfer::capi_table()), PYINFER_CAPI_CAPSULE);
}
