// Parameter checks, the output-size rule, threading and the scalar max-with-indices path.
#include "pool/pool.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <memory>

#include "common/check.h"
#include "common/scratch.h"
#include "common/thread_pool.h"
#include "pool/pool_kernels.h"

namespace pyinfer {

namespace {
// Parameters beyond this are nonsense and could overflow the index arithmetic.
constexpr int64_t kMaxParam = int64_t(1) << 31;


inline int64_t ceil_div(int64_t a, int64_t b) { return a >= 0 ? (a + b - 1) / b : -((-a) / b); }

// window_rows()'s per-thread row buffer (common/scratch.h).
thread_local ScratchBuffer tls_row_buf;
}  // namespace

int64_t pool_output_size(int64_t in, int64_t kernel, int64_t stride, int64_t pad_begin, int64_t pad_end,
                         int64_t dilation, bool ceil_mode) {
  const int64_t span = in + pad_begin + pad_end - ((kernel - 1) * dilation + 1);
  if (!ceil_mode) return span < 0 ? 0 : span / stride + 1;
  int64_t out = ceil_div(span, stride) + 1;
  // The last window must start inside the input or the left padding (ONNX, PyTorch).
  if (out >= 1 && (out - 1) * stride >= in + pad_begin) --out;
  return out;
}

PoolGeom make_pool_geom(const char* op, const std::vector<int64_t>& x_shape, const std::vector<int64_t>& kernel,
                        const std::vector<int64_t>& strides, const std::vector<int64_t>& pads,
                        const std::vector<int64_t>& dilations, bool ceil_mode) {
  const int rank = int(x_shape.size()) - 2;
  PYINFER_CHECK(rank >= 1 && rank <= 3, op << ": input must be (N, C, spatial...) with 1 to 3 spatial axes, got shape "
                                           << shape_str(x_shape));
  const size_t r = size_t(rank);
  PYINFER_CHECK(kernel.size() == r, op << ": kernel_shape " << shape_str(kernel) << " needs " << rank
                                       << " values for input shape " << shape_str(x_shape));
  PYINFER_CHECK(strides.size() == r, op << ": strides " << shape_str(strides) << " needs " << rank << " values");
  PYINFER_CHECK(dilations.size() == r, op << ": dilations " << shape_str(dilations) << " needs " << rank << " values");
  PYINFER_CHECK(pads.size() == 2 * r, op << ": pads " << shape_str(pads) << " needs " << 2 * rank
                                         << " values [begin..., end...]");
  for (int64_t d : x_shape) PYINFER_CHECK(d >= 0 && d < kMaxParam * 16, op << ": bad input shape " << shape_str(x_shape));
  for (size_t i = 0; i < r; ++i) {
    PYINFER_CHECK(kernel[i] >= 1 && kernel[i] < kMaxParam, op << ": kernel_shape must be positive, got " << shape_str(kernel));
    PYINFER_CHECK(strides[i] >= 1 && strides[i] < kMaxParam, op << ": strides must be positive, got " << shape_str(strides));
    PYINFER_CHECK(dilations[i] >= 1 && dilations[i] < kMaxParam,
                  op << ": dilations must be positive, got " << shape_str(dilations));
    PYINFER_CHECK(pads[i] >= 0 && pads[i + r] >= 0 && pads[i] < kMaxParam && pads[i + r] < kMaxParam,
                  op << ": pads must be non-negative, got " << shape_str(pads));
  }
  PoolGeom g;
  g.spatial_rank = rank;
  g.planes = x_shape[0] * x_shape[1];
  const int off = 3 - rank;
  for (int i = 0; i < 3; ++i) {
    g.in[i] = g.out[i] = g.kernel[i] = g.stride[i] = g.dilation[i] = 1;
    g.pad_begin[i] = g.pad_end[i] = 0;
  }
  for (size_t i = 0; i < r; ++i) {
    const int j = off + int(i);
    g.in[j] = x_shape[2 + i];
    g.kernel[j] = kernel[i];
    g.stride[j] = strides[i];
    g.dilation[j] = dilations[i];
    g.pad_begin[j] = pads[i];
    g.pad_end[j] = pads[i + r];
    g.out[j] = pool_output_size(g.in[j], kernel[i], strides[i], pads[i], pads[i + r], dilations[i], ceil_mode);
    PYINFER_CHECK(g.out[j] >= 1, op << ": empty output along spatial axis " << i << ": input " << shape_str(x_shape)
                                    << ", kernel_shape " << shape_str(kernel) << ", dilations " << shape_str(dilations)
                                    << ", pads " << shape_str(pads) << " (the window is larger than the padded input)");
  }
  return g;
}

std::vector<int64_t> pool_output_shape(const std::vector<int64_t>& x_shape, const PoolGeom& g) {
  std::vector<int64_t> s = {x_shape[0], x_shape[1]};
  for (int i = 3 - g.spatial_rank; i < 3; ++i) s.push_back(g.out[i]);
  return s;
}

// 3x3 stride-1 pools on maps up to this wide take whole planes at a time (measured: 7, 14 and 28
// wide 2-4x faster than output rows; the row path catches up on wide rows), if a plane's
// scratch (three planes' worth per thread) stays small.
constexpr int64_t kPlane3x3MaxWidth = 64;
constexpr int64_t kPlane3x3MaxFloats = int64_t(1) << 16;

// Threads for a pooling pass (the cost model, common/thread_pool.h): the larger of streaming its
// inputs and outputs and of `ops_per_output` vector operations per output, over `units` pieces.
int pool_threads(const PoolGeom& g, double ops_per_output, int64_t units, int num_threads) {
  const double in = double(g.planes) * double(g.in_plane()), outs = double(g.planes) * double(g.out_plane());
  return threads_for_work(std::max(bytes_ns(4.0 * (in + outs)), flops_ns(outs * ops_per_output)), units, num_threads);
}

void pool_forward(PoolKind kind, const PoolGeom& g, const float* x, float* y, int num_threads) {
  const PoolKernels& k = pool_kernels();
  const double taps = double(g.kernel[0] * g.kernel[1] * g.kernel[2]);
  if (is_plane_3x3(g) && g.in[2] <= kPlane3x3MaxWidth && g.in[1] * g.in[2] <= kPlane3x3MaxFloats) {
    const int64_t scratch = plane_3x3_scratch(g);
    parallel_for(g.planes, pool_threads(g, taps, g.planes, num_threads), [&](int64_t b, int64_t e) {
      k.planes_3x3(g, int(kind), x, y, b, e, tls_row_buf.get(scratch));
    });
    return;
  }
  const int64_t rows = g.planes * g.out[0] * g.out[1];
  const int64_t buf_size = pool_row_layout(g).total;
  parallel_for(rows, pool_threads(g, taps, rows, num_threads), [&](int64_t b, int64_t e) {
    k.window_rows(g, int(kind), x, y, b, e, tls_row_buf.get(buf_size));
  });
}

void lp_pool_forward(const PoolGeom& g, float p, const float* x, float* y, int num_threads) {
  PYINFER_CHECK(p > 0 && std::isfinite(p), "lp_pool: p must be positive, got " << p);
  const PoolKernels& k = pool_kernels();
  const int64_t n_in = g.planes * g.in_plane(), n_out = g.planes * g.out_plane();
  std::unique_ptr<float[]> powed(new float[size_t(n_in > 0 ? n_in : 1)]);
  float* pw = powed.get();
  // |x|^p and its root: a log and an exp per element (~40 vector operations).
  parallel_for(n_in, threads_for_work(flops_ns(40.0 * n_in), n_in, num_threads),
               [&](int64_t b, int64_t e) { k.abs_pow(x + b, pw + b, e - b, p); });
  pool_forward(PoolKind::Sum, g, pw, y, num_threads);
  parallel_for(n_out, threads_for_work(flops_ns(40.0 * n_out), n_out, num_threads),
               [&](int64_t b, int64_t e) { k.root(y + b, e - b, p); });
}

void max_pool_indices(const PoolGeom& g, const float* x, float* y, int64_t* indices, bool column_major,
                      int num_threads) {
  const int64_t D = g.in[0], H = g.in[1], W = g.in[2];
  const int64_t Do = g.out[0], Ho = g.out[1], Wo = g.out[2];
  const int64_t in_plane = g.in_plane();
  auto taps = [](int64_t start, int64_t in, int64_t kernel, int64_t dil, int64_t* lo, int64_t* hi) {
    *lo = start < 0 ? ceil_div(-start, dil) : 0;
    *hi = std::min(kernel, std::max<int64_t>(0, ceil_div(in - start, dil)));
    if (*hi < *lo) *hi = *lo;
  };
  const int64_t rows = g.planes * Do * Ho;
  // A scalar walk: a vector tier's time per window element times its lanes, about.
  const double ops = 16.0 * double(g.kernel[0] * g.kernel[1] * g.kernel[2]);
  parallel_for(rows, pool_threads(g, ops, rows, num_threads), [&](int64_t rb, int64_t re) {
    for (int64_t r = rb; r < re; ++r) {
      const int64_t plane = r / (Do * Ho), rem = r % (Do * Ho), od = rem / Ho, oh = rem % Ho;
      const float* xp = x + plane * in_plane;
      const int64_t sd = od * g.stride[0] - g.pad_begin[0], sh = oh * g.stride[1] - g.pad_begin[1];
      int64_t d0, d1, h0, h1;
      taps(sd, D, g.kernel[0], g.dilation[0], &d0, &d1);
      taps(sh, H, g.kernel[1], g.dilation[1], &h0, &h1);
      for (int64_t ow = 0; ow < Wo; ++ow) {
        const int64_t sw = ow * g.stride[2] - g.pad_begin[2];
        int64_t w0, w1;
        taps(sw, W, g.kernel[2], g.dilation[2], &w0, &w1);
        float best = -std::numeric_limits<float>::infinity();
        int64_t bd = -1, bh = -1, bw = -1;
        // Row-major walk: the first maximum wins ties; the first NaN ends the search.
        for (int64_t kd = d0; kd < d1 && !(best != best); ++kd) {
          const int64_t id = sd + kd * g.dilation[0];
          for (int64_t kh = h0; kh < h1 && !(best != best); ++kh) {
            const int64_t ih = sh + kh * g.dilation[1];
            const float* row = xp + (id * H + ih) * W;
            for (int64_t kw = w0; kw < w1; ++kw) {
              const int64_t iw = sw + kw * g.dilation[2];
              const float v = row[iw];
              if (bd < 0 || v > best || v != v) {
                best = v;
                bd = id, bh = ih, bw = iw;
                if (v != v) break;
              }
            }
          }
        }
        const int64_t o = r * Wo + ow;
        y[o] = best;
        if (bd < 0) {
          indices[o] = -1;
        } else {
          const int64_t pos = column_major ? bd + bh * D + bw * D * H : (bd * H + bh) * W + bw;
          indices[o] = plane * in_plane + pos;
        }
      }
    }
  });
}

void global_pool(GlobalKind kind, int64_t planes, int64_t plane_size, float p, const float* x, float* y,
                 int num_threads) {
  if (kind == GlobalKind::Lp) PYINFER_CHECK(p > 0 && std::isfinite(p), "global_lp_pool: p must be positive, got " << p);
  const PoolKernels& k = pool_kernels();
  const double ns = std::max(bytes_ns(4.0 * double(planes) * double(plane_size)),
                             flops_ns((kind == GlobalKind::Lp ? 40.0 : 1.0) * double(planes) * double(plane_size)));
  parallel_for(planes, threads_for_work(ns, planes, num_threads), [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) {
      const float* xp = x + i * plane_size;
      switch (kind) {
        case GlobalKind::Avg:
          y[i] = k.plane_reduce(xp, plane_size, 0, 1.f) / float(plane_size);
          break;
        case GlobalKind::Max:
          y[i] = k.plane_reduce(xp, plane_size, 1, 1.f);
          break;
        case GlobalKind::Lp: {
          const float s = k.plane_reduce(xp, plane_size, 2, p);
          y[i] = p == 2.f ? std::sqrt(s) : (p == 1.f ? s : std::pow(s, 1.f / p));
          break;
        }
      }
    }
  });
}

