// Integer arithmetic (int32 / int64 Add, Sub, Mul, Div, Max, Min) with NumPy broadcasting: the
// shape arithmetic of exported graphs (sizes, offsets, strides computed from Shape). Wraps on
// overflow like C unsigned arithmetic; Div rounds toward zero and gives 0 for a zero divisor
// (pyinfer's NumPy path: ONNX leaves it undefined).
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <string>
#include <type_traits>
#include <vector>

#include "bindings/bindings.h"
#include "common/broadcast.h"
#include "common/check.h"
#include "common/prepared.h"
#include "common/wrapping.h"
#include "elementwise/elementwise.h"

namespace py = pybind11;

namespace pyinfer {
namespace {

template <class T>
T apply(BinaryOp op, T a, T b) {
  switch (op) {
    case BinaryOp::Add: return wrapping_add(a, b);
    case BinaryOp::Sub: return wrapping_sub(a, b);
    case BinaryOp::Mul: return wrapping_mul(a, b);
    case BinaryOp::Div:
      if (b == 0) return 0;
      if (b == -1) return wrapping_sub(T(0), a);  // MIN / -1 wraps instead of trapping
      return a / b;
    case BinaryOp::Max: return a > b ? a : b;
    default: return a < b ? a : b;
  }
}

template <class T>
void int_binary(BinaryOp op, const Broadcast<2>& c, const T* a, const T* b, T* y, int threads) {
  for_each_run(c, threads, [&](const int64_t* off, int64_t o, int64_t n, const int64_t* step) {
    const T *pa = a + off[0], *pb = b + off[1];
    for (int64_t i = 0; i < n; ++i) y[o + i] = apply(op, pa[i * step[0]], pb[i * step[1]]);
  });
}

}  // namespace

PreparedPtr prepare_int_binary(const std::string& op_name, const std::vector<int64_t>& a_shape,
                               const std::vector<int64_t>& b_shape, DType dtype) {
  static const std::pair<const char*, BinaryOp> ops[] = {{"add", BinaryOp::Add}, {"sub", BinaryOp::Sub},
                                                         {"mul", BinaryOp::Mul}, {"div", BinaryOp::Div},
                                                         {"maximum", BinaryOp::Max}, {"minimum", BinaryOp::Min}};
  int found = -1;
  for (int i = 0; i < 6; ++i)
    if (op_name == ops[i].first) found = i;
  PYINFER_CHECK(found >= 0, "int_binary: unknown op '" << op_name << "'");
  PYINFER_CHECK(dtype == DType::Int64 || dtype == DType::Int32,
                "int_binary: int32 or int64 only, got " << dtype_name(dtype));
  const BinaryOp op = ops[found].second;
  const std::vector<int64_t> out = broadcast_shapes({a_shape, b_shape}, op_name.c_str());
  const Broadcast<2> c = canonical_broadcast<2>({&a_shape, &b_shape}, out);
  const bool wide = dtype == DType::Int64;
  return KernelBuilder(op_name).input("a", a_shape, dtype).input("b", b_shape, dtype).output("y", out, dtype)
      .remake([op_name, dtype](const Shapes& s) { return prepare_int_binary(op_name, s[0], s[1], dtype); })
      .run([=](const void* const* in, void* const* o, int threads) {
        if (wide)
          int_binary(op, c, static_cast<const int64_t*>(in[0]), static_cast<const int64_t*>(in[1]),
                     static_cast<int64_t*>(o[0]), threads);
        else
          int_binary(op, c, static_cast<const int32_t*>(in[0]), static_cast<const int32_t*>(in[1]),
                     static_cast<int32_t*>(o[0]), threads);
      });
}

PYINFER_BINDINGS(int_binary, 10) {
  m.def(
      "prepare_int_binary",
      [](const std::string& op, const std::vector<int64_t>& a_shape, const std::vector<int64_t>& b_shape,
         const std::string& dtype) {
        return prepare_int_binary(op, a_shape, b_shape, dtype_from_name(dtype, "int_binary"));
      },
      py::arg("op"), py::arg("a_shape"), py::arg("b_shape"), py::arg("dtype") = "int64",
      "prepare_int_binary(op, a_shape, b_shape, dtype='int64') -> PreparedKernel: int32 / int64 y = a op b\n"
      "broadcast, op one of add, sub, mul, div (toward zero; x / 0 = 0), maximum, minimum; wraps on overflow.");
}

}  // namespace pyinfer
