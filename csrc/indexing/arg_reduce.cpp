// ONNX ArgMax / ArgMin: the int64 index of the largest / smallest value along an axis, the first
// one (or with select_last_index the last one) among equals; a NaN wins over every number
// (numpy.argmax / argmin pick the first NaN).
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

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
#include "indexing/arg_reduce.h"

namespace py = pybind11;

namespace pyinfer {
namespace {

// Whether v replaces the best so far (`last`: also on a tie); NaN wins over every number.
template <class T>
inline bool better(T v, T best, bool largest, bool last) {
  const bool vn = is_nan(v), bn = is_nan(best);
  if (vn || bn) return vn && (!bn || last);
  if (v == best) return last;
  return largest ? v > best : v < best;
}

// One column (stride `inner`) of n values: the winning index.
template <class T>
int64_t arg_column(const T* x, int64_t n, int64_t inner, bool largest, bool last) {
  T best = x[0];
  int64_t at = 0;
  for (int64_t i = 1; i < n; ++i)
    if (better(x[i * inner], best, largest, last)) best = x[i * inner], at = i;
  return at;
}

template <class T>
void arg_reduce(const T* x, int64_t* y, const AxisView& v, bool largest, bool last, int threads) {
  // The cost model (common/thread_pool.h): every element read once.
  const double bytes = sizeof(T) * double(v.outer) * double(v.n) * double(v.inner);
  parallel_for(v.outer * v.inner, threads_for_work(bytes_ns(bytes), v.outer * v.inner, threads),
               [&](int64_t c0, int64_t c1) {
    for (int64_t c = c0; c < c1; ++c) {
      const int64_t o = c / v.inner, j = c % v.inner;
      y[c] = arg_column(x + o * v.n * v.inner + j, v.n, v.inner, largest, last);
    }
  });
}

// float32 with columns (inner > 1): the tier's vector loop (arg_reduce_isa.cpp) over each outer
// slice; columns that hold a NaN are redone by arg_column.
void arg_reduce_rows_f32(const float* x, int64_t* y, const AxisView& v, bool largest, bool last, int threads) {
  const ArgReduceKernels& k = arg_reduce_kernels();
  // The cost model (common/thread_pool.h): every element read once.
  const double bytes = 4.0 * double(v.outer) * double(v.n) * double(v.inner);
  parallel_for(v.outer, threads_for_work(bytes_ns(bytes), v.outer, threads), [&](int64_t o0, int64_t o1) {
    std::vector<float> best(static_cast<size_t>(v.inner)), at(static_cast<size_t>(v.inner)),
        nan(static_cast<size_t>(v.inner));
    for (int64_t o = o0; o < o1; ++o) {
      const float* xo = x + o * v.n * v.inner;
      k.rows_f32(xo, v.n, v.inner, largest, last, best.data(), at.data(), nan.data());
      int64_t* yo = y + o * v.inner;
      for (int64_t j = 0; j < v.inner; ++j)
        yo[j] = nan[j] != nan[j] ? arg_column(xo + j, v.n, v.inner, largest, last) : static_cast<int64_t>(at[j]);
    }
  });
}

}  // namespace

PreparedPtr prepare_arg_reduce(const std::vector<int64_t>& shape, DType dtype, int64_t axis, bool largest,
                               bool keepdims, bool select_last_index) {
  check_dims(shape, "arg_reduce");
  axis = checked_axis(axis, static_cast<int64_t>(shape.size()), "arg_reduce");
  const AxisView v = axis_view(shape, axis);
  PYINFER_CHECK(v.n > 0, "arg_reduce: the axis is empty");
  std::vector<int64_t> out = shape;
  if (keepdims) out[axis] = 1;
  else out.erase(out.begin() + axis);
  auto remake = [dtype, axis, largest, keepdims, select_last_index](const Shapes& s) {
    return prepare_arg_reduce(s[0], dtype, axis, largest, keepdims, select_last_index);
  };
  if (dtype == DType::Float32 && v.inner > 1 && v.n < (int64_t(1) << 24)) {
    return KernelBuilder(largest ? "argmax" : "argmin").input("x", shape, dtype).output("y", out, DType::Int64)
        .algorithm("rows").remake(remake).run([=](const void* const* in, void* const* o, int threads) {
          arg_reduce_rows_f32(f32_in(in, 0), static_cast<int64_t*>(o[0]), v, largest, select_last_index, threads);
        });
  }
  return dispatch_real(dtype, "arg_reduce", [&](auto tag) {
    using T = typename decltype(tag)::type;
    return KernelBuilder(largest ? "argmax" : "argmin").input("x", shape, dtype).output("y", out, DType::Int64)
        .remake(remake).run([=](const void* const* in, void* const* o, int threads) {
          arg_reduce(static_cast<const T*>(in[0]), static_cast<int64_t*>(o[0]), v, largest, select_last_index, threads);
        });
  });
}

PYINFER_BINDINGS(arg_reduce, 10) {
  m.def(
      "prepare_arg_reduce",
      [](const std::vector<int64_t>& shape, const std::string& dtype, int64_t axis, bool largest, bool keepdims,
         bool select_last_index) {
        return prepare_arg_reduce(shape, dtype_from_name(dtype, "arg_reduce"), axis, largest, keepdims,
                                  select_last_index);
      },
      py::arg("shape"), py::arg("dtype"), py::arg("axis"), py::arg("largest") = true, py::arg("keepdims") = true,
      py::arg("select_last_index") = false,
      "prepare_arg_reduce(shape, dtype, axis, largest=True, keepdims=True, select_last_index=False) ->\n"
      "PreparedKernel: ArgMax (largest) / ArgMin with int64 output.");
  m.def(
      "arg_reduce",
      [](py::handle x_obj, int64_t axis, bool largest, bool keepdims, bool select_last_index, int num_threads) {
        PYINFER_CHECK(py::isinstance<py::array>(x_obj), "arg_reduce: x must be a numpy array");
        auto x = py::reinterpret_borrow<py::array>(x_obj);
        auto k = prepare_arg_reduce(bind::shape_of(x), dtype_from_name(py::str(x.dtype()), "arg_reduce"), axis, largest,
                                    keepdims, select_last_index);
        return bind::call(*k, {x}, num_threads);
      },
      py::arg("x"), py::arg("axis"), py::arg("largest") = true, py::arg("keepdims") = true,
      py::arg("select_last_index") = false, py::arg("num_threads") = 0,
      "arg_reduce(x, axis, largest=True, keepdims=True, select_last_index=False, num_threads=0): ONNX ArgMax\n"
      "(largest) or ArgMin; ties pick the first index (the last with select_last_index), NaN wins.");
}

}  // namespace pyinfer
