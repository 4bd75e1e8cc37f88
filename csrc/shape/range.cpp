// ONNX Range: start + i * delta for i < max(ceil((limit - start) / delta), 0), in the inputs'
// type. The count depends on the values: the kernel is prepared for one count and reports
// "shape changed" when the inputs give another.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cmath>
#include <string>
#include <vector>

#include "bindings/bindings.h"
#include "common/check.h"
#include "common/dtype_dispatch.h"
#include "common/prepared.h"

namespace py = pybind11;

namespace pyinfer {

// Inputs start, limit, delta (dtype, one value each, of the given shapes); output (count,).
PreparedPtr prepare_range(DType dtype, int64_t count, const std::vector<std::vector<int64_t>>& scalar_shapes) {
  PYINFER_CHECK(count >= 0 && scalar_shapes.size() == 3, "range: give a count >= 0 and three input shapes");
  PYINFER_CHECK(dtype == DType::Float32 || dtype == DType::Float64 || dtype == DType::Int32 || dtype == DType::Int64 ||
                    dtype == DType::Int16,
                "range: unsupported dtype " << dtype_name(dtype));
  KernelBuilder b("range");
  const bool controlled = dtype == DType::Int64 || dtype == DType::Int32;
  const char* names[] = {"start", "limit", "delta"};
  for (int i = 0; i < 3; ++i) {
    int64_t n = 1;
    for (int64_t d : scalar_shapes[i]) n *= d;
    PYINFER_CHECK(n == 1, "range: " << names[i] << " must hold one value");
    // int64 and int32 limits are control inputs: a plan serving other values gets the kernel for
    // the count they give (reshape with values); other types stay fixed to this count.
    if (controlled) b.control_input(names[i], scalar_shapes[i], dtype);
    else b.input(names[i], scalar_shapes[i], dtype);
  }
  if (controlled) {
    b.remake_with_values([dtype](const Shapes& s, const Shapes& v) {
      const int64_t start = v[0][0], limit = v[1][0], delta = v[2][0];
      PYINFER_CHECK(delta != 0, "range: delta must not be 0");
      // The count as run() computes it (so that its check agrees).
      const double n = std::ceil((static_cast<double>(limit) - static_cast<double>(start)) / static_cast<double>(delta));
      PYINFER_CHECK(n < 9.0e18, "range: " << n << " values");
      return prepare_range(dtype, n > 0 ? static_cast<int64_t>(n) : 0, s);
    });
  }
  return dispatch_real(dtype, "range", [&](auto tag) {
    using T = typename decltype(tag)::type;
    return b.output("y", {count}, dtype).run([=](const void* const* in, void* const* o, int) {
      const T start = *static_cast<const T*>(in[0]), limit = *static_cast<const T*>(in[1]),
              delta = *static_cast<const T*>(in[2]);
      PYINFER_CHECK(delta != T(0), "range: delta must not be 0");
      const double n = std::ceil((static_cast<double>(limit) - static_cast<double>(start)) / static_cast<double>(delta));
      const int64_t got = n > 0 ? static_cast<int64_t>(n) : 0;
      PYINFER_CHECK_SHAPE(got == count, "range: the inputs give " << got << " values, the plan has " << count);
      T* y = static_cast<T*>(o[0]);
      for (int64_t i = 0; i < count; ++i) y[i] = static_cast<T>(start + static_cast<T>(i) * delta);
    });
  });
}

PYINFER_BINDINGS(range, 10) {
  m.def(
      "prepare_range",
      [](const std::string& dtype, int64_t count, const std::vector<std::vector<int64_t>>& scalar_shapes) {
        return prepare_range(dtype_from_name(dtype, "range"), count, scalar_shapes);
      },
      py::arg("dtype"), py::arg("count"), py::arg("scalar_shapes"),
      "prepare_range(dtype, count, scalar_shapes) -> PreparedKernel: inputs start, limit, delta; output the\n"
      "`count` values start + i * delta (checked to be the count the inputs give, on every run).");
}

}  // namespace pyinfer
