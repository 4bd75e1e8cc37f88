// ONNX RoiAlign (float32, NCHW): each region of interest is cut into output_height x
// output_width bins, each bin sampled on a grid of bilinear points (sampling_ratio per axis, or
// ceil(roi size / bins)), averaged ('avg') or maxed ('max': onnxruntime's largest weighted
// corner). The sample positions and their four corner weights depend on the ROI only, so they
// are computed once per ROI and shared by its channels. Coordinates in float64, as the NumPy
// implementation computed them.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <algorithm>
#include <cmath>
#include <string>
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

struct RoiAlignParams {
  bool max_mode = false;
  int64_t out_h = 1, out_w = 1, sampling_ratio = 0;
  double spatial_scale = 1.0;
  bool half_pixel = true;  // coordinate_transformation_mode: half_pixel, else output_half_pixel
};

// One sample along one axis: its two taps and their weights (0 outside the map).
struct AxisSample {
  int64_t lo, hi;
  double w_lo, w_hi;
  bool inside;
};

std::vector<AxisSample> axis_samples(double start, double bin, int64_t bins, int64_t per_bin, int64_t size) {
  std::vector<AxisSample> s(static_cast<size_t>(bins * per_bin));
  for (int64_t k = 0; k < bins * per_bin; ++k) {
    double pos = start + static_cast<double>(k / per_bin) * bin + (static_cast<double>(k % per_bin) + 0.5) * bin /
                                                                      static_cast<double>(per_bin);
    AxisSample& a = s[k];
    a.inside = pos >= -1.0 && pos <= static_cast<double>(size);
    pos = std::max(pos, 0.0);
    int64_t lo = static_cast<int64_t>(std::floor(pos));
    if (lo >= size - 1) {
      a.lo = a.hi = size - 1;
      a.w_lo = 1.0, a.w_hi = 0.0;
    } else {
      a.lo = lo, a.hi = lo + 1;
      a.w_hi = pos - static_cast<double>(lo);
      a.w_lo = 1.0 - a.w_hi;
    }
  }
  return s;
}

// One sample point of a bin: the offsets of its four corners and their float32 weights.
struct Tap {
  int64_t off[4];
  float w[4];
};

void roi_align_one(const float* img, int64_t channels, int64_t h, int64_t w, const float* roi, const RoiAlignParams& p,
                   float* y) {
  const double offset = p.half_pixel ? 0.5 : 0.0;
  const double x0 = roi[0] * p.spatial_scale - offset, y0 = roi[1] * p.spatial_scale - offset;
  const double x1 = roi[2] * p.spatial_scale - offset, y1 = roi[3] * p.spatial_scale - offset;
  double roi_w = x1 - x0, roi_h = y1 - y0;
  if (!p.half_pixel) roi_w = std::max(roi_w, 1.0), roi_h = std::max(roi_h, 1.0);  // legacy: at least a pixel
  const double bin_h = roi_h / static_cast<double>(p.out_h), bin_w = roi_w / static_cast<double>(p.out_w);
  const int64_t gh = p.sampling_ratio ? p.sampling_ratio : static_cast<int64_t>(std::ceil(roi_h / p.out_h));
  const int64_t gw = p.sampling_ratio ? p.sampling_ratio : static_cast<int64_t>(std::ceil(roi_w / p.out_w));
  const int64_t plane = p.out_h * p.out_w;
  if (gh <= 0 || gw <= 0) {  // no sampling point: the output stays 0
    std::fill(y, y + channels * plane, 0.f);
    return;
  }
  const auto ys = axis_samples(y0, bin_h, p.out_h, gh, h), xs = axis_samples(x0, bin_w, p.out_w, gw, w);
  // Taps in bin order: bin (ph, pw) owns gh * gw consecutive taps.
  std::vector<Tap> taps(static_cast<size_t>(plane * gh * gw));
  size_t t = 0;
  for (int64_t ph = 0; ph < p.out_h; ++ph)
    for (int64_t pw = 0; pw < p.out_w; ++pw)
      for (int64_t iy = ph * gh; iy < (ph + 1) * gh; ++iy)
        for (int64_t ix = pw * gw; ix < (pw + 1) * gw; ++ix) {
          const AxisSample &sy = ys[iy], &sx = xs[ix];
          const bool in = sy.inside && sx.inside;
          Tap& tp = taps[t++];
          tp.off[0] = sy.lo * w + sx.lo, tp.off[1] = sy.lo * w + sx.hi;
          tp.off[2] = sy.hi * w + sx.lo, tp.off[3] = sy.hi * w + sx.hi;
          tp.w[0] = in ? static_cast<float>(sy.w_lo * sx.w_lo) : 0.f;
          tp.w[1] = in ? static_cast<float>(sy.w_lo * sx.w_hi) : 0.f;
          tp.w[2] = in ? static_cast<float>(sy.w_hi * sx.w_lo) : 0.f;
          tp.w[3] = in ? static_cast<float>(sy.w_hi * sx.w_hi) : 0.f;
        }
  const int64_t per_bin = gh * gw;
  for (int64_t c = 0; c < channels; ++c) {
    const float* src = img + c * h * w;
    float* dst = y + c * plane;
    const Tap* tp = taps.data();
    for (int64_t b = 0; b < plane; ++b, tp += per_bin) {
      if (p.max_mode) {
        float m = 0.f;
        for (int64_t s = 0; s < per_bin; ++s) {
          const Tap& q = tp[s];
          const float v = std::max(std::max(q.w[0] * src[q.off[0]], q.w[1] * src[q.off[1]]),
                                   std::max(q.w[2] * src[q.off[2]], q.w[3] * src[q.off[3]]));
          m = s == 0 ? v : std::max(m, v);
        }
        dst[b] = m;
      } else {
        float acc = 0.f;
        for (int64_t s = 0; s < per_bin; ++s) {
          const Tap& q = tp[s];
          acc += q.w[0] * src[q.off[0]] + q.w[1] * src[q.off[1]] + q.w[2] * src[q.off[2]] + q.w[3] * src[q.off[3]];
        }
        dst[b] = acc / static_cast<float>(per_bin);
      }
    }
  }
}

}  // namespace

