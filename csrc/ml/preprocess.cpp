// ai.onnx.ml Scaler and Normalizer as prepared kernels (what skl2onnx writes for StandardScaler /
// MinMaxScaler and Normalizer, and after a multinomial LogisticRegression). Kernels, prepares and
// bindings in one file.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "bindings/array.h"
#include "bindings/bindings.h"
#include "bindings/prepared.h"
#include "common/check.h"
#include "common/prepared.h"
#include "ml/ml_bindings.h"

namespace py = pybind11;

namespace pyinfer {
namespace ml {
namespace {

int64_t elements(const std::vector<int64_t>& shape) {
  int64_t n = 1;
  for (int64_t d : shape) {
    PYINFER_CHECK(d >= 0, "negative dimension");
    n *= d;
  }
  return n;
}

// y = (x - offset) * scale in X's type (float32 arithmetic for float32 X, as onnxruntime), one
// offset / scale per column (the last dimension) or one for all.
template <class T>
void scale_rows(const T* x, float* y, int64_t n, int64_t cols, const std::vector<T>& offset,
                const std::vector<T>& scale) {
  for (int64_t i = 0; i < n; i += cols) {  // n is a multiple of cols (0 when cols is)
    for (int64_t c = 0; c < cols; ++c) {
      const T o = offset[offset.size() > 1 ? c : 0], s = scale[scale.size() > 1 ? c : 0];
      y[i + c] = static_cast<float>((x[i + c] - o) * s);
    }
  }
}

enum class Norm { Max, L1, L2 };

}  // namespace

// offset, scale: 1 value or one per column (x_shape's last dimension; 1 for a scalar X).
PreparedPtr prepare_scaler(const std::vector<int64_t>& x_shape, DType x_dtype, const std::vector<double>& offset,
                           const std::vector<double>& scale) {
  PYINFER_CHECK(x_dtype == DType::Float32 || x_dtype == DType::Float64, "scaler: X must be float32 or float64");
  const int64_t cols = x_shape.empty() ? 1 : x_shape.back(), n = elements(x_shape);
  for (const auto* v : {&offset, &scale})
    PYINFER_CHECK(v->size() == 1 || static_cast<int64_t>(v->size()) == cols,
                  "scaler: offset and scale need 1 value or one per column (" << cols << "), got " << v->size());
  KernelBuilder b("scaler");
  b.input("x", x_shape, x_dtype).output("y", x_shape);
  if (x_dtype == DType::Float32) {
    std::vector<float> o(offset.begin(), offset.end()), s(scale.begin(), scale.end());
    return b.run([=](const void* const* in, void* const* out, int) {
      scale_rows(static_cast<const float*>(in[0]), f32_out(out, 0), n, cols, o, s);
    });
  }
  return b.run([=](const void* const* in, void* const* out, int) {
    scale_rows(static_cast<const double*>(in[0]), f32_out(out, 0), n, cols, offset, scale);
  });
}

// Each vector along axis 1 (axis 0 for a 1-D X) divided by its max, L1 or L2 norm (summed in
// double); a zero norm leaves it as it is. float32 in and out.
PreparedPtr prepare_normalizer(const std::vector<int64_t>& x_shape, const std::string& norm_name) {
  PYINFER_CHECK(!x_shape.empty(), "normalizer: X must have rank >= 1");
  PYINFER_CHECK(norm_name == "MAX" || norm_name == "L1" || norm_name == "L2",
                "normalizer: norm must be MAX, L1 or L2, got '" << norm_name << "'");
  const Norm norm = norm_name == "MAX" ? Norm::Max : norm_name == "L1" ? Norm::L1 : Norm::L2;
  const int64_t axis = x_shape.size() > 1 ? 1 : 0, len = x_shape[axis];
  int64_t outer = 1, inner = 1;
  for (int64_t d = 0; d < axis; ++d) outer *= x_shape[d];
  for (size_t d = axis + 1; d < x_shape.size(); ++d) inner *= x_shape[d];
  elements(x_shape);
  return KernelBuilder("normalizer").input("x", x_shape).output("y", x_shape)
      .run([=](const void* const* in, void* const* out, int) {
        const float* x = f32_in(in, 0);
        float* y = f32_out(out, 0);
        for (int64_t o = 0; o < outer; ++o) {
          for (int64_t i = 0; i < inner; ++i) {
            const float* v = x + o * len * inner + i;
            float* w = y + o * len * inner + i;
            double total = norm == Norm::Max ? -INFINITY : 0.0;
            for (int64_t k = 0; k < len; ++k) {
              const double e = v[k * inner];
              if (norm == Norm::Max) total = std::max(total, e);
              else total += norm == Norm::L1 ? std::fabs(e) : e * e;
            }
            float divisor = static_cast<float>(norm == Norm::L2 ? std::sqrt(total) : total);
            if (divisor == 0.0f) divisor = 1.0f;
            for (int64_t k = 0; k < len; ++k) w[k * inner] = v[k * inner] / divisor;
          }
        }
      });
}

PYINFER_BINDINGS(ml_preprocess, 10) {
  m.def(
      "prepare_scaler",
      [](const std::vector<int64_t>& x_shape, const std::string& dtype, py::handle offset, py::handle scale) {
        return prepare_scaler(x_shape, float_dtype(dtype, "scaler"), vector_of<double>(offset, "scaler", "offset"),
                              vector_of<double>(scale, "scaler", "scale"));
      },
      py::arg("x_shape"), py::arg("dtype"), py::arg("offset"), py::arg("scale"),
      "prepare_scaler(x_shape, dtype, offset, scale) -> PreparedKernel: scaler() for X of x_shape and dtype.");
  m.def(
      "scaler",
      [](py::handle x_obj, py::handle offset, py::handle scale) {
        PYINFER_CHECK(py::isinstance<py::array>(x_obj), "scaler: x must be a numpy array");
        auto x = py::reinterpret_borrow<py::array>(x_obj);
        auto k = prepare_scaler(bind::shape_of(x), float_dtype(py::str(x.dtype()), "scaler"),
                                vector_of<double>(offset, "scaler", "offset"), vector_of<double>(scale, "scaler", "scale"));
        return bind::call(*k, {x}, 1);
      },
      py::arg("x"), py::arg("offset"), py::arg("scale"),
      "scaler(x, offset, scale): (x - offset) * scale as float32, computed in x's type (float32 or float64);\n"
      "offset and scale hold one value or one per column (x's last dimension). ai.onnx.ml Scaler.");
  m.def(
      "prepare_normalizer",
      [](const std::vector<int64_t>& x_shape, const std::string& norm) { return prepare_normalizer(x_shape, norm); },
      py::arg("x_shape"), py::arg("norm"),
      "prepare_normalizer(x_shape, norm) -> PreparedKernel: normalizer() for float32 X of x_shape.");
  m.def(
      "normalizer",
      [](py::handle x_obj, const std::string& norm) {
        PYINFER_CHECK(py::isinstance<py::array>(x_obj), "normalizer: x must be a numpy array");
        auto x = py::reinterpret_borrow<py::array>(x_obj);
        auto k = prepare_normalizer(bind::shape_of(x), norm);
        return bind::call(*k, {x}, 1);
      },
      py::arg("x"), py::arg("norm"),
      "normalizer(x, norm): each vector along axis 1 (axis 0 of a 1-D x) divided by its MAX, L1 or L2 norm\n"
      "(a zero norm divides by 1). float32. ai.onnx.ml Normalizer.");
}

}  // namespace ml
}  // namespace pyinfer
