#include "common/weight_memory.h"

#include <cstdint>
#include <cstdlib>
#include <new>

#if defined(__unix__) || defined(__APPLE__)
#include <sys/mman.h>
#define PYINFER_HAVE_MMAP 1
#endif
#if defined(__GLIBC__)
#include <malloc.h>
#endif

namespace pyinfer {
namespace {

// Every buffer starts 64 bytes after a header saying how it was made (and how large the
// mapping is), so free_weights needs no size from the caller and the data stays 64-byte aligned.
struct Header {
  size_t mapped_bytes;  // 0: from aligned_alloc
};
constexpr size_t kHeader = 64;

#ifdef PYINFER_HAVE_MMAP
constexpr size_t kHugePage = size_t(2) << 20;

// `bytes` of fresh pages starting on a 2 MiB boundary (so that every whole 2 MiB of the buffer can
// be a huge page: mmap alone only aligns to 4 KiB, which left most of a 2-3 MiB layer in small
// pages), advised to use transparent huge pages; nullptr when the OS refuses.
void* map_aligned(size_t bytes) {
  const size_t span = bytes + kHugePage;
  void* p = mmap(nullptr, span, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) return nullptr;
  const uintptr_t start = reinterpret_cast<uintptr_t>(p);
  const uintptr_t aligned = (start + kHugePage - 1) / kHugePage * kHugePage;
  const size_t tail_at = aligned - start + (bytes + 4095) / 4096 * 4096;
  if (aligned > start) munmap(p, aligned - start);  // the unaligned head and tail go back
  if (span > tail_at) munmap(static_cast<char*>(p) + tail_at, span - tail_at);
  void* q = reinterpret_cast<void*>(aligned);
#ifdef MADV_HUGEPAGE
  // A layout's first write then faults 2 MiB at a time (filling measured 5x faster than with
  // 4 KiB pages on a VM), and walks over the weights miss the TLB less.
  madvise(q, bytes, MADV_HUGEPAGE);
#endif
  return q;
}
#endif

}  // namespace

float* alloc_weights(size_t bytes) {
  const size_t total = kHeader + (bytes + 63) / 64 * 64;
  void* base = nullptr;
  size_t mapped = 0;
#ifdef PYINFER_HAVE_MMAP
  if (bytes >= kWeightMapBytes) {
    base = map_aligned(total);
    if (base) mapped = total;
  }
#endif
  if (!base) base = std::aligned_alloc(64, total);
  if (!base) throw std::bad_alloc();
  static_cast<Header*>(base)->mapped_bytes = mapped;
  return reinterpret_cast<float*>(static_cast<char*>(base) + kHeader);
}

void free_weights(float* p) {
  if (!p) return;
  void* base = reinterpret_cast<char*>(p) - kHeader;
  const size_t mapped = static_cast<Header*>(base)->mapped_bytes;
#ifdef PYINFER_HAVE_MMAP
  if (mapped) {
    munmap(base, mapped);
    return;
  }
#endif
  std::free(base);
}

void trim_heap() {
#if defined(__GLIBC__)
  malloc_trim(0);
#endif
}

}  // namespace pyinfer
