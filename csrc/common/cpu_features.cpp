#include "common/cpu_features.h"

#include <atomic>
#include <cstdlib>
#include <stdexcept>
#include <thread>
#include <fstream>
#include <set>
#include <utility>

#if defined(__x86_64__) || defined(_M_X64)
#include <cpuid.h>
#define PYINFER_X86 1
#endif

namespace pyinfer {
namespace {

#ifdef PYINFER_X86
unsigned long long read_xcr0() {
  unsigned int eax, edx;
  __asm__ volatile("xgetbv" : "=a"(eax), "=d"(edx) : "c"(0));
  return (static_cast<unsigned long long>(edx) << 32) | eax;
}
#endif

Isa detect_best() {
#ifdef PYINFER_X86
  unsigned int eax, ebx, ecx, edx;
  if (!__get_cpuid(1, &eax, &ebx, &ecx, &edx)) return Isa::Scalar;
  const bool osxsave = ecx & (1u << 27);
  const bool avx = ecx & (1u << 28);
  const bool fma = ecx & (1u << 12);
  if (!osxsave || !avx) return Isa::Scalar;
  const unsigned long long xcr0 = read_xcr0();
  const bool os_ymm = (xcr0 & 0x6) == 0x6;            // SSE + AVX state
  const bool os_zmm = (xcr0 & 0xe6) == 0xe6;          // + opmask, ZMM_Hi256, Hi16_ZMM
  if (!os_ymm) return Isa::Scalar;
  if (!__get_cpuid_count(7, 0, &eax, &ebx, &ecx, &edx)) return Isa::Scalar;
  const bool avx2 = ebx & (1u << 5);
  const bool avx512f = ebx & (1u << 16);
  const bool avx512dq = ebx & (1u << 17);
  const bool avx512bw = ebx & (1u << 30);
  const bool avx512vl = ebx & (1u << 31);
#if defined(PYINFER_HAVE_AVX512)
  if (avx512f && avx512dq && avx512bw && avx512vl && fma && avx2 && os_zmm) return Isa::Avx512;
#endif
#if defined(PYINFER_HAVE_AVX2)
  if (avx2 && fma) return Isa::Avx2;
#endif
  (void)avx512f; (void)avx512dq; (void)avx512bw; (void)avx512vl; (void)os_zmm; (void)avx2; (void)fma;
#endif
  return Isa::Scalar;
}

Isa initial_isa() {
  Isa best = best_supported_isa();
  if (const char* env = std::getenv("PYINFER_ISA")) {
    std::string s(env);
    if (!s.empty() && s != "auto") {
      Isa wanted = parse_isa(s);  // unknown names throw at import: better than silently ignoring
      if (static_cast<int>(wanted) < static_cast<int>(best)) return wanted;
    }
  }
  return best;
}

std::atomic<int>& active_slot() {
  static std::atomic<int> slot{static_cast<int>(initial_isa())};
  return slot;
}

}  // namespace

const char* isa_name(Isa isa) {
  switch (isa) {
    case Isa::Avx512: return "avx512";
    case Isa::Avx2: return "avx2";
    default: return "scalar";
  }
}

Isa parse_isa(const std::string& name) {
  if (name == "scalar") return Isa::Scalar;
  if (name == "avx2") return Isa::Avx2;
  if (name == "avx512") return Isa::Avx512;
  throw std::invalid_argument("unknown ISA tier '" + name + "': expected scalar, avx2 or avx512");
}

Isa best_supported_isa() {
  static const Isa best = detect_best();
  return best;
}

std::vector<Isa> supported_isas() {
  std::vector<Isa> out;
  for (int i = 0; i <= static_cast<int>(best_supported_isa()); ++i) out.push_back(static_cast<Isa>(i));
  return out;
}

Isa active_isa() { return static_cast<Isa>(active_slot().load(std::memory_order_relaxed)); }

void set_active_isa(Isa isa) {
  if (static_cast<int>(isa) > static_cast<int>(best_supported_isa()))
    throw std::invalid_argument(std::string("ISA tier '") + isa_name(isa) +
                                "' is not supported by this CPU/build (best: " +
                                isa_name(best_supported_isa()) + ")");
  active_slot().store(static_cast<int>(isa));
}

int physical_core_count() {
  // Linux: count distinct (physical id, core id) pairs; fall back to the logical count.
  std::ifstream f("/proc/cpuinfo");
  std::set<std::pair<int, int>> cores;
  int phys = 0;
  std::string line;
  while (std::getline(f, line)) {
    auto colon = line.find(':');
    if (colon == std::string::npos) continue;
    std::string key = line.substr(0, line.find_last_not_of(" \t", colon - 1) + 1);
    if (key == "physical id") phys = std::atoi(line.c_str() + colon + 1);
    else if (key == "core id") cores.insert({phys, std::atoi(line.c_str() + colon + 1)});
  }
  int logical = static_cast<int>(std::thread::hardware_concurrency());
  if (logical <= 0) logical = 1;
  if (cores.empty()) return logical;
  return std::min(static_cast<int>(cores.size()), logical);
}

}  // namespace pyinfer