// --- prepared kernels -----------------------------------------------------------------------

PreparedPtr prepare_pool(const char* op, PoolKind kind, const std::vector<int64_t>& x_shape,
                         const std::vector<int64_t>& kernel, const std::vector<int64_t>& strides,
                         const std::vector<int64_t>& pads, const std::vector<int64_t>& dilations, bool ceil_mode) {
  const PoolGeom g = make_pool_geom(op, x_shape, kernel, strides, pads, dilations, ceil_mode);
  const std::string name = op;
  return KernelBuilder(op).input("x", x_shape).output("y", pool_output_shape(x_shape, g))
      .remake([name, kind, kernel, strides, pads, dilations, ceil_mode](const Shapes& s) {
        return prepare_pool(name.c_str(), kind, s[0], kernel, strides, pads, dilations, ceil_mode);
      })
      .run([kind, g](const void* const* in, void* const* out, int threads) {
        pool_forward(kind, g, f32_in(in, 0), f32_out(out, 0), threads);
      });
}

PreparedPtr prepare_max_pool_with_indices(const std::vector<int64_t>& x_shape, const std::vector<int64_t>& kernel,
                                          const std::vector<int64_t>& strides, const std::vector<int64_t>& pads,
                                          const std::vector<int64_t>& dilations, bool ceil_mode, bool column_major) {
  const PoolGeom g = make_pool_geom("max_pool", x_shape, kernel, strides, pads, dilations, ceil_mode);
  const auto y_shape = pool_output_shape(x_shape, g);
  return KernelBuilder("max_pool").input("x", x_shape).output("y", y_shape).output("indices", y_shape, DType::Int64)
      .algorithm("with_indices")
      .remake([kernel, strides, pads, dilations, ceil_mode, column_major](const Shapes& s) {
        return prepare_max_pool_with_indices(s[0], kernel, strides, pads, dilations, ceil_mode, column_major);
      })
      .run([g, column_major](const void* const* in, void* const* out, int threads) {
        max_pool_indices(g, f32_in(in, 0), f32_out(out, 0), static_cast<int64_t*>(out[1]), column_major, threads);
      });
}

