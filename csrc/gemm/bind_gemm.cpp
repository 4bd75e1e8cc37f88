#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include "bindings/array.h"
#include "bindings/bindings.h"
#include "common/check.h"
#include "gemm/gemm.h"

namespace py = pybind11;

namespace pyinfer {

void bind_gemm(py::module_& m) {
  m.def(
      "gemm",
      [](py::handle a_obj, py::handle b_obj, py::object c_obj, float alpha, float beta, bool trans_a,
         bool trans_b, int num_threads) {
        auto a = bind::float_array(a_obj, "gemm: A", 2, 2);
        auto b = bind::float_array(b_obj, "gemm: B", 2, 2);
        const int64_t M = trans_a ? a.shape(1) : a.shape(0), K = trans_a ? a.shape(0) : a.shape(1);
        const int64_t Kb = trans_b ? b.shape(1) : b.shape(0), N = trans_b ? b.shape(0) : b.shape(1);
        PYINFER_CHECK(K == Kb, "gemm: inner dimensions differ: op(A) is " << M << "x" << K
                                   << ", op(B) is " << Kb << "x" << N);
        auto y = bind::new_float_array({M, N});
        float* yp = y.mutable_data();
        if (!c_obj.is_none() && beta != 0.f) {
          auto c = bind::float_array(c_obj, "gemm: C", 0, 2);
          // unidirectional broadcast of C to (M, N)
          auto cs = bind::shape_of(c);
          int64_t cm = cs.size() == 2 ? cs[0] : 1, cn = cs.empty() ? 1 : cs.back();
          PYINFER_CHECK((cm == 1 || cm == M) && (cn == 1 || cn == N),
                        "gemm: C of shape " << bind::shape_str(cs) << " does not broadcast to (" << M << ", " << N << ")");
          const float* cp = c.data();
          for (int64_t i = 0; i < M; ++i)
            for (int64_t j = 0; j < N; ++j) yp[i * N + j] = cp[(cm == 1 ? 0 : i) * cn + (cn == 1 ? 0 : j)];
        } else {
          beta = 0.f;
        }
        {
          py::gil_scoped_release nogil;
          sgemm(trans_a, trans_b, M, N, K, alpha, a.data(), a.shape(1), b.data(), b.shape(1), beta, yp, N,
                num_threads);
        }
        return y;
      },
      py::arg("a"), py::arg("b"), py::arg("c") = py::none(), py::arg("alpha") = 1.0f,
      py::arg("beta") = 1.0f, py::arg("trans_a") = false, py::arg("trans_b") = false,
      py::arg("num_threads") = 0,
      "Y = alpha * op(A) @ op(B) + beta * C (ONNX Gemm semantics; C broadcasts to (M, N)).");
}

}  // namespace pyinfer
