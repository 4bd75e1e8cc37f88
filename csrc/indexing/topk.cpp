// ONNX TopK: the k largest (or smallest) values along an axis and their int64 indices, sorted;
// equal values keep the lower index first and NaN ranks above every number (numpy's order,
// which pyinfer's NumPy path used). Per row: nth_element then a sort of the k picked.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <algorithm>
#include <string>
#include <vector>

#include "bindings/array.h"
#include "bindings/bindings.h"
#include "bindings/prepared.h"
#include "common/axis.h"
#include "common/check.h"
#include "common/dtype_dispatch.h"
#include "common/prepared.h"
#include "common/thread_pool.h"

namespace py = pybind11;

namespace pyinfer {
namespace {

constexpr int64_t kRowsPerTask = 16;

template <class T>
void topk_rows(const T* x, T* values, int64_t* indices, const AxisView& v, int64_t k, bool largest, int threads) {
  const int64_t rows = v.outer * v.inner;
  // The cost model (common/thread_pool.h): a selection pass over each row, ~8 flops per element.
  const int64_t tasks = (rows + kRowsPerTask - 1) / kRowsPerTask;
  parallel_for(tasks, threads_for_work(flops_ns(8.0 * double(rows) * double(v.n)), tasks, threads),
               [&](int64_t t0, int64_t t1) {
    std::vector<T> row(static_cast<size_t>(v.n));
    std::vector<int64_t> order(static_cast<size_t>(v.n));
    // a before b: larger (smaller) value first, NaN first (last), then the lower index.
    auto before = [&](int64_t a, int64_t b) {
      const T va = row[a], vb = row[b];
      const bool an = is_nan(va), bn = is_nan(vb);
      if (an != bn) return largest ? an : bn;
      if (!an && va != vb) return largest ? va > vb : va < vb;
      return a < b;
    };
    for (int64_t r = t0 * kRowsPerTask; r < std::min(rows, t1 * kRowsPerTask); ++r) {
      const int64_t o = r / v.inner, j = r % v.inner;
      const T* src = x + o * v.n * v.inner + j;
      for (int64_t i = 0; i < v.n; ++i) row[i] = src[i * v.inner], order[i] = i;
      if (k < v.n) std::nth_element(order.begin(), order.begin() + k, order.end(), before);
      std::sort(order.begin(), order.begin() + k, before);
      T* vo = values + o * k * v.inner + j;
      int64_t* io = indices + o * k * v.inner + j;
      for (int64_t i = 0; i < k; ++i) vo[i * v.inner] = row[order[i]], io[i * v.inner] = order[i];
    }
  });
}

}  // namespace

// Inputs x (shape, dtype) and, when k_from_input, the K tensor (int64, one value: checked
// against k on every run); outputs values (dtype) and indices (int64), x's shape with k on axis.
PreparedPtr prepare_topk(const std::vector<int64_t>& shape, DType dtype, int64_t axis, int64_t k, bool largest,
                         const std::vector<int64_t>& k_shape, bool k_from_input) {
  check_dims(shape, "topk");
  axis = checked_axis(axis, static_cast<int64_t>(shape.size()), "topk");
  const AxisView v = axis_view(shape, axis);
  PYINFER_CHECK(k >= 0 && k <= v.n, "topk: k=" << k << " is out of range for an axis of " << v.n);
  std::vector<int64_t> out = shape;
  out[axis] = k;
  KernelBuilder b("topk");
  b.input("x", shape, dtype);
  if (k_from_input) {
    PYINFER_CHECK(check_dims(k_shape, "topk") == 1, "topk: K must hold one value, got shape " << shape_str(k_shape));
    b.control_input("k", k_shape);
    b.remake_with_values([dtype, axis, largest](const Shapes& s, const Shapes& values) {
      return prepare_topk(s[0], dtype, axis, values[1].at(0), largest, s[1], true);
    });
  } else {
    b.unused_input("k", k_shape, DType::Int64);
    b.remake([dtype, axis, k, largest, k_shape](const Shapes& s) {
      return prepare_topk(s[0], dtype, axis, k, largest, k_shape, false);
    });
  }
  return dispatch_real(dtype, "topk", [&](auto tag) {
    using T = typename decltype(tag)::type;
    return b.output("values", out, dtype).output("indices", out, DType::Int64)
        .run([=](const void* const* in, void* const* o, int threads) {
          if (k_from_input) {
            const int64_t given = *static_cast<const int64_t*>(in[1]);
            PYINFER_CHECK_SHAPE(given == k, "topk: K is " << given << ", the plan has " << k);
          }
          topk_rows(static_cast<const T*>(in[0]), static_cast<T*>(o[0]), static_cast<int64_t*>(o[1]), v, k, largest,
                    threads);
        });
  });
}

PYINFER_BINDINGS(topk, 10) {
  m.def(
      "prepare_topk",
      [](const std::vector<int64_t>& shape, const std::string& dtype, int64_t axis, int64_t k, bool largest,
         const std::vector<int64_t>& k_shape, bool k_from_input) {
        return prepare_topk(shape, dtype_from_name(dtype, "topk"), axis, k, largest, k_shape, k_from_input);
      },
      py::arg("shape"), py::arg("dtype"), py::arg("axis"), py::arg("k"), py::arg("largest") = true,
      py::arg("k_shape") = std::vector<int64_t>{1}, py::arg("k_from_input") = false,
      "prepare_topk(shape, dtype, axis, k, largest=True, k_shape=(1,), k_from_input=False) -> PreparedKernel:\n"
      "inputs x and K (read and checked against k only when k_from_input), outputs values and int64 indices.");
  m.def(
      "topk",
      [](py::handle x_obj, int64_t k, int64_t axis, bool largest, int num_threads) {
        PYINFER_CHECK(py::isinstance<py::array>(x_obj), "topk: x must be a numpy array");
        auto x = py::reinterpret_borrow<py::array>(x_obj);
        auto kernel = prepare_topk(bind::shape_of(x), dtype_from_name(py::str(x.dtype()), "topk"), axis, k, largest,
                                   {1}, false);
        return bind::call(*kernel, {x, py::none()}, num_threads);
      },
      py::arg("x"), py::arg("k"), py::arg("axis") = -1, py::arg("largest") = true, py::arg("num_threads") = 0,
      "topk(x, k, axis=-1, largest=True, num_threads=0) -> (values, int64 indices): the k largest (smallest)\n"
      "values along axis, sorted, ties by lower index, NaN above every number. x: float32, float64 or an\n"
      "integer dtype.");
}

}  // namespace pyinfer