PreparedPtr prepare_lp_pool(const std::vector<int64_t>& x_shape, const std::vector<int64_t>& kernel,
                            const std::vector<int64_t>& strides, const std::vector<int64_t>& pads,
                            const std::vector<int64_t>& dilations, bool ceil_mode, float p) {
  PYINFER_CHECK(p > 0 && std::isfinite(p), "lp_pool: p must be a positive number, got " << p);
  const PoolGeom g = make_pool_geom("lp_pool", x_shape, kernel, strides, pads, dilations, ceil_mode);
  return KernelBuilder("lp_pool").input("x", x_shape).output("y", pool_output_shape(x_shape, g))
      .workspace(g.planes * g.in_plane() * int64_t(sizeof(float)))
      .remake([kernel, strides, pads, dilations, ceil_mode, p](const Shapes& s) {
        return prepare_lp_pool(s[0], kernel, strides, pads, dilations, ceil_mode, p);
      })
      .run([g, p](const void* const* in, void* const* out, int threads) {
        lp_pool_forward(g, p, f32_in(in, 0), f32_out(out, 0), threads);
      });
}

PreparedPtr prepare_global_pool(const char* op, GlobalKind kind, const std::vector<int64_t>& x_shape, float p) {
  PYINFER_CHECK(x_shape.size() >= 2 && x_shape.size() <= 32,
                op << ": x must have rank 2..32 ((N, C, spatial...)), got shape " << shape_str(x_shape));
  for (int64_t d : x_shape) PYINFER_CHECK(d >= 0, op << ": negative dimension in " << shape_str(x_shape));
  if (kind == GlobalKind::Lp)
    PYINFER_CHECK(p > 0 && std::isfinite(p), op << ": p must be a positive number, got " << p);
  int64_t plane = 1;
  for (size_t i = 2; i < x_shape.size(); ++i) plane *= x_shape[i];
  std::vector<int64_t> y_shape(x_shape.size(), 1);
  y_shape[0] = x_shape[0], y_shape[1] = x_shape[1];
  const int64_t planes = x_shape[0] * x_shape[1];
  const std::string name = op;
  return KernelBuilder(op).input("x", x_shape).output("y", y_shape)
      .remake([name, kind, p](const Shapes& s) { return prepare_global_pool(name.c_str(), kind, s[0], p); })
      .run([kind, planes, plane, p](const void* const* in, void* const* out, int threads) {
        global_pool(kind, planes, plane, p, f32_in(in, 0), f32_out(out, 0), threads);
      });
}

}  // namespace pyinfer
