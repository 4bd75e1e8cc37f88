// ONNX Resize / Upsample as separable per-axis interpolation over tap tables. The tables (per
// resized axis and output position: source indices, weights, whether the position lies outside
// the input for tf_crop_and_resize) are computed by pyinfer/ops/resize.py with the NumPy
// formulas of every coordinate transformation mode, nearest mode, cubic coefficient and
// antialias; the kernel applies them: nearest as one gather of any element type
// (indexing/axis_gather.cpp), linear / cubic
// on float32 one axis after the other (ascending), adding the taps in order in float32 as the
// NumPy path does.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cstring>
#include <string>
#include <vector>

#include "bindings/bindings.h"
#include "common/axis.h"
#include "common/check.h"
#include "common/dtype_dispatch.h"
#include "common/prepared.h"
#include "common/strided_copy.h"
#include "common/thread_pool.h"
#include "indexing/axis_gather.h"

namespace py = pybind11;

namespace pyinfer {
namespace {

// One resized axis: out_len positions of `taps` (index, weight) pairs each.
struct AxisTaps {
  int64_t axis = 0, out_len = 0, taps = 1;
  std::vector<int64_t> index;  // out_len * taps, into [0, in_len)
  std::vector<float> weight;   // out_len * taps (empty for nearest)
  std::vector<bool> outside;   // out_len or empty: positions that take the extrapolation value
};

// A view of one pass: [outer, in_len, inner] -> [outer, out_len, inner].
struct Pass {
  AxisView in;
  const AxisTaps* t;
};

void interpolate_pass(const float* x, float* y, const Pass& p, float extrapolation, int threads) {
  const AxisView& v = p.in;
  const AxisTaps& t = *p.t;
  const int64_t rows = v.outer * t.out_len;
  // The cost model (common/thread_pool.h): a multiply-add per tap and output element.
  const double outputs = double(rows) * double(v.inner);
  parallel_for(rows, threads_for_work(flops_ns(2.0 * outputs * double(t.taps)) + bytes_ns(8.0 * outputs), rows, threads),
               [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const int64_t o = r / t.out_len, j = r % t.out_len;
      float* out = y + r * v.inner;
      if (!t.outside.empty() && t.outside[j]) {
        for (int64_t i = 0; i < v.inner; ++i) out[i] = extrapolation;
        continue;
      }
      const float* base = x + o * v.n * v.inner;
      const int64_t* idx = t.index.data() + j * t.taps;
      const float* w = t.weight.data() + j * t.taps;
      const float* first = base + idx[0] * v.inner;
      for (int64_t i = 0; i < v.inner; ++i) out[i] = first[i] * w[0];
      for (int64_t k = 1; k < t.taps; ++k) {
        const float* src = base + idx[k] * v.inner;
        const float wk = w[k];
        for (int64_t i = 0; i < v.inner; ++i) out[i] = out[i] + src[i] * wk;
      }
    }
  });
}

// The last axis resized (inner == 1): each output element gathers its taps. Taps: the count when
// fixed at compile time (linear 2, cubic 4: unrolled), else 0 (read from the table).
template <int Taps>
void interpolate_last_axis(const float* x, float* y, const Pass& p, float extrapolation, int threads) {
  const AxisTaps& t = *p.t;
  const int64_t in_len = p.in.n, rows = p.in.outer, taps = Taps ? Taps : t.taps;
  // The cost model (common/thread_pool.h): a multiply-add per tap and output element.
  const double outputs = double(rows) * double(t.out_len);
  parallel_for(rows, threads_for_work(flops_ns(2.0 * outputs * double(taps)) + bytes_ns(8.0 * outputs), rows, threads),
               [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const float* src = x + r * in_len;
      float* out = y + r * t.out_len;
      for (int64_t j = 0; j < t.out_len; ++j) {
        const int64_t* idx = t.index.data() + j * taps;
        const float* w = t.weight.data() + j * taps;
        float acc = src[idx[0]] * w[0];
        for (int64_t k = 1; k < taps; ++k) acc = acc + src[idx[k]] * w[k];
        out[j] = acc;
      }
      if (!t.outside.empty())
        for (int64_t j = 0; j < t.out_len; ++j)
          if (t.outside[j]) out[j] = extrapolation;
    }
  });
}

}  // namespace

