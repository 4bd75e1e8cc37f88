// What the ai.onnx.ml kernels' bindings share: model parameters taken from NumPy arrays, X's dtype.
#pragma once
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <string>
#include <vector>

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

}  // namespace ml
}  // namespace pyinfer
