// Python bindings of the normalization family (public API: pyinfer.kernels.lrn).
#include <pybind11/pybind11.h>

#include <pybind11/stl.h>

#include "bindings/array.h"
#include "bindings/bindings.h"
#include "bindings/prepared.h"
#include "common/check.h"
#include "norm/norm.h"

namespace py = pybind11;

namespace pyinfer {

PYINFER_BINDINGS(norm, 10) {
  m.def("prepare_lrn", &prepare_lrn, py::arg("x_shape"), py::arg("size"), py::arg("alpha") = 1e-4f,
        py::arg("beta") = 0.75f, py::arg("bias") = 1.0f, "lrn() prepared for x_shape; the kernel takes (x).");
  m.def(
      "lrn",
      [](py::handle x_obj, int64_t size, float alpha, float beta, float bias, int num_threads) {
        auto x = bind::float_array(x_obj, "lrn: x", 3, 64);
        return bind::call(*prepare_lrn(bind::shape_of(x), size, alpha, beta, bias), {x}, num_threads);
      },
      py::arg("x"), py::arg("size"), py::arg("alpha") = 1e-4f, py::arg("beta") = 0.75f, py::arg("bias") = 1.0f,
      py::arg("num_threads") = 0,
      "lrn(x, size, alpha=1e-4, beta=0.75, bias=1.0, num_threads=0): ONNX local response "
      "normalization of a float32 (N, C, D1, ...) array (rank >= 3) across channels: "
      "y = x / (bias + alpha / size * sum of x^2 over the channels [c - (size-1)//2, "
      "c + ceil((size-1)/2)] clipped to [0, C)) ** beta. size >= 1; alpha, beta, bias finite.");
}

}  // namespace pyinfer
