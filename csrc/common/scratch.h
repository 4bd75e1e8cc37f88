// A grow-only, 64-byte aligned float buffer. Kept thread_local by the kernels (one per thread
// and purpose), so concurrent calls never share one, and reused across calls: a fresh large
// allocation per call would mean fresh pages, i.e. page faults, on every call.
#pragma once
#include <cstdint>
#include <cstdlib>
#include <new>

namespace pyinfer {

class ScratchBuffer {
 public:
  ScratchBuffer() = default;
  ScratchBuffer(const ScratchBuffer&) = delete;
  ScratchBuffer& operator=(const ScratchBuffer&) = delete;
  ~ScratchBuffer() { std::free(data_); }

  // At least n floats; the contents are unspecified (not zeroed, not kept across growth).
  float* get(int64_t n) {
    if (n > cap_) {
      std::free(data_);
      data_ = nullptr;
      cap_ = 0;
      const size_t bytes = (static_cast<size_t>(n) * sizeof(float) + 63) / 64 * 64;
      data_ = static_cast<float*>(std::aligned_alloc(64, bytes));
      if (!data_) throw std::bad_alloc();
      cap_ = n;
    }
    return data_;
  }

 private:
  float* data_ = nullptr;
  int64_t cap_ = 0;
};

}  // namespace pyinfer
