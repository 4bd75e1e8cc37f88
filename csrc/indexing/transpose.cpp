// ONNX Transpose of any permutation and element type as one strided copy (common/strided_copy.h):
// the output read through the input's strides in permuted order. Plans use it where the block
// swap of the Cython loop (SwapBlocks: two axis groups over a kept block of >= 64 bytes) does
// not apply.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <string>
#include <vector>

#include "bindings/bindings.h"
#include "common/axis.h"
#include "common/check.h"
#include "common/prepared.h"
#include "common/strided_copy.h"

namespace py = pybind11;

namespace pyinfer {

PreparedPtr prepare_transpose(const std::vector<int64_t>& shape, DType dtype, const std::vector<int64_t>& perm) {
  check_dims(shape, "transpose");
  const size_t rank = shape.size();
  PYINFER_CHECK(perm.size() == rank, "transpose: perm must hold " << rank << " axes");
  std::vector<bool> seen(rank, false);
  for (int64_t a : perm) {
    PYINFER_CHECK(a >= 0 && a < static_cast<int64_t>(rank) && !seen[a], "transpose: perm is not a permutation");
    seen[a] = true;
  }
  const std::vector<int64_t> in_strides = contiguous_strides(shape);
  std::vector<int64_t> out(rank), strides(rank);
  for (size_t d = 0; d < rank; ++d) out[d] = shape[perm[d]], strides[d] = in_strides[perm[d]];
  const StridedView view = strided_view(out, strides, 0, "transpose");
  const int64_t elem = dtype_size(dtype);
  return KernelBuilder("transpose").input("x", shape, dtype).output("y", out, dtype)
      .run([=](const void* const* in, void* const* o, int threads) { strided_copy(in[0], view, o[0], elem, threads); });
}

PYINFER_BINDINGS(transpose, 10) {
  m.def(
      "prepare_transpose",
      [](const std::vector<int64_t>& shape, const std::string& dtype, const std::vector<int64_t>& perm) {
        return prepare_transpose(shape, dtype_from_name(dtype, "transpose"), perm);
      },
      py::arg("shape"), py::arg("dtype"), py::arg("perm"),
      "prepare_transpose(shape, dtype, perm) -> PreparedKernel: input x, output numpy.transpose(x, perm) (C order).");
}

}  // namespace pyinfer
