// Kernels whose output a plan knows when it is compiled: Shape / Size (the input's dims, int64)
// and ConstantOfShape (a fill). They still take their input, so a plan checks it: a Python step
// that produced another shape than the plan's sends the call to the Python path instead of
// reporting stale dims.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cstring>
#include <string>
#include <vector>

#include "bindings/bindings.h"
#include "common/axis.h"
#include "common/check.h"
#include "common/prepared.h"
#include "common/strided_copy.h"

namespace py = pybind11;

namespace pyinfer {

// Input x (x_shape, dtype: read by nobody, checked by the plan); output the int64 `values` of
// out_shape (Shape: x_shape[start:end], (n,); Size: its product, ()).
PreparedPtr prepare_shape_values(const std::vector<int64_t>& x_shape, DType dtype, const std::vector<int64_t>& values,
                                 const std::vector<int64_t>& out_shape) {
  check_dims(x_shape, "shape_values");
  PYINFER_CHECK(check_dims(out_shape, "shape_values") == static_cast<int64_t>(values.size()),
                "shape_values: " << values.size() << " values do not fill " << shape_str(out_shape));
  return KernelBuilder("shape_values").input("x", x_shape, dtype).output("y", out_shape, DType::Int64)
      .run([=](const void* const*, void* const* o, int) {
        if (!values.empty()) std::memcpy(o[0], values.data(), values.size() * sizeof(int64_t));
      });
}

// Input the int64 shape (read on every run, checked to be out_shape); output out_shape filled
// with `value` (the element's bytes, dtype_size(dtype) of them).
PreparedPtr prepare_constant_of_shape(const std::vector<int64_t>& out_shape, DType dtype, const std::string& value) {
  const int64_t n = check_dims(out_shape, "constant_of_shape"), elem = dtype_size(dtype);
  PYINFER_CHECK(static_cast<int64_t>(value.size()) == elem, "constant_of_shape: the value must be one element");
  const int64_t rank = static_cast<int64_t>(out_shape.size());
  return KernelBuilder("constant_of_shape").input("shape", {rank}, DType::Int64).output("y", out_shape, dtype)
      .run([=](const void* const* in, void* const* o, int) {
        PYINFER_CHECK_SHAPE(read_ints(in[0], true, rank) == out_shape,
                            "constant_of_shape: the shape input differs from the plan's " << shape_str(out_shape));
        char* y = static_cast<char*>(o[0]);
        for (int64_t i = 0; i < n; ++i) std::memcpy(y + i * elem, value.data(), static_cast<size_t>(elem));
      });
}

PYINFER_BINDINGS(shape_constants, 10) {
  m.def(
      "prepare_shape_values",
      [](const std::vector<int64_t>& x_shape, const std::string& dtype, const std::vector<int64_t>& values,
         const std::vector<int64_t>& out_shape) {
        return prepare_shape_values(x_shape, dtype_from_name(dtype, "shape_values"), values, out_shape);
      },
      py::arg("x_shape"), py::arg("dtype"), py::arg("values"), py::arg("out_shape"),
      "prepare_shape_values(x_shape, dtype, values, out_shape) -> PreparedKernel: input x (checked, not read),\n"
      "output the int64 values (ONNX Shape / Size in a plan, where x's shape is fixed).");
  m.def(
      "prepare_constant_of_shape",
      [](const std::vector<int64_t>& out_shape, const std::string& dtype, py::bytes value) {
        return prepare_constant_of_shape(out_shape, dtype_from_name(dtype, "constant_of_shape"), value);
      },
      py::arg("out_shape"), py::arg("dtype"), py::arg("value"),
      "prepare_constant_of_shape(out_shape, dtype, value: bytes of one element) -> PreparedKernel: input the\n"
      "int64 shape (checked to be out_shape on every run), output filled with the value.");
}

}  // namespace pyinfer