// Inputs x (N, C, H, W), rois (R, 4) float32, batch_indices (R,) int64; output (R, C, out_h, out_w).
PreparedPtr prepare_roi_align(const std::vector<int64_t>& x_shape, int64_t num_rois, const std::string& mode,
                              int64_t out_h, int64_t out_w, int64_t sampling_ratio, double spatial_scale,
                              bool half_pixel) {
  PYINFER_CHECK(x_shape.size() == 4, "roi_align: x must be (N, C, H, W), got " << shape_str(x_shape));
  for (int64_t d : x_shape) PYINFER_CHECK(d >= 0, "roi_align: negative dimension in " << shape_str(x_shape));
  PYINFER_CHECK(mode == "avg" || mode == "max", "roi_align: mode must be 'avg' or 'max', got '" << mode << "'");
  PYINFER_CHECK(out_h > 0 && out_w > 0 && sampling_ratio >= 0 && num_rois >= 0,
                "roi_align: output_height / output_width must be positive and sampling_ratio >= 0");
  RoiAlignParams p;
  p.max_mode = mode == "max";
  p.out_h = out_h, p.out_w = out_w, p.sampling_ratio = sampling_ratio;
  p.spatial_scale = spatial_scale, p.half_pixel = half_pixel;
  const int64_t n = x_shape[0], c = x_shape[1], h = x_shape[2], w = x_shape[3];
  return KernelBuilder("roi_align").input("x", x_shape).input("rois", {num_rois, 4})
      .input("batch_indices", {num_rois}, DType::Int64).output("y", {num_rois, c, out_h, out_w})
      .remake([mode, out_h, out_w, sampling_ratio, spatial_scale, half_pixel](const Shapes& s) {
        return prepare_roi_align(s[0], s[1].empty() ? 0 : s[1][0], mode, out_h, out_w, sampling_ratio, spatial_scale,
                                 half_pixel);
      })
      .run([=](const void* const* in, void* const* out, int threads) {
        const float* x = f32_in(in, 0);
        const float* rois = f32_in(in, 1);
        const int64_t* batch = static_cast<const int64_t*>(in[2]);
        for (int64_t r = 0; r < num_rois; ++r)
          PYINFER_CHECK(batch[r] >= 0 && batch[r] < n,
                        "roi_align: batch index " << batch[r] << " is out of range for a batch of " << n);
        float* y = f32_out(out, 0);
        const int64_t work = num_rois * c * out_h * out_w;
        // The cost model (common/thread_pool.h): ~4 bilinear samples of 4 reads per output.
        parallel_for(num_rois, threads_for_work(flops_ns(32.0 * double(work)), num_rois, threads),
                     [&](int64_t r0, int64_t r1) {
          for (int64_t r = r0; r < r1; ++r)
            roi_align_one(x + batch[r] * c * h * w, c, h, w, rois + r * 4, p, y + r * c * out_h * out_w);
        });
      });
}

PYINFER_BINDINGS(roi_align, 10) {
  m.def("prepare_roi_align", &prepare_roi_align, py::arg("x_shape"), py::arg("num_rois"), py::arg("mode") = "avg",
        py::arg("output_height") = 1, py::arg("output_width") = 1, py::arg("sampling_ratio") = 0,
        py::arg("spatial_scale") = 1.0, py::arg("half_pixel") = true,
        "prepare_roi_align(x_shape, num_rois, mode='avg', output_height=1, output_width=1, sampling_ratio=0,\n"
        "spatial_scale=1.0, half_pixel=True) -> PreparedKernel: inputs x, rois (float32), batch_indices (int64).");
  m.def(
      "roi_align",
      [](py::handle x_obj, py::handle rois_obj, py::handle batch_obj, const std::string& mode, int64_t out_h,
         int64_t out_w, int64_t sampling_ratio, double spatial_scale, bool half_pixel, int num_threads) {
        auto x = bind::float_array(x_obj, "roi_align: x", 4, 4);
        auto rois = bind::float_array(rois_obj, "roi_align: rois", 2, 2);
        PYINFER_CHECK(rois.shape(1) == 4, "roi_align: rois must be (num_rois, 4)");
        auto k = prepare_roi_align(bind::shape_of(x), rois.shape(0), mode, out_h, out_w, sampling_ratio, spatial_scale,
                                   half_pixel);
        return bind::call(*k, {x, rois, batch_obj}, num_threads);
      },
      py::arg("x"), py::arg("rois"), py::arg("batch_indices"), py::arg("mode") = "avg", py::arg("output_height") = 1,
      py::arg("output_width") = 1, py::arg("sampling_ratio") = 0, py::arg("spatial_scale") = 1.0,
      py::arg("half_pixel") = true, py::arg("num_threads") = 0,
      "roi_align(x, rois, batch_indices, mode='avg', output_height=1, output_width=1, sampling_ratio=0,\n"
      "spatial_scale=1.0, half_pixel=True, num_threads=0): ONNX RoiAlign on float32 NCHW x; rois (R, 4) as\n"
      "(x1, y1, x2, y2) in input coordinates times spatial_scale; batch_indices int64 (R,). half_pixel=False\n"
      "is opset 10's output_half_pixel mode.");
}

}  // namespace pyinfer