// Inputs x and sizes (int64, read on every run and checked to equal expected_sizes when given,
// else unused); output y. axes ascending; per axis its taps, indices (out_len *
// taps), weights (same length, or empty for nearest) and outside flags (out_len, or empty).
PreparedPtr prepare_resize(const std::vector<int64_t>& x_shape, DType dtype, const std::vector<int64_t>& axes,
                           const std::vector<int64_t>& taps, const std::vector<std::vector<int64_t>>& indices,
                           const std::vector<std::vector<float>>& weights, const std::vector<std::vector<bool>>& outside,
                           float extrapolation_value, bool nearest, const std::vector<int64_t>& expected_sizes) {
  check_dims(x_shape, "resize");
  const int64_t rank = static_cast<int64_t>(x_shape.size());
  const size_t n = axes.size();
  PYINFER_CHECK(rank >= 1 && n >= 1 && taps.size() == n && indices.size() == n && weights.size() == n &&
                    outside.size() == n,
                "resize: give taps, indices, weights and outside flags for every resized axis");
  PYINFER_CHECK(nearest || dtype == DType::Float32, "resize: linear and cubic interpolate float32 only");
  std::vector<AxisTaps> tables(n);
  std::vector<int64_t> out_shape = x_shape;
  for (size_t i = 0; i < n; ++i) {
    AxisTaps& t = tables[i];
    t.axis = axes[i];
    PYINFER_CHECK(t.axis >= 0 && t.axis < rank && (i == 0 || t.axis > axes[i - 1]), "resize: axes must ascend");
    PYINFER_CHECK(taps[i] >= 1 && (!nearest || taps[i] == 1), "resize: bad tap count");
    t.taps = taps[i];
    PYINFER_CHECK(static_cast<int64_t>(indices[i].size()) % t.taps == 0, "resize: index table of a partial position");
    t.out_len = static_cast<int64_t>(indices[i].size()) / t.taps;
    for (int64_t k : indices[i])
      PYINFER_CHECK(k >= 0 && k < x_shape[t.axis], "resize: tap " << k << " outside an axis of " << x_shape[t.axis]);
    PYINFER_CHECK(nearest ? weights[i].empty() : weights[i].size() == indices[i].size(), "resize: weights must match");
    PYINFER_CHECK(outside[i].empty() || static_cast<int64_t>(outside[i].size()) == t.out_len,
                  "resize: one outside flag per output position");
    t.index = indices[i], t.weight = weights[i], t.outside = outside[i];
    out_shape[t.axis] = t.out_len;
  }
  KernelBuilder b("resize");
  b.input("x", x_shape, dtype);
  const bool check_sizes = !expected_sizes.empty();
  const int64_t n_sizes = static_cast<int64_t>(expected_sizes.size());
  if (check_sizes) b.input("sizes", {n_sizes}, DType::Int64);
  else b.unused_input("sizes", {0}, DType::Int64);
  b.output("y", out_shape, dtype).algorithm(nearest ? "nearest_gather" : "separable");
  auto check = [=](const void* sizes) {
    if (check_sizes)
      PYINFER_CHECK_SHAPE(read_ints(sizes, true, n_sizes) == expected_sizes,
                          "resize: the sizes input differs from the plan's output shape");
  };
  if (nearest) {  // one gather over every resized axis (indexing/axis_gather.cpp)
    std::vector<AxisPick> picks;
    for (const AxisTaps& t : tables) picks.push_back({t.axis, t.index, t.outside});
    // tf_crop_and_resize fills float32 only (resize.py keeps other types on the NumPy path)
    std::string fill(static_cast<size_t>(dtype_size(dtype)), '\0');
    if (dtype == DType::Float32) fill.assign(reinterpret_cast<const char*>(&extrapolation_value), sizeof(float));
    const PreparedPtr gather = prepare_axis_gather("resize", x_shape, dtype, picks, fill);
    return b.run([=](const void* const* in, void* const* o, int threads) {
      check(in[1]);
      gather->run(in, o, threads);
    });
  }
  return b.run([=](const void* const* in, void* const* o, int threads) {
    check(in[1]);
    std::vector<int64_t> shape = x_shape;
    std::vector<float> buf[2];
    const float* src = f32_in(in, 0);
    for (size_t i = 0; i < n; ++i) {
      const AxisTaps& t = tables[i];
      const Pass p{axis_view(shape, t.axis), &t};
      shape[t.axis] = t.out_len;
      float* dst = f32_out(o, 0);
      if (i + 1 < n) {
        int64_t size = 1;
        for (int64_t d : shape) size *= d;
        buf[i % 2].resize(static_cast<size_t>(size));
        dst = buf[i % 2].data();
      }
      if (p.in.inner > 1) interpolate_pass(src, dst, p, extrapolation_value, threads);
      else if (t.taps == 2) interpolate_last_axis<2>(src, dst, p, extrapolation_value, threads);
      else if (t.taps == 4) interpolate_last_axis<4>(src, dst, p, extrapolation_value, threads);
      else interpolate_last_axis<0>(src, dst, p, extrapolation_value, threads);
      src = dst;
    }
  });
}

PYINFER_BINDINGS(resize, 10) {
  m.def(
      "prepare_resize",
      [](const std::vector<int64_t>& x_shape, const std::string& dtype, const std::vector<int64_t>& axes,
         const std::vector<int64_t>& taps, const std::vector<std::vector<int64_t>>& indices,
         const std::vector<std::vector<float>>& weights, const std::vector<std::vector<bool>>& outside,
         float extrapolation_value, bool nearest, const std::vector<int64_t>& expected_sizes) {
        return prepare_resize(x_shape, dtype_from_name(dtype, "resize"), axes, taps, indices, weights, outside,
                              extrapolation_value, nearest, expected_sizes);
      },
      py::arg("x_shape"), py::arg("dtype"), py::arg("axes"), py::arg("taps"), py::arg("indices"), py::arg("weights"),
      py::arg("outside"), py::arg("extrapolation_value") = 0.f, py::arg("nearest") = false,
      py::arg("expected_sizes") = std::vector<int64_t>{},
      "prepare_resize(x_shape, dtype, axes, taps, indices, weights, outside, extrapolation_value=0.0,\n"
      "nearest=False, expected_sizes=()) -> PreparedKernel: inputs x and sizes (int64, read on every run\n"
      "and checked to equal expected_sizes when given), output y. Per resized axis (ascending): `taps` source\n"
      "indices and weights per output position (row-major), outside flags (tf_crop_and_resize: the\n"
      "position takes extrapolation_value) or an empty list. nearest: one index per position, any dtype,\n"
      "no weights; else float32, the taps added in order (pyinfer/ops/resize.py makes the tables).");
}

}  // namespace pyinfer
