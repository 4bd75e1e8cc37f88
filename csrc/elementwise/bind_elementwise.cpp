// Python bindings of the float32 elementwise kernels (public API: pyinfer.kernels).
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include "bindings/array.h"
#include "bindings/bindings.h"
#include "common/check.h"
#include "elementwise/elementwise.h"

namespace py = pybind11;

namespace pyinfer {
namespace {

// The destination: a new array, or `out` after checking it can take the result in place.
bind::FloatArray output_array(const py::object& out, const std::vector<int64_t>& shape, const char* what) {
  if (out.is_none()) return bind::new_float_array(shape);
  PYINFER_CHECK(py::isinstance<py::array>(out), what << ": out must be a numpy.ndarray");
  py::array o = py::reinterpret_borrow<py::array>(out);
  PYINFER_CHECK(bind::is_float32(o), what << ": out must be float32, got "
                                                        << std::string(py::str(o.dtype())));
  PYINFER_CHECK(bind::shape_of(o) == shape, what << ": out has shape " << bind::shape_str(bind::shape_of(o))
                                                 << ", the result has shape " << bind::shape_str(shape));
  PYINFER_CHECK(o.flags() & py::array::c_style, what << ": out must be C-contiguous");
  PYINFER_CHECK(o.writeable(), what << ": out is read-only");
  return py::reinterpret_borrow<bind::FloatArray>(o);
}

// `out` may be exactly an input (same buffer, same shape), never a partial overlap: an input
// that is read while being overwritten at another offset would give garbage.
void check_overlap(const bind::FloatArray& y, const bind::FloatArray& x, const char* what) {
  const char* y0 = reinterpret_cast<const char*>(y.data());
  const char* y1 = y0 + y.nbytes();
  const char* x0 = reinterpret_cast<const char*>(x.data());
  const char* x1 = x0 + x.nbytes();
  const bool overlap = y0 < x1 && x0 < y1;
  PYINFER_CHECK(!overlap || (x0 == y0 && x.size() == y.size()),
                what << ": out partially overlaps an input; pass the input itself or a separate array");
}

void def_binary(py::module_& m, const char* name, BinaryOp op, const char* doc) {
  m.def(
      name,
      [op, name](py::handle a_obj, py::handle b_obj, py::object out, int num_threads) {
        auto a = bind::float_array(a_obj, (std::string(name) + ": a").c_str(), 0, kMaxBroadcastRank);
        auto b = bind::float_array(b_obj, (std::string(name) + ": b").c_str(), 0, kMaxBroadcastRank);
        const auto as = bind::shape_of(a), bs = bind::shape_of(b);
        const auto shape = broadcast_shape(as, bs, name);
        auto y = output_array(out, shape, name);
        if (!out.is_none()) {
          check_overlap(y, a, name);
          check_overlap(y, b, name);
        }
        {
          py::gil_scoped_release nogil;
          binary_broadcast(op, a.data(), as, b.data(), bs, y.mutable_data(), num_threads);
        }
        return y;
      },
      py::arg("a"), py::arg("b"), py::arg("out") = py::none(), py::arg("num_threads") = 0, doc);
}

void def_unary(py::module_& m, const char* name, UnaryOp op, const char* doc) {
  m.def(
      name,
      [op, name](py::handle x_obj, py::object out, int num_threads) {
        auto x = bind::float_array(x_obj, (std::string(name) + ": x").c_str(), 0, 64);
        auto y = output_array(out, bind::shape_of(x), name);
        if (!out.is_none()) check_overlap(y, x, name);
        {
          py::gil_scoped_release nogil;
          unary(op, x.data(), y.mutable_data(), x.size(), num_threads);
        }
        return y;
      },
      py::arg("x"), py::arg("out") = py::none(), py::arg("num_threads") = 0, doc);
}

#define PYINFER_BINARY_DOC(expr)                                                                      \
  "(a, b, out=None, num_threads=0) -> " expr                                                          \
  ", elementwise with NumPy broadcasting. a, b: float32 arrays of rank <= 8 (any layout; "            \
  "non-contiguous ones are copied). out: optional C-contiguous float32 array of the broadcast shape " \
  "to write into (may be a or b itself). Raises KernelArgumentError if the shapes do not broadcast."

#define PYINFER_UNARY_DOC(expr)                                                                  \
  "(x, out=None, num_threads=0) -> " expr ", elementwise. x: float32 array of any shape. out: " \
  "optional C-contiguous float32 array of x's shape (may be x itself)."

}  // namespace

void bind_elementwise(py::module_& m) {
  def_binary(m, "add", BinaryOp::Add, PYINFER_BINARY_DOC("a + b"));
  def_binary(m, "sub", BinaryOp::Sub, PYINFER_BINARY_DOC("a - b"));
  def_binary(m, "mul", BinaryOp::Mul, PYINFER_BINARY_DOC("a * b"));
  def_binary(m, "div", BinaryOp::Div, PYINFER_BINARY_DOC("a / b (IEEE: x/0 = +-inf, 0/0 = NaN)"));
  def_binary(m, "pow", BinaryOp::Pow, PYINFER_BINARY_DOC("a ** b (C powf semantics, like numpy.power)"));
  def_binary(m, "maximum", BinaryOp::Max, PYINFER_BINARY_DOC("max(a, b) (NaN in either propagates)"));
  def_binary(m, "minimum", BinaryOp::Min, PYINFER_BINARY_DOC("min(a, b) (NaN in either propagates)"));
  def_unary(m, "sqrt", UnaryOp::Sqrt, PYINFER_UNARY_DOC("sqrt(x) (NaN for x < 0)"));
  def_unary(m, "exp", UnaryOp::Exp, PYINFER_UNARY_DOC("exp(x) (~1 ulp; 0 below -87.3, inf above 88.4)"));
  def_unary(m, "log", UnaryOp::Log, PYINFER_UNARY_DOC("log(x) (~1 ulp; -inf at 0, NaN for x < 0)"));
  def_unary(m, "abs", UnaryOp::Abs, PYINFER_UNARY_DOC("|x|"));
  def_unary(m, "neg", UnaryOp::Neg, PYINFER_UNARY_DOC("-x"));
  def_unary(m, "reciprocal", UnaryOp::Reciprocal, PYINFER_UNARY_DOC("1 / x"));
}

}  // namespace pyinfer
