// ONNX Expand and Tile as strided copies (common/strided_copy.h), any element type. The target
// shape / repeats are fixed at prepare, or read on every run and checked to give the prepared
// output shape ("shape changed" otherwise: a plan then re-runs the call on the Python path).
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <string>
#include <vector>

#include "bindings/array.h"
#include "bindings/bindings.h"
#include "bindings/prepared.h"
#include "common/axis.h"
#include "common/broadcast.h"
#include "common/check.h"
#include "common/prepared.h"
#include "common/strided_copy.h"

namespace py = pybind11;

namespace pyinfer {
namespace {

// x (shape) broadcast to out: stride 0 where x has 1 (or no) dim.
StridedView expand_view(const std::vector<int64_t>& x, const std::vector<int64_t>& out) {
  const std::vector<int64_t> xs = contiguous_strides(x);
  std::vector<int64_t> strides(out.size(), 0);
  for (size_t d = 0; d < x.size(); ++d) {
    const size_t od = d + out.size() - x.size();
    strides[od] = x[d] == 1 ? 0 : xs[d];
  }
  return strided_view(out, strides, 0, "expand");
}

// The output of tiling x by reps, seen as [r0, d0, r1, d1, ...]: stride 0 on every r.
StridedView tile_view(const std::vector<int64_t>& x, const std::vector<int64_t>& reps) {
  const std::vector<int64_t> xs = contiguous_strides(x);
  std::vector<int64_t> shape, strides;
  for (size_t d = 0; d < x.size(); ++d) {
    shape.insert(shape.end(), {reps[d], x[d]});
    strides.insert(strides.end(), {0, xs[d]});
  }
  return strided_view(shape, strides, 0, "tile");
}

std::vector<int64_t> tiled_shape(const std::vector<int64_t>& x, const std::vector<int64_t>& reps) {
  PYINFER_CHECK(reps.size() == x.size(), "tile: repeats must hold one value per axis (" << x.size() << ")");
  std::vector<int64_t> out(x.size());
  for (size_t d = 0; d < x.size(); ++d) {
    PYINFER_CHECK(reps[d] >= 0, "tile: negative repeat " << reps[d]);
    out[d] = x[d] * reps[d];
  }
  return out;
}

}  // namespace

// Inputs x and shape (int64, read on every run when dynamic, else unused); output y (out_shape).
PreparedPtr prepare_expand(const std::vector<int64_t>& x_shape, DType dtype, const std::vector<int64_t>& out_shape,
                           const std::vector<int64_t>& shape_input_shape, bool dynamic) {
  check_dims(x_shape, "expand");
  PYINFER_CHECK(broadcast_shapes({x_shape, out_shape}, "expand") == out_shape,
                "expand: " << shape_str(x_shape) << " does not expand to " << shape_str(out_shape));
  const StridedView view = expand_view(x_shape, out_shape);
  const int64_t elem = dtype_size(dtype);
  KernelBuilder b("expand");
  b.input("x", x_shape, dtype);
  if (!dynamic) {
    b.unused_input("shape", shape_input_shape, DType::Int64);
  } else {
    PYINFER_CHECK(shape_input_shape.size() == 1, "expand: the shape input must be 1-D");
    b.control_input("shape", shape_input_shape);
    // Another x or target shape (a dynamic plan): the output shape follows from both.
    b.remake_with_values([dtype](const Shapes& s, const Shapes& values) {
      const std::vector<int64_t>& target = values[1];
      PYINFER_CHECK(target.size() <= static_cast<size_t>(kMaxBroadcastRank),
                    "expand: a target of rank " << target.size());
      for (int64_t d : target) PYINFER_CHECK(d >= 0, "expand: negative dimension in " << shape_str(target));
      return prepare_expand(s[0], dtype, broadcast_shapes({s[0], target}, "expand"), s[1], true);
    });
  }
  const int64_t n = shape_input_shape.empty() ? 0 : shape_input_shape[0];
  return b.output("y", out_shape, dtype).run([=](const void* const* in, void* const* o, int threads) {
    if (dynamic) {
      const std::vector<int64_t> target = read_ints(in[1], true, n);
      bool ok = true;
      for (int64_t d : target) ok = ok && d >= 0;
      PYINFER_CHECK_SHAPE(ok && target.size() <= static_cast<size_t>(kMaxBroadcastRank) &&
                              broadcast_shapes({x_shape, target}, "expand") == out_shape,
                          "expand: the shape input gives another shape than the plan's " << shape_str(out_shape));
    }
    strided_copy(in[0], view, o[0], elem, threads);
  });
}

// Inputs x and repeats (int64, read on every run when dynamic, else unused); output y.
PreparedPtr prepare_tile(const std::vector<int64_t>& x_shape, DType dtype, const std::vector<int64_t>& reps,
                         bool dynamic) {
  check_dims(x_shape, "tile");
  const std::vector<int64_t> out = tiled_shape(x_shape, reps);
  const StridedView view = tile_view(x_shape, reps);
  const int64_t elem = dtype_size(dtype), n = static_cast<int64_t>(reps.size());
  KernelBuilder b("tile");
  b.input("x", x_shape, dtype);
  if (dynamic) {
    b.control_input("repeats", {n});
    b.remake_with_values([dtype](const Shapes& s, const Shapes& values) {
      return prepare_tile(s[0], dtype, values[1], true);
    });
  } else {
    b.unused_input("repeats", {n}, DType::Int64);
    b.remake([dtype, reps](const Shapes& s) { return prepare_tile(s[0], dtype, reps, false); });
  }
  return b.output("y", out, dtype).run([=](const void* const* in, void* const* o, int threads) {
    if (dynamic) {
      const std::vector<int64_t> given = read_ints(in[1], true, n);
      PYINFER_CHECK_SHAPE(given == reps, "tile: the repeats input differs from the plan's");
    }
    strided_copy(in[0], view, o[0], elem, threads);
  });
}

PYINFER_BINDINGS(expand_tile, 10) {
  m.def(
      "prepare_expand",
      [](const std::vector<int64_t>& x_shape, const std::string& dtype, const std::vector<int64_t>& out_shape,
         const std::vector<int64_t>& shape_input_shape, bool dynamic) {
        return prepare_expand(x_shape, dtype_from_name(dtype, "expand"), out_shape, shape_input_shape, dynamic);
      },
      py::arg("x_shape"), py::arg("dtype"), py::arg("out_shape"), py::arg("shape_input_shape"),
      py::arg("dynamic") = false,
      "prepare_expand(x_shape, dtype, out_shape, shape_input_shape, dynamic=False) -> PreparedKernel: inputs x\n"
      "and the int64 shape (read and checked on every run when dynamic), output x broadcast to out_shape.");
  m.def(
      "prepare_tile",
      [](const std::vector<int64_t>& x_shape, const std::string& dtype, const std::vector<int64_t>& reps,
         bool dynamic) { return prepare_tile(x_shape, dtype_from_name(dtype, "tile"), reps, dynamic); },
      py::arg("x_shape"), py::arg("dtype"), py::arg("repeats"), py::arg("dynamic") = false,
      "prepare_tile(x_shape, dtype, repeats, dynamic=False) -> PreparedKernel: inputs x and the int64 repeats\n"
      "(read and checked on every run when dynamic), output numpy.tile(x, repeats).");
  m.def(
      "tile",
      [](py::handle x_obj, const std::vector<int64_t>& reps, int num_threads) {
        PYINFER_CHECK(py::isinstance<py::array>(x_obj), "tile: x must be a numpy array");
        auto x = py::reinterpret_borrow<py::array>(x_obj);
        auto k = prepare_tile(bind::shape_of(x), dtype_from_name(py::str(x.dtype()), "tile"), reps, false);
        return bind::call(*k, {x, py::none()}, num_threads);
      },
      py::arg("x"), py::arg("repeats"), py::arg("num_threads") = 0,
      "tile(x, repeats, num_threads=0): numpy.tile(x, repeats) for repeats of x's rank.");
  m.def(
      "expand",
      [](py::handle x_obj, const std::vector<int64_t>& shape, int num_threads) {
        PYINFER_CHECK(py::isinstance<py::array>(x_obj), "expand: x must be a numpy array");
        auto x = py::reinterpret_borrow<py::array>(x_obj);
        const std::vector<int64_t> xs = bind::shape_of(x);
        auto k = prepare_expand(xs, dtype_from_name(py::str(x.dtype()), "expand"), broadcast_shapes({xs, shape}, "expand"),
                                {static_cast<int64_t>(shape.size())}, false);
        return bind::call(*k, {x, py::none()}, num_threads);
      },
      py::arg("x"), py::arg("shape"), py::arg("num_threads") = 0,
      "expand(x, shape, num_threads=0): ONNX Expand, x broadcast with `shape` (numpy's rule both ways).");
}

}  // namespace pyinfer
