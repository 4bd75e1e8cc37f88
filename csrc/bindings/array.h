// Helpers shared by the bind_*.cpp files: check what Python hands us before any kernel
// sees a pointer. Arrays of the wrong dtype or rank raise (std::invalid_argument ->
// pyinfer.KernelArgumentError); non-contiguous arrays are copied to C order, never trusted.
#pragma once
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cstdint>
#include <string>
#include <vector>

#include "common/check.h"

namespace pyinfer {
namespace bind {

namespace py = pybind11;
using FloatArray = py::array_t<float, py::array::c_style>;

// True for a native float32 dtype however it is spelled ('<f4' on little-endian hosts is a
// different dtype object from np.float32 but the same type).
inline bool is_float32(const py::array& a) {
  return py::detail::npy_api::get().PyArray_EquivTypes_(a.dtype().ptr(), py::dtype::of<float>().ptr());
}

// A C-contiguous float32 view of obj (copied only if needed). Raises unless obj is a
// float32 ndarray whose rank is in [min_rank, max_rank].
FloatArray float_array(const py::handle& obj, const char* what, int min_rank, int max_rank);

std::vector<int64_t> shape_of(const py::array& a);

// A new, uninitialised C-contiguous float32 array.
FloatArray new_float_array(const std::vector<int64_t>& shape);

// A list/tuple of ints (or one int repeated `count` times). Raises on wrong length.
std::vector<int64_t> int_list(const py::handle& obj, const char* what, size_t count);

using ::pyinfer::shape_str;  // common/check.h

}  // namespace bind
}  // namespace pyinfer
