#include "indexing/axis_gather.h"

#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cstring>

#include "bindings/bindings.h"
#include "common/axis.h"
#include "common/check.h"
#include "common/dtype_dispatch.h"
#include "common/strided_copy.h"
#include "common/thread_pool.h"

namespace py = pybind11;

namespace pyinfer {
namespace {

// Rows (every dim but the last) decode their source row once; the last dim is picked per element.
template <class T>
void gather_picks(const T* x, T* y, const std::vector<int64_t>& in_shape, const std::vector<int64_t>& out_shape,
                  const std::vector<const AxisPick*>& by_axis, T fill, int threads) {
  const int64_t rank = static_cast<int64_t>(out_shape.size());
  const std::vector<int64_t> in_strides = contiguous_strides(in_shape);
  const int64_t inner = out_shape[rank - 1];
  int64_t rows = 1;
  for (int64_t d = 0; d + 1 < rank; ++d) rows *= out_shape[d];
  const AxisPick* last = by_axis[rank - 1];
  // The cost model (common/thread_pool.h): each output element read and written (~8 bytes).
  parallel_for(rows, threads_for_work(bytes_ns(8.0 * double(rows) * double(inner)), rows, threads),
               [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      int64_t off = 0, rest = r;
      bool row_outside = false;
      for (int64_t d = rank - 2; d >= 0; --d) {
        const int64_t i = rest % out_shape[d];
        rest /= out_shape[d];
        const AxisPick* p = by_axis[d];
        if (p && !p->outside.empty() && p->outside[i]) row_outside = true;
        off += (p ? p->index[i] : i) * in_strides[d];
      }
      T* out = y + r * inner;
      const T* src = x + off;
      if (row_outside) {
        for (int64_t j = 0; j < inner; ++j) out[j] = fill;
      } else if (!last) {
        std::memcpy(out, src, static_cast<size_t>(inner) * sizeof(T));
      } else {
        for (int64_t j = 0; j < inner; ++j)
          out[j] = !last->outside.empty() && last->outside[j] ? fill : src[last->index[j]];
      }
    }
  });
}

}  // namespace

PreparedPtr prepare_axis_gather(const char* op, const std::vector<int64_t>& x_shape, DType dtype,
                                std::vector<AxisPick> picks, const std::string& fill) {
  check_dims(x_shape, op);
  const int64_t rank = static_cast<int64_t>(x_shape.size());
  PYINFER_CHECK(rank >= 1, op << ": x must have rank >= 1");
  PYINFER_CHECK(static_cast<int64_t>(fill.size()) == dtype_size(dtype), op << ": the fill must be one element");
  std::vector<int64_t> out_shape = x_shape;
  std::vector<bool> seen(static_cast<size_t>(rank), false);
  for (const AxisPick& p : picks) {
    PYINFER_CHECK(p.axis >= 0 && p.axis < rank && !seen[p.axis], op << ": axis " << p.axis << " picked twice or out of range");
    seen[p.axis] = true;
    PYINFER_CHECK(p.outside.empty() || p.outside.size() == p.index.size(), op << ": one outside flag per position");
    for (size_t i = 0; i < p.index.size(); ++i)
      PYINFER_CHECK((!p.outside.empty() && p.outside[i]) || (p.index[i] >= 0 && p.index[i] < x_shape[p.axis]),
                    op << ": index " << p.index[i] << " outside an axis of " << x_shape[p.axis]);
    out_shape[p.axis] = static_cast<int64_t>(p.index.size());
  }
  return dispatch_bytes(dtype_size(dtype), [&](auto tag) {
    using T = typename decltype(tag)::type;
    T value;
    std::memcpy(&value, fill.data(), sizeof(T));
    return KernelBuilder(op).input("x", x_shape, dtype).output("y", out_shape, dtype).algorithm("axis_gather")
        .run([=](const void* const* in, void* const* o, int threads) {
          std::vector<const AxisPick*> by_axis(static_cast<size_t>(rank), nullptr);
          for (const AxisPick& p : picks) by_axis[p.axis] = &p;
          gather_picks(static_cast<const T*>(in[0]), static_cast<T*>(o[0]), x_shape, out_shape, by_axis, value, threads);
        });
  });
}

PYINFER_BINDINGS(axis_gather, 10) {
  m.def(
      "prepare_axis_gather",
      [](const std::vector<int64_t>& x_shape, const std::string& dtype, const std::vector<int64_t>& axes,
         const std::vector<std::vector<int64_t>>& indices, const std::vector<std::vector<bool>>& outside,
         py::bytes fill) {
        PYINFER_CHECK(indices.size() == axes.size() && outside.size() == axes.size(),
                      "axis_gather: give indices and outside flags for every axis");
        std::vector<AxisPick> picks(axes.size());
        for (size_t i = 0; i < axes.size(); ++i) picks[i] = {axes[i], indices[i], outside[i]};
        return prepare_axis_gather("axis_gather", x_shape, dtype_from_name(dtype, "axis_gather"), picks, fill);
      },
      py::arg("x_shape"), py::arg("dtype"), py::arg("axes"), py::arg("indices"), py::arg("outside"), py::arg("fill"),
      "prepare_axis_gather(x_shape, dtype, axes, indices, outside, fill: bytes of one element) -> PreparedKernel:\n"
      "input x, output x with each listed axis replaced by the picked positions (outside flags: take the fill).\n"
      "ONNX Pad (every mode) and Resize's nearest mode in plans.");
}

}  // namespace pyinfer
