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

}  // namespace

float* alloc_weights(size_t bytes) {
  const size_t total = kHeader + (bytes + 63) / 64 * 64;
  void* base = nullptr;
  size_t mapped = 0;
#ifdef PYINFER_HAVE_MMAP
  if (bytes >= kWeightMapBytes) {
    void* p = mmap(nullptr, total, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p != MAP_FAILED) base = p, mapped = total;
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
