// ONNX NonZero: the int64 coordinates (rank, count) of the non-zero elements in row-major order.
// The count depends on the data: a plan's kernel is prepared for the count it saw and reports
// "shape changed" when a run finds another (the call then re-runs on the Python path).
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <string>
#include <vector>

#include "bindings/bindings.h"
#include "common/axis.h"
#include "common/check.h"
#include "common/dtype_dispatch.h"
#include "common/prepared.h"

namespace py = pybind11;

namespace pyinfer {
namespace {

template <class T>
int64_t count_nonzero(const T* x, int64_t n) {
  int64_t c = 0;
  for (int64_t i = 0; i < n; ++i) c += x[i] != T(0);
  return c;
}

// y[d * count + k] = coordinate d of the k-th non-zero element.
template <class T>
void coordinates(const T* x, const std::vector<int64_t>& shape, int64_t count, int64_t* y) {
  const int64_t rank = static_cast<int64_t>(shape.size());
  std::vector<int64_t> at(static_cast<size_t>(rank), 0);
  int64_t n = 1, k = 0;
  for (int64_t d : shape) n *= d;
  for (int64_t i = 0; i < n; ++i) {
    if (x[i] != T(0)) {
      for (int64_t d = 0; d < rank; ++d) y[d * count + k] = at[d];
      ++k;
    }
    for (int64_t d = rank - 1; d >= 0 && ++at[d] == shape[d]; --d) at[d] = 0;  // the next coordinate
  }
}

}  // namespace

PreparedPtr prepare_nonzero(const std::vector<int64_t>& shape, DType dtype, int64_t count) {
  const int64_t n = check_dims(shape, "nonzero");
  PYINFER_CHECK(count >= 0 && count <= n, "nonzero: count " << count << " is out of range");
  // A scalar counts as one element of rank 1 (numpy.nonzero's rule for 0-d arrays, as run() does).
  const std::vector<int64_t> dims = shape.empty() ? std::vector<int64_t>{1} : shape;
  const int64_t rank = static_cast<int64_t>(dims.size());
  return dispatch_real_or_bool(dtype, "nonzero", [&](auto tag) {
    using T = typename decltype(tag)::type;
    return KernelBuilder("nonzero").input("x", shape, dtype).output("y", {rank, count}, DType::Int64)
        .run([=](const void* const* in, void* const* o, int) {
          const T* x = static_cast<const T*>(in[0]);
          const int64_t found = count_nonzero(x, n);
          PYINFER_CHECK_SHAPE(found == count, "nonzero: " << found << " non-zero elements, the plan has " << count);
          coordinates(x, dims, count, static_cast<int64_t*>(o[0]));
        });
  });
}

PYINFER_BINDINGS(nonzero, 10) {
  m.def(
      "prepare_nonzero",
      [](const std::vector<int64_t>& shape, const std::string& dtype, int64_t count) {
        return prepare_nonzero(shape, dtype_from_name(dtype, "nonzero"), count);
      },
      py::arg("shape"), py::arg("dtype"), py::arg("count"),
      "prepare_nonzero(shape, dtype, count) -> PreparedKernel: input x, output int64 (rank, count) coordinates of\n"
      "its non-zero elements; a run that finds another count raises 'shape changed'.");
}

}  // namespace pyinfer
