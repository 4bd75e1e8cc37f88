// Comparisons (Equal, Less, LessOrEqual, Greater, GreaterOrEqual) of two tensors of one numeric
// type (or bool for Equal) and the logical ops (And, Or, Xor of bools), broadcast NumPy-style,
// to a bool tensor. NaN compares false (Equal too), as in numpy.
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

enum class CompareOp { Equal, Less, LessEqual, Greater, GreaterEqual, And, Or, Xor };

CompareOp parse_compare(const std::string& name) {
  static const char* const names[] = {"equal", "less", "less_equal", "greater", "greater_equal", "and", "or", "xor"};
  for (int i = 0; i < 8; ++i)
    if (name == names[i]) return static_cast<CompareOp>(i);
  PYINFER_CHECK(false, "compare: unknown op '" << name << "'");
  return CompareOp::Equal;
}

template <CompareOp Op, class T>
void compare_run(const T* a, int64_t sa, const T* b, int64_t sb, bool* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    const T u = a[i * sa], v = b[i * sb];
    bool r;
    if constexpr (Op == CompareOp::Equal) r = u == v;
    else if constexpr (Op == CompareOp::Less) r = u < v;
    else if constexpr (Op == CompareOp::LessEqual) r = u <= v;
    else if constexpr (Op == CompareOp::Greater) r = u > v;
    else if constexpr (Op == CompareOp::GreaterEqual) r = u >= v;
    else if constexpr (Op == CompareOp::And) r = u && v;
    else if constexpr (Op == CompareOp::Or) r = u || v;
    else r = static_cast<bool>(u) != static_cast<bool>(v);
    y[i] = r;
  }
}

template <CompareOp Op, class T>
void compare_all(const Broadcast<2>& c, const void* a, const void* b, void* y, int threads) {
  const T* pa = static_cast<const T*>(a);
  const T* pb = static_cast<const T*>(b);
  bool* py_ = static_cast<bool*>(y);
  for_each_run(c, threads, [&](const int64_t* off, int64_t o, int64_t n, const int64_t* step) {
    compare_run<Op>(pa + off[0], step[0], pb + off[1], step[1], py_ + o, n);
  });
}

using CompareFn = void (*)(const Broadcast<2>&, const void*, const void*, void*, int);

template <class T>
CompareFn compare_fn(CompareOp op) {
  switch (op) {
    case CompareOp::Equal: return compare_all<CompareOp::Equal, T>;
    case CompareOp::Less: return compare_all<CompareOp::Less, T>;
    case CompareOp::LessEqual: return compare_all<CompareOp::LessEqual, T>;
    case CompareOp::Greater: return compare_all<CompareOp::Greater, T>;
    case CompareOp::GreaterEqual: return compare_all<CompareOp::GreaterEqual, T>;
    case CompareOp::And: return compare_all<CompareOp::And, T>;
    case CompareOp::Or: return compare_all<CompareOp::Or, T>;
    default: return compare_all<CompareOp::Xor, T>;
  }
}

}  // namespace

// Inputs a, b (dtype); output bool, their broadcast. Logical ops take bool only.
PreparedPtr prepare_compare(const std::string& op_name, const std::vector<int64_t>& a_shape,
                            const std::vector<int64_t>& b_shape, DType dtype) {
  const CompareOp op = parse_compare(op_name);
  const bool logical = op == CompareOp::And || op == CompareOp::Or || op == CompareOp::Xor;
  PYINFER_CHECK(!logical || dtype == DType::Bool, op_name << ": needs bool inputs, got " << dtype_name(dtype));
  const std::vector<int64_t> out = broadcast_shapes({a_shape, b_shape}, op_name.c_str());
  const Broadcast<2> c = canonical_broadcast<2>({&a_shape, &b_shape}, out);
  const CompareFn fn = dispatch_real_or_bool(dtype, op_name.c_str(), [&](auto tag) {
    return compare_fn<typename decltype(tag)::type>(op);
  });
  return KernelBuilder(op_name).input("a", a_shape, dtype).input("b", b_shape, dtype).output("y", out, DType::Bool)
      .remake([op_name, dtype](const Shapes& s) { return prepare_compare(op_name, s[0], s[1], dtype); })
      .run([=](const void* const* in, void* const* o, int threads) { fn(c, in[0], in[1], o[0], threads); });
}

// y = not x (bool).
PreparedPtr prepare_logical_not(const std::vector<int64_t>& shape) {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return KernelBuilder("not").input("x", shape, DType::Bool).output("y", shape, DType::Bool)
      .remake([](const Shapes& s) { return prepare_logical_not(s[0]); })
      .run([=](const void* const* in, void* const* o, int) {
        const bool* x = static_cast<const bool*>(in[0]);
        bool* y = static_cast<bool*>(o[0]);
        for (int64_t i = 0; i < n; ++i) y[i] = !x[i];
      });
}

PYINFER_BINDINGS(compare, 10) {
  m.def(
      "prepare_compare",
      [](const std::string& op, const std::vector<int64_t>& a_shape, const std::vector<int64_t>& b_shape,
         const std::string& dtype) { return prepare_compare(op, a_shape, b_shape, dtype_from_name(dtype, op.c_str())); },
      py::arg("op"), py::arg("a_shape"), py::arg("b_shape"), py::arg("dtype"),
      "prepare_compare(op, a_shape, b_shape, dtype) -> PreparedKernel: bool y = a op b broadcast; op one of\n"
      "equal, less, less_equal, greater, greater_equal (numeric dtypes, bool for equal), and, or, xor (bool).");
  m.def(
      "compare",
      [](const std::string& op, py::handle a_obj, py::handle b_obj, int num_threads) {
        PYINFER_CHECK(py::isinstance<py::array>(a_obj) && py::isinstance<py::array>(b_obj),
                      op << ": the inputs must be numpy arrays");
        auto a = py::reinterpret_borrow<py::array>(a_obj);
        auto b = py::reinterpret_borrow<py::array>(b_obj);
        const DType t = dtype_from_name(py::str(a.dtype()), op.c_str());
        PYINFER_CHECK(t == dtype_from_name(py::str(b.dtype()), op.c_str()), op << ": the inputs differ in dtype");
        return bind::call(*prepare_compare(op, bind::shape_of(a), bind::shape_of(b), t), {a, b}, num_threads);
      },
      py::arg("op"), py::arg("a"), py::arg("b"), py::arg("num_threads") = 0,
      "compare(op, a, b, num_threads=0): bool a op b with numpy broadcasting (see prepare_compare).");
  m.def("prepare_logical_not", &prepare_logical_not, py::arg("shape"),
        "prepare_logical_not(shape) -> PreparedKernel: bool y = not x.");
}

}  // namespace pyinfer
