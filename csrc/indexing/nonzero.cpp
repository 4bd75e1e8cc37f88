// ONNX NonZero: the int64 coordinates (rank, count) of the non-zero elements in row-major order.
// The count depends on the data. A static plan's kernel is prepared for the count it saw and
// reports "shape changed" when a run finds another (the call then re-runs elsewhere); a dynamic
// plan's is counted (TensorSpec::count_output): its output is bounded by the element count and
// the run reports the count it found.
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

PreparedPtr prepare_nonzero_counted(const std::vector<int64_t>& shape, DType dtype) {
  const int64_t n = check_dims(shape, "nonzero");
  const std::vector<int64_t> dims = shape.empty() ? std::vector<int64_t>{1} : shape;
  const int64_t rank = static_cast<int64_t>(dims.size());
  return dispatch_real_or_bool(dtype, "nonzero", [&](auto tag) {
    using T = typename decltype(tag)::type;
    return KernelBuilder("nonzero")
        .input("x", shape, dtype)
        .output("y", {rank, n}, DType::Int64)
        .output("count", {1}, DType::Int64)
        .counted(0, 1, 1)
        .remake([dtype](const Shapes& s) { return prepare_nonzero_counted(s[0], dtype); })
        .run([=](const void* const* in, void* const* o, int) {
          const T* x = static_cast<const T*>(in[0]);
          const int64_t found = count_nonzero(x, n);
          coordinates(x, dims, found, static_cast<int64_t*>(o[0]));  // (rank, found): compact
          *static_cast<int64_t*>(o[1]) = found;
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
  m.def(
      "prepare_nonzero_counted",
      [](const std::vector<int64_t>& shape, const std::string& dtype) {
        return prepare_nonzero_counted(shape, dtype_from_name(dtype, "nonzero"));
      },
      py::arg("shape"), py::arg("dtype"),
      "prepare_nonzero_counted(shape, dtype) -> PreparedKernel: input x; outputs y, int64 (rank, size of x) of\n"
      "which a run fills the first (rank, count) compactly, and count (int64 [1]): the number of non-zero\n"
      "elements (a counted output: counted_outputs).");
}

}  // namespace pyinfer
