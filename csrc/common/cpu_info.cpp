#include "common/cpu_info.h"

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <thread>

#include "common/cpu_features.h"

#if defined(__x86_64__) || defined(_M_X64)
#include <cpuid.h>
#define PYINFER_X86 1
#endif

namespace pyinfer {
namespace {

bool read_line(const std::string& path, std::string& out) {
  std::ifstream f(path);
  if (!f || !std::getline(f, out)) return false;
  while (!out.empty() && std::isspace(static_cast<unsigned char>(out.back()))) out.pop_back();
  return true;
}

// "32K", "1024K", "32M", "49152" -> bytes; -1 if malformed.
int64_t parse_size(const std::string& s) {
  if (s.empty() || !std::isdigit(static_cast<unsigned char>(s[0]))) return -1;
  char* end = nullptr;
  const long long v = std::strtoll(s.c_str(), &end, 10);
  int64_t scale = 1;
  if (*end == 'K' || *end == 'k') scale = 1024, ++end;
  else if (*end == 'M' || *end == 'm') scale = 1024 * 1024, ++end;
  else if (*end == 'G' || *end == 'g') scale = int64_t(1024) * 1024 * 1024, ++end;
  if (*end == 'B' || *end == 'b') ++end;
  if (*end != '\0' || v <= 0) return -1;
  return static_cast<int64_t>(v) * scale;
}

// "0-3,8-11" -> 8; 0 if malformed.
int count_cpu_list(const std::string& s) {
  int count = 0;
  std::stringstream ss(s);
  std::string part;
  while (std::getline(ss, part, ',')) {
    if (part.empty()) continue;
    const auto dash = part.find('-');
    char* end = nullptr;
    const long a = std::strtol(part.c_str(), &end, 10);
    if (dash == std::string::npos) {
      count += 1;
    } else {
      const long b = std::strtol(part.c_str() + dash + 1, &end, 10);
      if (b < a) return 0;
      count += static_cast<int>(b - a + 1);
    }
  }
  return count;
}

bool plausible(const CacheInfo& c) {
  // An L1d of 4 KiB .. 4 MiB and an L2 at least as large: anything else is a misreading.
  return c.l1d.bytes >= 4096 && c.l1d.bytes <= (int64_t(4) << 20) && c.l2.bytes >= c.l1d.bytes;
}

#ifdef PYINFER_X86
void cpuid(unsigned leaf, unsigned sub, unsigned r[4]) { __cpuid_count(leaf, sub, r[0], r[1], r[2], r[3]); }

// Leaf 4 (Intel) and 0x8000001D (AMD) share a format: one sub-leaf per cache.
void deterministic_caches(unsigned leaf, CacheInfo& out) {
  for (unsigned i = 0; i < 16; ++i) {
    unsigned r[4];
    cpuid(leaf, i, r);
    const unsigned type = r[0] & 0x1f, level = (r[0] >> 5) & 7;
    if (type == 0) break;
    if (type == 2) continue;  // instruction cache
    const int64_t bytes = int64_t((r[1] >> 22) + 1) * int64_t(((r[1] >> 12) & 0x3ff) + 1) *
                          int64_t((r[1] & 0xfff) + 1) * int64_t(r[2] + 1);
    const int shared = static_cast<int>(((r[0] >> 14) & 0xfff) + 1);
    CacheLevel* dst = level == 1 ? &out.l1d : level == 2 ? &out.l2 : level == 3 ? &out.l3 : nullptr;
    if (dst && (type == 1 || type == 3)) *dst = {bytes, shared};
  }
}
#endif

CacheInfo from_env(const char* env) {
  CacheInfo c;
  std::stringstream ss(env);
  std::string part;
  int64_t v[4] = {0, 0, 0, 0};
  for (int i = 0; i < 4 && std::getline(ss, part, ','); ++i) v[i] = parse_size(part);
  c.l1d.bytes = v[0], c.l2.bytes = v[1], c.l3.bytes = std::max<int64_t>(0, v[2]);
  c.l3.shared_by = static_cast<int>(std::max<int64_t>(0, std::min<int64_t>(v[3], 4096)));  // cores
  c.source = "env";
  return c;
}

int threads_per_core() {
  std::string s;
  if (read_line("/sys/devices/system/cpu/cpu0/topology/thread_siblings_list", s)) {
    const int n = count_cpu_list(s);
    if (n > 0) return n;
  }
  return 1;
}

CpuInfo detect() {
  CpuInfo info;
  info.logical_cpus = std::max(1, static_cast<int>(std::thread::hardware_concurrency()));
  info.physical_cores = std::max(1, physical_core_count());
  info.threads_per_core = std::max(1, threads_per_core());
  CacheInfo c;
  const char* env = std::getenv("PYINFER_CACHE_SIZES");
  if (env && *env && plausible(c = from_env(env))) {
    c.l3.shared_by *= info.threads_per_core;  // given in cores, kept in logical CPUs like the others
    info.cache = c;
  } else if (detect_caches_sysfs(c = CacheInfo()) || detect_caches_cpuid(c = CacheInfo())) {
    info.cache = c;
  } else {
    info.cache.l1d = {32 * 1024, 0};
    info.cache.l2 = {1024 * 1024, 0};
    info.cache.l3 = {int64_t(2) * 1024 * 1024 * info.physical_cores, 0};
    info.cache.source = "default";
  }
  return info;
}

}  // namespace

bool detect_caches_sysfs(CacheInfo& out) {
  out = CacheInfo();
  for (int i = 0; i < 16; ++i) {
    const std::string dir = "/sys/devices/system/cpu/cpu0/cache/index" + std::to_string(i) + "/";
    std::string level, type, size, shared;
    if (!read_line(dir + "level", level)) break;
    if (!read_line(dir + "type", type) || !read_line(dir + "size", size)) continue;
    if (type == "Instruction") continue;
    const int64_t bytes = parse_size(size);
    if (bytes <= 0) continue;
    const int by = read_line(dir + "shared_cpu_list", shared) ? count_cpu_list(shared) : 0;
    CacheLevel* dst = level == "1" ? &out.l1d : level == "2" ? &out.l2 : level == "3" ? &out.l3 : nullptr;
    if (dst) *dst = {bytes, by};
  }
  out.source = "sysfs";
  return plausible(out);
}

bool detect_caches_cpuid(CacheInfo& out) {
  out = CacheInfo();
  out.source = "cpuid";
#ifdef PYINFER_X86
  unsigned r[4];
  cpuid(0, 0, r);
  const unsigned max_leaf = r[0];
  char vendor[13];
  std::memcpy(vendor, &r[1], 4), std::memcpy(vendor + 4, &r[3], 4), std::memcpy(vendor + 8, &r[2], 4);
  vendor[12] = '\0';
  const bool amd = !std::strcmp(vendor, "AuthenticAMD") || !std::strcmp(vendor, "HygonGenuine");
  cpuid(0x80000000u, 0, r);
  const unsigned max_ext = r[0];
  if (amd) {
    cpuid(0x80000001u, 0, r);
    const bool topoext = r[2] & (1u << 22);
    if (topoext && max_ext >= 0x8000001Du) deterministic_caches(0x8000001Du, out);
    if (!plausible(out) && max_ext >= 0x80000006u) {  // the legacy leaves, sizes only
      cpuid(0x80000005u, 0, r);
      out.l1d = {int64_t(r[2] >> 24) * 1024, 0};
      cpuid(0x80000006u, 0, r);
      out.l2 = {int64_t(r[2] >> 16) * 1024, 0};
      out.l3 = {int64_t(r[3] >> 18) * 512 * 1024, 0};
    }
  } else if (max_leaf >= 4) {
    deterministic_caches(4, out);
  }
  return plausible(out);
#else
  return false;
#endif
}

const CpuInfo& cpu_info() {
  static const CpuInfo info = detect();
  return info;
}

CacheBudget cache_budget() {
  const CpuInfo& info = cpu_info();
  const CacheInfo& c = info.cache;
  int64_t l3 = 0;
  if (c.l3.bytes > 0) {
    // Cores sharing one L3: its logical CPUs over the SMT width; unknown: every core.
    const int cores = c.l3.shared_by > 0 ? std::max(1, c.l3.shared_by / info.threads_per_core) : info.physical_cores;
    l3 = c.l3.bytes / cores;
  }
  return {c.l1d.bytes, c.l2.bytes, l3};
}

int64_t l1d_floats() { return cache_budget().l1d / int64_t(sizeof(float)); }
int64_t l2_floats() { return cache_budget().l2 / int64_t(sizeof(float)); }
int64_t l3_floats() {
  const CacheBudget b = cache_budget();
  return (b.l3 > 0 ? b.l3 : b.l2) / int64_t(sizeof(float));
}

namespace {
std::atomic<int64_t> g_kc_override{0}, g_mc_override{0}, g_nc_override{0};

int64_t round_down(int64_t v, int64_t m) { return std::max(m, v / m * m); }
}  // namespace

void set_gemm_blocking_override(int64_t kc, int64_t mc, int64_t nc) {
  g_mc_override.store(mc), g_nc_override.store(nc);
  g_kc_override.store(kc);
}

GemmBlocking gemm_blocking(int mr, int nr) {
  const int64_t kc_fixed = g_kc_override.load();
  if (kc_fixed > 0)  // whole micro-tiles, as below
    return {kc_fixed, round_down(g_mc_override.load(), mr), round_down(g_nc_override.load(), nr)};
  GemmBlocking b;
  // kc: 16-aligned, 128..256 (below 128 the C tile's loads and stores per K block start to
  // show; above 256 no machine we measured gained, while packed blocks grow).
  b.kc = std::min<int64_t>(256, std::max<int64_t>(128, l1d_floats() / 4 / mr / 16 * 16));
  // mc and nc are whole micro-tiles (packed operands are addressed by panel).
  b.mc = round_down(std::min<int64_t>(1024, l2_floats() * 3 / 16 / b.kc), mr);
  b.nc = round_down(std::min<int64_t>(8192, std::max<int64_t>(l3_floats() / b.kc, 16 * nr)), nr);
  return b;
}

}  // namespace pyinfer
