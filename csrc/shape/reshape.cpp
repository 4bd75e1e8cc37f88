// ONNX Reshape whose shape input a plan computes (not a constant): a copy of the bytes, after
// checking on every run that the shape input still gives the plan's output shape (0 copies the
// input's dim unless allowzero, one -1 is inferred). Constant shapes are aliases, no kernel.
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
namespace {

// Whether `target` (the shape input) resolves to `out` for an input of `in` shape.
bool resolves_to(const std::vector<int64_t>& target, const std::vector<int64_t>& in, const std::vector<int64_t>& out,
                 bool allowzero) {
  if (target.size() != out.size()) return false;
  int64_t known = 1, total = 1, infer = -1;
  for (int64_t d : in) total *= d;
  std::vector<int64_t> dims(target.size());
  for (size_t i = 0; i < target.size(); ++i) {
    int64_t d = target[i];
    if (d == -1) {
      if (infer >= 0) return false;
      infer = static_cast<int64_t>(i);
      continue;
    }
    if (d == 0 && !allowzero) {
      if (i >= in.size()) return false;
      d = in[i];
    }
    if (d < 0) return false;
    dims[i] = d;
    known *= d;
  }
  if (infer >= 0) {
    if (known == 0 || total % known) return false;
    dims[infer] = total / known;
  }
  return dims == out;
}

}  // namespace

PreparedPtr prepare_reshape(const std::vector<int64_t>& in_shape, DType dtype, const std::vector<int64_t>& out_shape,
                            bool allowzero) {
  const int64_t n = check_dims(in_shape, "reshape");
  PYINFER_CHECK(check_dims(out_shape, "reshape") == n,
                "reshape: " << shape_str(in_shape) << " and " << shape_str(out_shape) << " differ in size");
  const int64_t rank = static_cast<int64_t>(out_shape.size()), bytes = n * dtype_size(dtype);
  return KernelBuilder("reshape").input("data", in_shape, dtype).input("shape", {rank}, DType::Int64)
      .output("y", out_shape, dtype)
      .run([=](const void* const* in, void* const* o, int) {
        PYINFER_CHECK_SHAPE(resolves_to(read_ints(in[1], true, rank), in_shape, out_shape, allowzero),
                            "reshape: the shape input no longer gives " << shape_str(out_shape));
        std::memcpy(o[0], in[0], static_cast<size_t>(bytes));
      });
}

// Input data; output its bytes with out_shape (a view of a constant, which a plan cannot alias:
// constants live outside its arena).
PreparedPtr prepare_copy(const std::vector<int64_t>& in_shape, DType dtype, const std::vector<int64_t>& out_shape) {
  const int64_t n = check_dims(in_shape, "copy");
  PYINFER_CHECK(check_dims(out_shape, "copy") == n,
                "copy: " << shape_str(in_shape) << " and " << shape_str(out_shape) << " differ in size");
  const int64_t bytes = n * dtype_size(dtype);
  return KernelBuilder("copy").input("data", in_shape, dtype).output("y", out_shape, dtype)
      .run([=](const void* const* in, void* const* o, int) { std::memcpy(o[0], in[0], static_cast<size_t>(bytes)); });
}

PYINFER_BINDINGS(reshape, 10) {
  m.def(
      "prepare_reshape",
      [](const std::vector<int64_t>& in_shape, const std::string& dtype, const std::vector<int64_t>& out_shape,
         bool allowzero) { return prepare_reshape(in_shape, dtype_from_name(dtype, "reshape"), out_shape, allowzero); },
      py::arg("in_shape"), py::arg("dtype"), py::arg("out_shape"), py::arg("allowzero") = false,
      "prepare_reshape(in_shape, dtype, out_shape, allowzero=False) -> PreparedKernel: inputs data and the int64\n"
      "shape (checked on every run to give out_shape), output a copy of data with out_shape.");
  m.def(
      "prepare_copy",
      [](const std::vector<int64_t>& in_shape, const std::string& dtype, const std::vector<int64_t>& out_shape) {
        return prepare_copy(in_shape, dtype_from_name(dtype, "copy"), out_shape);
      },
      py::arg("in_shape"), py::arg("dtype"), py::arg("out_shape"),
      "prepare_copy(in_shape, dtype, out_shape) -> PreparedKernel: input data, output a copy of its bytes with\n"
      "out_shape (the same number of elements).");
}

}  // namespace pyinfer
