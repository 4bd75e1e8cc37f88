// ONNX Where: y = condition ? x : y, the three broadcast NumPy-style (common/broadcast.h), any
// element type (the values are moved as bytes of their size).
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <string>
#include <vector>

#include "bindings/array.h"
#include "bindings/bindings.h"
#include "bindings/prepared.h"
#include "common/broadcast.h"
#include "common/check.h"
#include "common/dtype_dispatch.h"
#include "common/prepared.h"

namespace py = pybind11;

namespace pyinfer {
namespace {

template <class T>
void select(const Broadcast<3>& c, const bool* cond, const T* x, const T* y, T* out, int threads) {
  for_each_run(c, threads, [&](const int64_t* off, int64_t o, int64_t n, const int64_t* step) {
    const bool* cc = cond + off[0];
    const T *xx = x + off[1], *yy = y + off[2];
    T* oo = out + o;
    for (int64_t i = 0; i < n; ++i) oo[i] = cc[i * step[0]] ? xx[i * step[1]] : yy[i * step[2]];
  });
}

}  // namespace

// Inputs condition (bool), x, y (dtype); output the broadcast of the three.
PreparedPtr prepare_where(const std::vector<int64_t>& cond_shape, const std::vector<int64_t>& x_shape,
                          const std::vector<int64_t>& y_shape, DType dtype) {
  const std::vector<int64_t> out = broadcast_shapes({cond_shape, x_shape, y_shape}, "where");
  const Broadcast<3> c = canonical_broadcast<3>({&cond_shape, &x_shape, &y_shape}, out);
  const int64_t elem = dtype_size(dtype);
  return KernelBuilder("where").input("condition", cond_shape, DType::Bool).input("x", x_shape, dtype)
      .input("y", y_shape, dtype).output("out", out, dtype)
      .remake([dtype](const Shapes& s) { return prepare_where(s[0], s[1], s[2], dtype); })
      .run([=](const void* const* in, void* const* o, int threads) {
        dispatch_bytes(elem, [&](auto tag) {
          using T = typename decltype(tag)::type;
          select(c, static_cast<const bool*>(in[0]), static_cast<const T*>(in[1]), static_cast<const T*>(in[2]),
                 static_cast<T*>(o[0]), threads);
        });
      });
}

PYINFER_BINDINGS(where, 10) {
  m.def(
      "prepare_where",
      [](const std::vector<int64_t>& cond_shape, const std::vector<int64_t>& x_shape,
         const std::vector<int64_t>& y_shape, const std::string& dtype) {
        return prepare_where(cond_shape, x_shape, y_shape, dtype_from_name(dtype, "where"));
      },
      py::arg("condition_shape"), py::arg("x_shape"), py::arg("y_shape"), py::arg("dtype"),
      "prepare_where(condition_shape, x_shape, y_shape, dtype) -> PreparedKernel: inputs condition (bool), x, y.");
  m.def(
      "where",
      [](py::handle c_obj, py::handle x_obj, py::handle y_obj, int num_threads) {
        for (auto h : {c_obj, x_obj, y_obj})
          PYINFER_CHECK(py::isinstance<py::array>(h), "where: the inputs must be numpy arrays");
        auto c = py::reinterpret_borrow<py::array>(c_obj);
        auto x = py::reinterpret_borrow<py::array>(x_obj);
        auto y = py::reinterpret_borrow<py::array>(y_obj);
        auto k = prepare_where(bind::shape_of(c), bind::shape_of(x), bind::shape_of(y),
                               dtype_from_name(py::str(x.dtype()), "where"));
        return bind::call(*k, {c, x, y}, num_threads);
      },
      py::arg("condition"), py::arg("x"), py::arg("y"), py::arg("num_threads") = 0,
      "where(condition, x, y, num_threads=0): numpy.where for a bool condition and x, y of one dtype.");
}

}  // namespace pyinfer
