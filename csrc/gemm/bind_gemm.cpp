// Python bindings of the GEMM family: PackedMatrix (a constant right operand packed once),
// the prepared kernels prepare_gemm / prepare_matmul (gemm/prepare.cpp), and the one-call
// conveniences gemm / matmul, which prepare and run.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <memory>
#include <string>
#include <vector>

#include "bindings/array.h"
#include "bindings/bindings.h"
#include "bindings/prepared.h"
#include "common/check.h"
#include "common/cpu_features.h"
#include "gemm/bind_epilogue.h"
#include "gemm/gemm.h"

namespace py = pybind11;

namespace pyinfer {
namespace {

constexpr int kMaxRank = 32;

// pyinfer.kernels.PackedMatrix: op(b) packed once for use as the right operand.
struct PyPackedMatrix {
  std::shared_ptr<const PackedMatrix> m;
  bool trans = false;
  std::string isa;
};

PyPackedMatrix make_packed(py::handle b_obj, bool trans, int num_threads) {
  const auto b = bind::float_array(b_obj, "PackedMatrix: b", 2, 2);
  const int64_t K = trans ? b.shape(1) : b.shape(0), N = trans ? b.shape(0) : b.shape(1);
  PyPackedMatrix p;
  p.trans = trans;
  p.isa = isa_name(active_isa());
  py::gil_scoped_release nogil;
  p.m = std::make_shared<PackedMatrix>(PackedMatrix::Side::B, trans, K, N, b.data(),
                                       std::max<int64_t>(1, b.shape(1)), num_threads);
  return p;
}

std::shared_ptr<const PackedMatrix> packed_of(const py::handle& b) {
  return py::isinstance<PyPackedMatrix>(b) ? b.cast<const PyPackedMatrix&>().m : nullptr;
}

// The fused-epilogue keyword arguments (gemm/bind_epilogue.h) of every binding here.
#define PYINFER_EPILOGUE_ARGS                                                                    \
  py::arg("activation") = "none", py::arg("activation_alpha") = py::none(),                      \
      py::arg("activation_beta") = py::none(), py::arg("clip_min") = py::none(),                 \
      py::arg("clip_max") = py::none()

#define PYINFER_EPILOGUE_DOC                                                                    \
  "Fused epilogue (keyword-only), applied to each output tile while it is in cache:\n"         \
  "  y = act(product + bias + residual)\n"                                                     \
  "bias: [N] float32, added to every row; residual: float32 of exactly the output's shape;\n"  \
  "activation: a pyinfer.kernels.Activation or its name: none, relu, relu6, clip, leaky_relu,\n" \
  "sigmoid, tanh, hard_sigmoid, hard_swish, gelu (erf form), gelu_tanh, silu;\n"               \
  "activation_alpha: leaky_relu slope (0.01) or hard_sigmoid alpha (0.2); activation_beta:\n"  \
  "hard_sigmoid beta (0.5); clip_min / clip_max: bounds of clip (-inf / +inf). A parameter the\n" \
  "activation does not take raises."

PreparedPtr gemm_kernel(const std::vector<int64_t>& a_shape, py::handle b, bool trans_a, bool trans_b,
                        float alpha, float beta, const std::optional<std::vector<int64_t>>& c_shape, bool bias,
                        bool residual, const ActParams& act) {
  GemmParams p;
  p.a_shape = a_shape;
  auto packed = packed_of(b);
  if (!packed) p.b_shape = b.cast<std::vector<int64_t>>();
  p.trans_a = trans_a, p.trans_b = trans_b, p.alpha = alpha, p.beta = beta;
  p.has_c = c_shape.has_value();
  if (c_shape) p.c_shape = *c_shape;
  p.has_bias = bias, p.has_residual = residual, p.act = act;
  return prepare_gemm(p, packed);
}

PreparedPtr matmul_kernel(const std::vector<int64_t>& a_shape, py::handle b, bool bias, bool residual,
                          const ActParams& act) {
  MatMulParams p;
  p.a_shape = a_shape;
  auto packed = packed_of(b);
  if (!packed) p.b_shape = b.cast<std::vector<int64_t>>();
  p.has_bias = bias, p.has_residual = residual, p.act = act;
  return prepare_matmul(p, packed);
}

}  // namespace

PYINFER_BINDINGS(gemm, 10) {
  py::class_<PyPackedMatrix>(m, "PackedMatrix", R"doc(PackedMatrix(b, trans=False, num_threads=0)

A constant right-hand operand op(b) (b.T when trans) packed once into the GEMM micro-kernel's
panel layout, for gemm(a, packed) and matmul(a, packed): no packing per call, and batch-1
products stream it contiguously. b is a 2-D float32 array; the packed copy does not refer to
it (drop b to keep one copy in memory). The layout belongs to the SIMD tier active when it
was packed; products with it run that tier's kernels.)doc")
      .def(py::init([](py::handle b, bool trans, int num_threads) { return make_packed(b, trans, num_threads); }),
           py::arg("b"), py::arg("trans") = false, py::arg("num_threads") = 0)
      .def_property_readonly("shape", [](const PyPackedMatrix& p) { return py::make_tuple(p.m->rows(), p.m->cols()); },
                             "(K, N): the shape of op(b).")
      .def_property_readonly("trans", [](const PyPackedMatrix& p) { return p.trans; })
      .def_property_readonly("nbytes", [](const PyPackedMatrix& p) { return p.m->size_bytes(); },
                             "Bytes held by the packed copy (panels are zero-padded).")
      .def_property_readonly("isa", [](const PyPackedMatrix& p) { return p.isa; },
                             "SIMD tier whose kernels use this packing.")
      .def("__repr__", [](const PyPackedMatrix& p) {
        return "PackedMatrix(shape=(" + std::to_string(p.m->rows()) + ", " + std::to_string(p.m->cols()) +
               "), trans=" + (p.trans ? "True" : "False") + ", isa='" + p.isa + "')";
      });

  m.def(
      "prepare_gemm",
      [](const std::vector<int64_t>& a_shape, py::handle b, bool trans_a, bool trans_b, float alpha, float beta,
         std::optional<std::vector<int64_t>> c_shape, bool bias, bool residual, py::handle activation,
         py::object act_alpha, py::object act_beta, py::object clip_min, py::object clip_max) {
        const ActParams act =
            bind::parse_activation("gemm", activation, act_alpha, act_beta, clip_min, clip_max);
        return gemm_kernel(a_shape, b, trans_a, trans_b, alpha, beta, c_shape, bias, residual, act);
      },
      py::arg("a_shape"), py::arg("b"), py::arg("trans_a") = false, py::arg("trans_b") = false,
      py::arg("alpha") = 1.0f, py::arg("beta") = 1.0f, py::arg("c_shape") = py::none(), py::kw_only(),
      py::arg("bias") = false, py::arg("residual") = false, PYINFER_EPILOGUE_ARGS,
      "prepare_gemm(a_shape, b, trans_a=False, trans_b=False, alpha=1.0, beta=1.0, c_shape=None, *,\n"
      "             bias=False, residual=False, activation='none', ...) -> PreparedKernel\n\n"
      "gemm() prepared for these shapes: b is B's shape, or a PackedMatrix (then trans_b must be\n"
      "False); c_shape: C's shape (None: no C); bias / residual: whether those inputs are given.\n"
      "The kernel takes (a, b, c, bias, residual), None for the unused ones.");
  m.def(
      "prepare_matmul",
      [](const std::vector<int64_t>& a_shape, py::handle b, bool bias, bool residual, py::handle activation,
         py::object act_alpha, py::object act_beta, py::object clip_min, py::object clip_max) {
        const ActParams act =
            bind::parse_activation("matmul", activation, act_alpha, act_beta, clip_min, clip_max);
        return matmul_kernel(a_shape, b, bias, residual, act);
      },
      py::arg("a_shape"), py::arg("b"), py::kw_only(), py::arg("bias") = false, py::arg("residual") = false,
      PYINFER_EPILOGUE_ARGS,
      "prepare_matmul(a_shape, b, *, bias=False, residual=False, activation='none', ...) -> PreparedKernel\n\n"
      "matmul() prepared for these shapes: b is B's shape or a PackedMatrix. The kernel takes\n"
      "(a, b, bias, residual), None for the unused ones.");

  m.def(
      "gemm",
      [](py::handle a_obj, py::handle b_obj, py::object c_obj, float alpha, float beta, bool trans_a, bool trans_b,
         int num_threads, py::object bias, py::object residual, py::handle activation, py::object act_alpha,
         py::object act_beta, py::object clip_min, py::object clip_max) {
        const ActParams act =
            bind::parse_activation("gemm", activation, act_alpha, act_beta, clip_min, clip_max);
        auto a = bind::float_array(a_obj, "gemm: A", 2, 2);
        const bool packed = py::isinstance<PyPackedMatrix>(b_obj);
        py::object b = packed ? py::reinterpret_borrow<py::object>(b_obj)
                              : py::object(bind::float_array(b_obj, "gemm: B", 2, 2));
        py::object c = py::none();
        std::optional<std::vector<int64_t>> c_shape;
        if (!c_obj.is_none()) {
          c = bind::float_array(c_obj, "gemm: C", 0, 2);
          c_shape = bind::shape_of(c.cast<py::array>());
        }
        py::object b_arg = packed ? b : py::cast(bind::shape_of(b.cast<py::array>()));
        auto k = gemm_kernel(bind::shape_of(a), b_arg, trans_a, trans_b, alpha, beta, c_shape, !bias.is_none(),
                             !residual.is_none(), act);
        return bind::call(*k, {a, packed ? py::none() : b, c, bias, residual}, num_threads);
      },
      py::arg("a"), py::arg("b"), py::arg("c") = py::none(), py::arg("alpha") = 1.0f, py::arg("beta") = 1.0f,
      py::arg("trans_a") = false, py::arg("trans_b") = false, py::arg("num_threads") = 0, py::kw_only(),
      py::arg("bias") = py::none(), py::arg("residual") = py::none(), PYINFER_EPILOGUE_ARGS,
      "gemm(a, b, c=None, alpha=1.0, beta=1.0, trans_a=False, trans_b=False, num_threads=0, *,\n"
      "     bias=None, residual=None, activation='none', activation_alpha=None,\n"
      "     activation_beta=None, clip_min=None, clip_max=None)\n\n"
      "Y = alpha * op(a) @ op(b) + beta * c, ONNX Gemm semantics. a and b are 2-D float32\n"
      "(b may be a PackedMatrix, which holds op(b): then trans_b must be False); op(x) is x.T\n"
      "when trans_x is set. op(a) is (M, K), op(b) is (K, N); c (optional, rank 0..2)\n"
      "broadcasts unidirectionally to (M, N). Returns a new (M, N) float32 array. Results do\n"
      "not depend on num_threads (0 = default). Non-contiguous inputs are copied.\n\n" PYINFER_EPILOGUE_DOC);
  m.def(
      "matmul",
      [](py::handle a_obj, py::handle b_obj, int num_threads, py::object bias, py::object residual,
         py::handle activation, py::object act_alpha, py::object act_beta, py::object clip_min,
         py::object clip_max) {
        const ActParams act =
            bind::parse_activation("matmul", activation, act_alpha, act_beta, clip_min, clip_max);
        auto a = bind::float_array(a_obj, "matmul: a", 1, kMaxRank);
        const bool packed = py::isinstance<PyPackedMatrix>(b_obj);
        py::object b = packed ? py::reinterpret_borrow<py::object>(b_obj)
                              : py::object(bind::float_array(b_obj, "matmul: b", 1, kMaxRank));
        py::object b_arg = packed ? b : py::cast(bind::shape_of(b.cast<py::array>()));
        auto k = matmul_kernel(bind::shape_of(a), b_arg, !bias.is_none(), !residual.is_none(), act);
        return bind::call(*k, {a, packed ? py::none() : b, bias, residual}, num_threads);
      },
      py::arg("a"), py::arg("b"), py::arg("num_threads") = 0, py::kw_only(), py::arg("bias") = py::none(),
      py::arg("residual") = py::none(), PYINFER_EPILOGUE_ARGS,
      "matmul(a, b, num_threads=0, *, bias=None, residual=None, activation='none', ...)\n\n"
      "numpy.matmul for float32 arrays of rank >= 1: a 1-D a is a row vector, a 1-D b a column\n"
      "vector (the added dimension is removed from the result); leading (batch) dimensions\n"
      "broadcast. b may be a PackedMatrix (a 2-D op(b)): every leading dimension of a then\n"
      "folds into one product. Returns a new float32 array.\n\n" PYINFER_EPILOGUE_DOC);
}

}  // namespace pyinfer
