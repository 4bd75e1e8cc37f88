// Memory for weights in a kernel's layout (packed GEMM panels, conv channel panels, Winograd
// transforms): long-lived buffers made once per layer while a session is created or first run.
//
// Large ones (>= kWeightMapBytes) are mapped straight from the OS (huge pages where allowed), so
// a dropped layout returns its pages at once and the layouts never sit in the malloc heap between
// short-lived arrays. In
// the heap (glibc raises its mmap threshold to 32 MiB after the first large free, so a model's
// weights land there), each layout made between a model's temporary arrays kept the holes those
// left from being returned: ResNet-50's first run grew the heap by 45 MiB of free chunks.
#pragma once
#include <cstddef>

namespace pyinfer {

constexpr size_t kWeightMapBytes = size_t(1) << 20;

// 64-byte aligned, uninitialized; throws std::bad_alloc. free_weights(nullptr) does nothing.
float* alloc_weights(size_t bytes);
void free_weights(float* p);

}  // namespace pyinfer

namespace pyinfer {

// Give the malloc heap's free pages back to the OS (glibc's malloc_trim; nothing elsewhere).
// Called once a session is built: loading and folding leave the model's original weights freed
// in the heap, where glibc keeps them (it returns only the top of the heap by itself).
void trim_heap();

}  // namespace pyinfer
