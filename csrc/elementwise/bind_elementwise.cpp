// Python bindings of the float32 elementwise kernels (public API: pyinfer.kernels).
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include "bindings/array.h"
#include "bindings/bindings.h"
#include "common/check.h"
#include "bindings/prepared.h"
#include "elementwise/elementwise.h"

namespace py = pybind11;

namespace pyinfer {
namespace {

// `out` may be exactly an input (same buffer, same shape), never a partial overlap: an input
// that is read while being overwritten at another offset would give garbage.
void check_overlap(const py::array& y, const py::array& x, const char* what) {
  const char* y0 = static_cast<const char*>(y.data());
  const char* y1 = y0 + y.nbytes();
  const char* x0 = static_cast<const char*>(x.data());
  const char* x1 = x0 + x.nbytes();
  const bool overlap = y0 < x1 && x0 < y1;
  PYINFER_CHECK(!overlap || (x0 == y0 && x.size() == y.size()),
                what << ": out partially overlaps an input; pass the input itself or a separate array");
}

// `out` (or None) as the kernel's output: checked by bind::call, and here against the inputs.
std::vector<py::object> output_into(const py::object& out, const std::vector<py::array>& inputs, const char* what) {
  if (out.is_none()) return {};
  PYINFER_CHECK(py::isinstance<py::array>(out), what << ": out must be a numpy.ndarray");
  for (const auto& x : inputs) check_overlap(out.cast<py::array>(), x, what);
  return {out};
}

void def_binary(py::module_& m, BinaryOp op, const char* doc) {
  const char* name = binary_op_name(op);
  m.def(
      name,
      [op, name](py::handle a_obj, py::handle b_obj, py::object out, int num_threads) {
        auto a = bind::float_array(a_obj, (std::string(name) + ": a").c_str(), 0, kMaxBroadcastRank);
        auto b = bind::float_array(b_obj, (std::string(name) + ": b").c_str(), 0, kMaxBroadcastRank);
        auto k = prepare_binary(op, bind::shape_of(a), bind::shape_of(b));
        return bind::call(*k, {a, b}, num_threads, output_into(out, {a, b}, name));
      },
      py::arg("a"), py::arg("b"), py::arg("out") = py::none(), py::arg("num_threads") = 0, doc);
}

void def_unary(py::module_& m, UnaryOp op, const char* doc) {
  const char* name = unary_op_name(op);
  m.def(
      name,
      [op, name](py::handle x_obj, py::object out, int num_threads) {
        auto x = bind::float_array(x_obj, (std::string(name) + ": x").c_str(), 0, 64);
        return bind::call(*prepare_math(op, bind::shape_of(x)), {x}, num_threads, output_into(out, {x}, name));
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

PYINFER_BINDINGS(elementwise, 10) {
  m.def(
      "prepare_binary",
      [](const std::string& op, const std::vector<int64_t>& a_shape, const std::vector<int64_t>& b_shape) {
        for (int i = 0; i <= static_cast<int>(BinaryOp::Min); ++i)
          if (op == binary_op_name(static_cast<BinaryOp>(i))) return prepare_binary(static_cast<BinaryOp>(i), a_shape, b_shape);
        PYINFER_CHECK(false, "prepare_binary: unknown op '" << op << "' (add, sub, mul, div, pow, maximum, minimum)");
        return PreparedPtr();
      },
      py::arg("op"), py::arg("a_shape"), py::arg("b_shape"),
      "prepare_binary(op, a_shape, b_shape) -> PreparedKernel: kernels.<op>(a, b) prepared for these shapes\n"
      "(op: add, sub, mul, div, pow, maximum, minimum; NumPy broadcasting, worked out once).");
  m.def(
      "prepare_math",
      [](const std::string& op, const std::vector<int64_t>& shape) {
        for (int i = 0; i <= static_cast<int>(UnaryOp::Ceil); ++i)
          if (op == unary_op_name(static_cast<UnaryOp>(i))) return prepare_math(static_cast<UnaryOp>(i), shape);
        PYINFER_CHECK(false, "prepare_math: unknown op '" << op << "' (sqrt, exp, log, abs, neg, reciprocal, floor, ceil)");
        return PreparedPtr();
      },
      py::arg("op"), py::arg("shape"),
      "prepare_math(op, shape) -> PreparedKernel: kernels.<op>(x) prepared for x of `shape` (op: sqrt, exp,\n"
      "log, abs, neg, reciprocal, floor, ceil).");
  def_binary(m, BinaryOp::Add, PYINFER_BINARY_DOC("a + b"));
  def_binary(m, BinaryOp::Sub, PYINFER_BINARY_DOC("a - b"));
  def_binary(m, BinaryOp::Mul, PYINFER_BINARY_DOC("a * b"));
  def_binary(m, BinaryOp::Div, PYINFER_BINARY_DOC("a / b (IEEE: x/0 = +-inf, 0/0 = NaN)"));
  def_binary(m, BinaryOp::Pow, PYINFER_BINARY_DOC("a ** b (C powf semantics, like numpy.power)"));
  def_binary(m, BinaryOp::Max, PYINFER_BINARY_DOC("max(a, b) (NaN in either propagates)"));
  def_binary(m, BinaryOp::Min, PYINFER_BINARY_DOC("min(a, b) (NaN in either propagates)"));
  def_unary(m, UnaryOp::Sqrt, PYINFER_UNARY_DOC("sqrt(x) (NaN for x < 0)"));
  def_unary(m, UnaryOp::Exp, PYINFER_UNARY_DOC("exp(x) (~1 ulp; 0 below -87.3, inf above 88.4)"));
  def_unary(m, UnaryOp::Log, PYINFER_UNARY_DOC("log(x) (~1 ulp; -inf at 0, NaN for x < 0)"));
  def_unary(m, UnaryOp::Abs, PYINFER_UNARY_DOC("|x|"));
  def_unary(m, UnaryOp::Neg, PYINFER_UNARY_DOC("-x"));
  def_unary(m, UnaryOp::Reciprocal, PYINFER_UNARY_DOC("1 / x"));
  def_unary(m, UnaryOp::Floor, PYINFER_UNARY_DOC("floor(x)"));
  def_unary(m, UnaryOp::Ceil, PYINFER_UNARY_DOC("ceil(x)"));
}

}  // namespace pyinfer
