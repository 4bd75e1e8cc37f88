// Pooling over N-d (1-D, 2-D, 3-D) float32 tensors laid out (N, C, spatial...).
//
// Window rule shared by every windowed pool (ONNX semantics): output position o along an
// axis covers the taps  start + k * dilation,  k in [0, kernel),  start = o * stride - pad_begin.
// Taps outside the input contribute nothing (max ignores them, sums add 0). For averages with
// count_include_pad the divisor also counts taps in the explicit pads, but never taps past
// pad_end, which a ceil_mode window may reach (ONNX reference / PyTorch behaviour).
// A window with no tap inside the input gives -inf for max (index -1) and NaN for an average
// that excludes padding (0 / 0); sums give 0.
#pragma once
#include <cstdint>
#include <vector>

#include "common/prepared.h"

namespace pyinfer {

enum class PoolKind : int {
  Max = 0,
  Sum = 1,               // unnormalised sum of the taps inside the input
  AvgIncludePad = 2,     // sum / taps inside [-pad_begin, in + pad_end)
  AvgExcludePad = 3,     // sum / taps inside the input
};

// Geometry of one pooling call. Spatial axes are right-aligned into 3 slots: a 2-D pool has
// in[0] = out[0] = kernel[0] = 1 (stride, dilation 1, no pads), so kernels loop over 3 axes.
struct PoolGeom {
  int64_t planes = 0;  // N * C
  int spatial_rank = 0;
  int64_t in[3], out[3], kernel[3], stride[3], dilation[3], pad_begin[3], pad_end[3];
  int64_t in_plane() const { return in[0] * in[1] * in[2]; }
  int64_t out_plane() const { return out[0] * out[1] * out[2]; }
};

// The ONE output-size rule (ONNX): floor((in + pads - ((k - 1) * d + 1)) / s) + 1, or ceil in
// ceil_mode, where a last window starting at or past in + pad_begin (i.e. inside the right
// padding) is dropped. Returns <= 0 when no window fits.
int64_t pool_output_size(int64_t in, int64_t kernel, int64_t stride, int64_t pad_begin, int64_t pad_end,
                         int64_t dilation, bool ceil_mode);

// Checks every parameter against the input shape (N, C, spatial...) and builds the geometry;
// throws std::invalid_argument with a message naming `op` on anything wrong.
// pads: [begin_0.., end_0..] (ONNX order), 2 * spatial_rank values.
PoolGeom make_pool_geom(const char* op, const std::vector<int64_t>& x_shape, const std::vector<int64_t>& kernel,
                        const std::vector<int64_t>& strides, const std::vector<int64_t>& pads,
                        const std::vector<int64_t>& dilations, bool ceil_mode);

// Output shape (N, C, out...) for an input of shape x_shape (the one make_pool_geom checked).
std::vector<int64_t> pool_output_shape(const std::vector<int64_t>& x_shape, const PoolGeom& g);

// y[N*C*out_plane] = pool of x[N*C*in_plane].
void pool_forward(PoolKind kind, const PoolGeom& g, const float* x, float* y, int num_threads);

// Max pooling that also writes, for every output, the flattened index into x (N and C
// offsets included) of the first maximum (first NaN if the window holds one), counting the
// spatial position row-major (column_major = false) or column-major.
void max_pool_indices(const PoolGeom& g, const float* x, float* y, int64_t* indices, bool column_major,
                      int num_threads);

// y = (sum over the window of |x|^p)^(1/p), p > 0.
void lp_pool_forward(const PoolGeom& g, float p, const float* x, float* y, int num_threads);

enum class GlobalKind : int { Avg = 0, Max = 1, Lp = 2 };
// One value per plane: mean, max (NaN propagates) or (sum |x|^p)^(1/p) of `plane_size` values.
void global_pool(GlobalKind kind, int64_t planes, int64_t plane_size, float p, const float* x, float* y,
                 int num_threads);

// --- prepared kernels (common/prepared.h): input x [N, C, spatial...], output y ---------------

// A windowed pool of `kind` (`op` names it in messages).
PreparedPtr prepare_pool(const char* op, PoolKind kind, const std::vector<int64_t>& x_shape,
                         const std::vector<int64_t>& kernel, const std::vector<int64_t>& strides,
                         const std::vector<int64_t>& pads, const std::vector<int64_t>& dilations, bool ceil_mode);
// MaxPool with a second output: indices (int64, y's shape; see max_pool_indices).
PreparedPtr prepare_max_pool_with_indices(const std::vector<int64_t>& x_shape, const std::vector<int64_t>& kernel,
                                          const std::vector<int64_t>& strides, const std::vector<int64_t>& pads,
                                          const std::vector<int64_t>& dilations, bool ceil_mode, bool column_major);
// LpPool, p > 0.
PreparedPtr prepare_lp_pool(const std::vector<int64_t>& x_shape, const std::vector<int64_t>& kernel,
                            const std::vector<int64_t>& strides, const std::vector<int64_t>& pads,
                            const std::vector<int64_t>& dilations, bool ceil_mode, float p);
// One value per (N, C) plane of x (rank >= 2): y [N, C, 1, ...].
PreparedPtr prepare_global_pool(const char* op, GlobalKind kind, const std::vector<int64_t>& x_shape, float p);

}  // namespace pyinfer
