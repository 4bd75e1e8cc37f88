// Layer normalization over the channels of an NCHW map (ConvNeXt's LayerNorm2d, written by the
// exporters as Transpose -> LayerNormalization(axis=-1) -> Transpose; the optimizer's
// nhwc_to_nchw pass turns that into pyinfer::ChannelLayerNorm, so the 1x1 convolutions around
// it stay NCHW and fuse):
//   y[n, c, p] = (x[n, c, p] - mean[n, p]) / sqrt(var[n, p] + eps) * scale[c] + bias[c]
// with mean and (biased) var over c for each pixel p. The statistics are per pixel, so the loops
// run along pixels (contiguous in NCHW: plain elementwise loops the compiler vectorizes), a block
// of pixels at a time across every channel, so the block stays in cache for the three passes
// (mean, variance around it, output). Kernel, prepare and binding in one file.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cmath>
#include <memory>
#include <vector>

#include "bindings/array.h"
#include "bindings/bindings.h"
#include "bindings/prepared.h"
#include "common/check.h"
#include "common/prepared.h"
#include "common/thread_pool.h"

namespace py = pybind11;

namespace pyinfer {
namespace {

constexpr int64_t kBlock = 256;  // pixels per work unit: C x 256 floats (96 KiB at C = 96) stay in L2

void channel_norm_block(const float* x, float* y, int64_t C, int64_t P, int64_t p0, int64_t len, const float* scale,
                        const float* bias, float eps) {
  float mean[kBlock], rstd[kBlock];
  for (int64_t i = 0; i < len; ++i) mean[i] = 0.f;
  for (int64_t c = 0; c < C; ++c) {
    const float* xc = x + c * P + p0;
    for (int64_t i = 0; i < len; ++i) mean[i] += xc[i];
  }
  const float inv_c = 1.f / static_cast<float>(C);
  for (int64_t i = 0; i < len; ++i) {
    mean[i] *= inv_c;
    rstd[i] = 0.f;
  }
  for (int64_t c = 0; c < C; ++c) {
    const float* xc = x + c * P + p0;
    for (int64_t i = 0; i < len; ++i) {
      const float d = xc[i] - mean[i];
      rstd[i] += d * d;
    }
  }
  for (int64_t i = 0; i < len; ++i) rstd[i] = 1.f / std::sqrt(rstd[i] * inv_c + eps);
  for (int64_t c = 0; c < C; ++c) {
    const float* xc = x + c * P + p0;
    float* yc = y + c * P + p0;
    const float s = scale ? scale[c] : 1.f, b = bias ? bias[c] : 0.f;
    for (int64_t i = 0; i < len; ++i) yc[i] = (xc[i] - mean[i]) * rstd[i] * s + b;
  }
}

}  // namespace

// x [N, C, spatial...]; scale / bias [C] (absent: 1 / 0); y has x's shape.
PreparedPtr prepare_channel_layer_norm(const std::vector<int64_t>& x_shape, bool has_scale, bool has_bias, float eps) {
  PYINFER_CHECK(x_shape.size() >= 2, "channel_layer_norm: x must be [N, C, spatial...], got rank " << x_shape.size());
  PYINFER_CHECK(eps >= 0.f && std::isfinite(eps), "channel_layer_norm: epsilon must be finite and >= 0, got " << eps);
  const int64_t N = x_shape[0], C = x_shape[1];
  int64_t P = 1;
  for (size_t d = 2; d < x_shape.size(); ++d) P *= x_shape[d];
  KernelBuilder kb("channel_layer_norm");
  kb.input("x", x_shape);
  if (has_scale) kb.input("scale", {C});
  if (has_bias) kb.input("bias", {C});
  kb.output("y", x_shape);
  kb.remake([has_scale, has_bias, eps](const Shapes& s) {
    return prepare_channel_layer_norm(s[0], has_scale, has_bias, eps);
  });
  return kb.run([=](const void* const* in, void* const* out, int threads) {
    const float* x = static_cast<const float*>(in[0]);
    const float* scale = has_scale ? static_cast<const float*>(in[1]) : nullptr;
    const float* bias = has_bias ? static_cast<const float*>(in[has_scale ? 2 : 1]) : nullptr;
    float* y = static_cast<float*>(out[0]);
    const int64_t blocks = (P + kBlock - 1) / kBlock;
    // The cost model (common/thread_pool.h): two passes over the map, ~8 flops per element.
    const double elements = double(N) * double(C) * double(P);
    const int use = threads_for_work(bytes_ns(12.0 * elements) + flops_ns(8.0 * elements), N * blocks, threads);
    parallel_for(N * blocks, use, [&](int64_t b, int64_t e) {
      for (int64_t u = b; u < e; ++u) {
        const int64_t n = u / blocks, p0 = (u % blocks) * kBlock;
        const int64_t len = P - p0 < kBlock ? P - p0 : kBlock;
        channel_norm_block(x + n * C * P, y + n * C * P, C, P, p0, len, scale, bias, eps);
      }
    });
  });
}

PYINFER_BINDINGS(channel_layer_norm, 10) {
  m.def(
      "prepare_channel_layer_norm",
      [](const std::vector<int64_t>& x_shape, bool has_scale, bool has_bias, float epsilon) {
        return prepare_channel_layer_norm(x_shape, has_scale, has_bias, epsilon);
      },
      py::arg("x_shape"), py::arg("has_scale") = true, py::arg("has_bias") = true, py::arg("epsilon") = 1e-5f,
      "prepare_channel_layer_norm(x_shape, has_scale=True, has_bias=True, epsilon=1e-5) -> PreparedKernel\n"
      "channel_layer_norm() prepared for this shape; the kernel takes (x, scale, bias), the absent ones left out.");
  m.def(
      "channel_layer_norm",
      [](py::handle x_obj, py::object scale_obj, py::object bias_obj, float epsilon, int num_threads) {
        auto x = bind::float_array(x_obj, "channel_layer_norm x", 2, 8);
        std::vector<py::handle> ins{x};
        bind::FloatArray scale, bias;
        const int64_t C = x.shape(1);
        if (!scale_obj.is_none()) {
          scale = bind::float_array(scale_obj, "channel_layer_norm scale", 1, 1);
          PYINFER_CHECK(scale.shape(0) == C, "channel_layer_norm: scale has " << scale.shape(0) << " values for "
                                                                             << C << " channels");
          ins.push_back(scale);
        }
        if (!bias_obj.is_none()) {
          bias = bind::float_array(bias_obj, "channel_layer_norm bias", 1, 1);
          PYINFER_CHECK(bias.shape(0) == C, "channel_layer_norm: bias has " << bias.shape(0) << " values for "
                                                                           << C << " channels");
          ins.push_back(bias);
        }
        auto k = prepare_channel_layer_norm(bind::shape_of(x), !scale_obj.is_none(), !bias_obj.is_none(), epsilon);
        return bind::call(*k, ins, num_threads);
      },
      py::arg("x"), py::arg("scale") = py::none(), py::arg("bias") = py::none(), py::arg("epsilon") = 1e-5f,
      py::arg("num_threads") = 0,
      "channel_layer_norm(x, scale=None, bias=None, epsilon=1e-5, num_threads=0)\n"
      "Layer normalization over axis 1 of x [N, C, spatial...] (float32): for each pixel, (x - mean) /\n"
      "sqrt(var + epsilon) over the C channels, times scale[c] plus bias[c] (ConvNeXt's LayerNorm2d).");
}

}  // namespace pyinfer
