// What the ai.onnx.ml kernels' bindings share: model parameters taken from NumPy arrays, X's dtype.
#pragma once
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <string>
#include <vector>

#include "bindings/array.h"
#include "bindings/prepared.h"
#include "common/check.h"
#include "common/prepared.h"

namespace pyinfer {
namespace ml {

// A 1-D array (any numeric dtype, converted; a tuple or list too) as a vector.
template <class T>
std::vector<T> vector_of(const pybind11::handle& obj, const char* op, const char* what) {
  auto a = pybind11::array_t<T, pybind11::array::c_style | pybind11::array::forcecast>::ensure(obj);
  PYINFER_CHECK(a && a.ndim() == 1, op << ": " << what << " must be a 1-D array");
  return std::vector<T>(a.data(), a.data() + a.shape(0));
}

// "float32" / "float64" (what the ml kernels read).
inline DType float_dtype(const std::string& name, const char* op) {
  PYINFER_CHECK(name == "float32" || name == "float64", op << ": X must be float32 or float64, got " << name);
  return name == "float32" ? DType::Float32 : DType::Float64;
}

// Binds prepare_<name>(model, x_shape, dtype='float32') and <name>(model, x, num_threads=0) for a
// model handle type: prepare(handle, x_shape, DType) -> PreparedPtr. `outputs` says what <name>
// returns (for its docstring).
template <class Handle, class Prepare>
void bind_model_kernel(pybind11::module_& m, const std::string& name, Prepare prepare, const std::string& outputs) {
  namespace py = pybind11;
  m.def(
      ("prepare_" + name).c_str(),
      [prepare, name](const Handle& h, const std::vector<int64_t>& x_shape, const std::string& dtype) {
        return prepare(h, x_shape, float_dtype(dtype, name.c_str()));
      },
      py::arg("model"), py::arg("x_shape"), py::arg("dtype") = "float32",
      ("prepare_" + name + "(model, x_shape, dtype='float32') -> PreparedKernel\n" + name +
       "() prepared for X of x_shape ([N, F] or [F]) and dtype (float32, float64).")
          .c_str());
  m.def(
      name.c_str(),
      [prepare, name](const Handle& h, py::handle x_obj, int num_threads) {
        PYINFER_CHECK(py::isinstance<py::array>(x_obj), name << ": x must be a numpy array");
        auto x = py::reinterpret_borrow<py::array>(x_obj);
        auto k = prepare(h, bind::shape_of(x), float_dtype(py::str(x.dtype()), name.c_str()));
        return bind::call(*k, {x}, num_threads);
      },
      py::arg("model"), py::arg("x"), py::arg("num_threads") = 0,
      (name + "(model, x, num_threads=0): " + outputs + ", for the rows of x ([N, F] or [F], float32 or\n"
       "float64). Rows are split between threads; the results do not depend on the thread count.")
          .c_str());
}

}  // namespace ml
}  // namespace pyinfer
