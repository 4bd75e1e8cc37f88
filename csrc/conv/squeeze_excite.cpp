// Squeeze-and-excitation as one prepared kernel (MobileNetV3, EfficientNet, RegNetY, MNASNet-A,
// LRASPP's scale branch):
//   s = mean over H x W of x                      [N, C]
//   h = act(W1 s + b1)                             [N, S]   (first of one or two 1x1 convs)
//   g = gate(W2 h + b2)                            [N, M]   (gate: Sigmoid, HardSigmoid...)
//   y = z * g, per channel                         [N, M, H', W'] (z: x itself, or another map)
// With one layer, g = gate(W1 s + b1). Six graph steps (pool, two convs on 1x1 maps, the gate,
// a broadcasting Mul) become one: the pooled vector and the gates stay in a small buffer, the
// layers are matrix-vector products over weights laid out once (transposed: outputs as vector
// lanes), and the Mul streams z once. The loops are per SIMD tier (squeeze_excite_isa.cpp) and
// take runs of planes: one call per channel cost more than the work on 7 x 7 maps. Prepare and
// binding in this file (docs/ARCHITECTURE.md "Adding a native op").
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <memory>
#include <string>
#include <vector>

#include "activation/activation.h"
#include "bindings/array.h"
#include "bindings/bindings.h"
#include "bindings/prepared.h"
#include "common/check.h"
#include "common/prepared.h"
#include "common/thread_pool.h"
#include "conv/squeeze_excite_kernels.h"
#include "gemm/bind_epilogue.h"

namespace py = pybind11;

namespace pyinfer {
namespace {

// One 1x1 layer: out = act(W in + b), W stored transposed [in, out].
struct SeLayer {
  int64_t in = 0, out = 0;
  std::vector<float> wt;  // [in][out]
  std::vector<float> b;   // [out] (zeros when absent)
  ActParams act;

  void apply(const SqueezeExciteKernels& k, const float* x, float* y) const {
    k.matvec(wt.data(), b.data(), x, in, out, y);
    if (act.kind != Act::None) activate(act, y, y, out, 1);
  }
};

SeLayer make_layer(const char* which, const float* w, const std::vector<int64_t>& w_shape, const float* b,
                   int64_t b_len, const ActParams& act) {
  PYINFER_CHECK(w_shape.size() == 2 || (w_shape.size() == 4 && w_shape[2] == 1 && w_shape[3] == 1),
                "squeeze_excite: " << which << " must be [out, in] or [out, in, 1, 1]");
  SeLayer l;
  l.out = w_shape[0];
  l.in = w_shape[1];
  PYINFER_CHECK(l.out > 0 && l.in > 0, "squeeze_excite: " << which << " has an empty dimension");
  PYINFER_CHECK(b_len < 0 || b_len == l.out,
                "squeeze_excite: " << which << "'s bias has " << b_len << " values for " << l.out << " outputs");
  l.wt.resize(l.in * l.out);
  for (int64_t o = 0; o < l.out; ++o)
    for (int64_t i = 0; i < l.in; ++i) l.wt[i * l.out + o] = w[o * l.in + i];
  l.b.assign(l.out, 0.f);
  if (b_len >= 0)
    for (int64_t o = 0; o < l.out; ++o) l.b[o] = b[o];
  l.act = act;
  return l;
}

}  // namespace

// x [N, C, H, W] (pooled), z [N, M, H', W'] (scaled; z_shape empty: z is x), layers of
// shapes [S, C] and [M, S] (or one [M, C]); y has z's shape.
PreparedPtr prepare_squeeze_excite(const std::vector<int64_t>& x_shape, const std::vector<int64_t>& z_shape,
                                   std::shared_ptr<const std::vector<SeLayer>> layers) {
  PYINFER_CHECK(x_shape.size() >= 3, "squeeze_excite: x must be [N, C, spatial...], got rank " << x_shape.size());
  const bool separate = !z_shape.empty();
  const std::vector<int64_t>& zs = separate ? z_shape : x_shape;
  PYINFER_CHECK(zs.size() >= 3 && zs[0] == x_shape[0],
                "squeeze_excite: z must be [N, M, spatial...] with x's batch size");
  const int64_t N = x_shape[0], C = x_shape[1], M = zs[1];
  int64_t plane = 1, zplane = 1;
  for (size_t d = 2; d < x_shape.size(); ++d) plane *= x_shape[d];
  for (size_t d = 2; d < zs.size(); ++d) zplane *= zs[d];
  PYINFER_CHECK(plane > 0, "squeeze_excite: x has an empty spatial plane");
  PYINFER_CHECK(!layers->empty() && layers->size() <= 2, "squeeze_excite: one or two layers");
  PYINFER_CHECK(layers->front().in == C, "squeeze_excite: the first layer takes " << layers->front().in
                                                                                   << " channels, x has " << C);
  if (layers->size() == 2)
    PYINFER_CHECK((*layers)[1].in == (*layers)[0].out,
                  "squeeze_excite: the second layer takes " << (*layers)[1].in << " values, the first gives "
                                                            << (*layers)[0].out);
  PYINFER_CHECK(layers->back().out == M,
                "squeeze_excite: the gates are " << layers->back().out << " channels, z has " << M);
  int64_t hidden = 0;
  for (const SeLayer& l : *layers) hidden = l.out > hidden ? l.out : hidden;
  KernelBuilder kb("squeeze_excite");
  kb.input("x", x_shape);
  if (separate) kb.input("z", zs);
  kb.output("y", zs);
  kb.remake([layers, separate](const Shapes& s) {
    return prepare_squeeze_excite(s[0], separate ? s[1] : std::vector<int64_t>{}, layers);
  });
  return kb.run([=](const void* const* in, void* const* out, int threads) {
    const float* x = static_cast<const float*>(in[0]);
    const float* z = separate ? static_cast<const float*>(in[1]) : x;
    float* y = static_cast<float*>(out[0]);
    std::vector<float> buf(N * C + hidden + N * M);
    float* pooled = buf.data();
    float* h0 = pooled + N * C;
    float* gates = h0 + hidden;
    const SqueezeExciteKernels& k = squeeze_excite_kernels();
    // The cost model (common/thread_pool.h): x read once by the pool; z read and y written.
    const int pool_threads = threads_for_work(bytes_ns(4.0 * double(N) * double(C) * double(plane)), N * C, threads);
    parallel_for(N * C, pool_threads, [&](int64_t b, int64_t e) { k.plane_means(x + b * plane, e - b, plane, pooled + b); });
    for (int64_t n = 0; n < N; ++n) {
      const float* v = pooled + n * C;
      if (layers->size() == 1) {
        (*layers)[0].apply(k, v, gates + n * M);
      } else {
        (*layers)[0].apply(k, v, h0);
        (*layers)[1].apply(k, h0, gates + n * M);
      }
    }
    const int use = threads_for_work(bytes_ns(8.0 * double(N) * double(M) * double(zplane)), N * M, threads);
    parallel_for(N * M, use, [&](int64_t b, int64_t e) { k.scale_planes(z + b * zplane, gates + b, e - b, zplane, y + b * zplane); });
  });
}

PYINFER_BINDINGS(squeeze_excite, 10) {
  auto build_layers = [](py::handle w1, py::object b1, const ActParams& act1, py::object w2, py::object b2,
                         const ActParams& gate) {
    auto layer = [](const char* which, py::handle w_obj, py::object b_obj, const ActParams& act) {
      const std::string what = std::string("squeeze_excite ") + which;
      auto w = bind::float_array(w_obj, what.c_str(), 2, 4);
      std::vector<int64_t> shape = bind::shape_of(w);
      bind::FloatArray b;
      int64_t b_len = -1;
      if (!b_obj.is_none()) {
        b = bind::float_array(b_obj, (what + " bias").c_str(), 1, 1);
        b_len = b.shape(0);
      }
      return make_layer(which, w.data(), shape, b_len >= 0 ? b.data() : nullptr, b_len, act);
    };
    auto layers = std::make_shared<std::vector<SeLayer>>();
    if (w2.is_none()) {
      layers->push_back(layer("w1", w1, b1, gate));
    } else {
      layers->push_back(layer("w1", w1, b1, act1));
      layers->push_back(layer("w2", w2, b2, gate));
    }
    return std::shared_ptr<const std::vector<SeLayer>>(layers);
  };
  auto acts = [](py::handle activation, py::object alpha, py::object beta, py::object clip_min, py::object clip_max,
                 py::handle gate, py::object gate_alpha, py::object gate_beta) {
    return std::make_pair(
        bind::parse_activation("squeeze_excite", activation, alpha, beta, clip_min, clip_max),
        bind::parse_activation("squeeze_excite", gate, gate_alpha, gate_beta, py::none(), py::none()));
  };
  m.def(
      "prepare_squeeze_excite",
      [build_layers, acts](const std::vector<int64_t>& x_shape, py::object z_shape, py::handle w1, py::object b1,
                           py::object w2, py::object b2, py::handle activation, py::object activation_alpha,
                           py::object activation_beta, py::object clip_min, py::object clip_max, py::handle gate,
                           py::object gate_alpha, py::object gate_beta) {
        auto [act1, g] = acts(activation, activation_alpha, activation_beta, clip_min, clip_max, gate, gate_alpha,
                              gate_beta);
        std::vector<int64_t> zs = z_shape.is_none() ? std::vector<int64_t>{} : z_shape.cast<std::vector<int64_t>>();
        PYINFER_CHECK(z_shape.is_none() || !zs.empty(), "squeeze_excite: z_shape must not be empty");
        return prepare_squeeze_excite(x_shape, zs, build_layers(w1, b1, act1, w2, b2, g));
      },
      py::arg("x_shape"), py::arg("z_shape") = py::none(), py::arg("w1"), py::arg("b1") = py::none(),
      py::arg("w2") = py::none(), py::arg("b2") = py::none(), py::kw_only(), py::arg("activation") = "none",
      py::arg("activation_alpha") = py::none(), py::arg("activation_beta") = py::none(),
      py::arg("clip_min") = py::none(), py::arg("clip_max") = py::none(), py::arg("gate") = "sigmoid",
      py::arg("gate_alpha") = py::none(), py::arg("gate_beta") = py::none(),
      "prepare_squeeze_excite(x_shape, z_shape=None, w1, b1=None, w2=None, b2=None, *, activation='none', ...,\n"
      "                       gate='sigmoid', gate_alpha=None, gate_beta=None) -> PreparedKernel\n"
      "squeeze_excite() prepared for these shapes, the weights copied in (transposed); the kernel takes (x)\n"
      "or (x, z) when z_shape is given.");
  m.def(
      "squeeze_excite",
      [build_layers, acts](py::handle x_obj, py::handle w1, py::object b1, py::object w2, py::object b2,
                           py::object z_obj, py::handle activation, py::object activation_alpha,
                           py::object activation_beta, py::object clip_min, py::object clip_max, py::handle gate,
                           py::object gate_alpha, py::object gate_beta, int num_threads) {
        auto x = bind::float_array(x_obj, "squeeze_excite x", 3, 8);
        auto [act1, g] = acts(activation, activation_alpha, activation_beta, clip_min, clip_max, gate, gate_alpha,
                              gate_beta);
        auto layers = build_layers(w1, b1, act1, w2, b2, g);
        if (z_obj.is_none()) {
          auto k = prepare_squeeze_excite(bind::shape_of(x), {}, layers);
          return bind::call(*k, {x}, num_threads);
        }
        auto z = bind::float_array(z_obj, "squeeze_excite z", 3, 8);
        auto k = prepare_squeeze_excite(bind::shape_of(x), bind::shape_of(z), layers);
        return bind::call(*k, {x, z}, num_threads);
      },
      py::arg("x"), py::arg("w1"), py::arg("b1") = py::none(), py::arg("w2") = py::none(), py::arg("b2") = py::none(),
      py::kw_only(), py::arg("z") = py::none(), py::arg("activation") = "none",
      py::arg("activation_alpha") = py::none(), py::arg("activation_beta") = py::none(),
      py::arg("clip_min") = py::none(), py::arg("clip_max") = py::none(), py::arg("gate") = "sigmoid",
      py::arg("gate_alpha") = py::none(), py::arg("gate_beta") = py::none(), py::arg("num_threads") = 0,
      "squeeze_excite(x, w1, b1=None, w2=None, b2=None, *, z=None, activation='none', ..., gate='sigmoid', ...,\n"
      "               num_threads=0)\n"
      "Squeeze-and-excitation: s = mean of x over its spatial axes [N, C]; h = activation(w1 s + b1);\n"
      "g = gate(w2 h + b2) (with no w2: g = gate(w1 s + b1)); y = z * g per channel, z defaulting to x.\n"
      "w1 [S, C] or [S, C, 1, 1], w2 [M, S] (or 4-D), float32; activation and gate are epilogue activations\n"
      "(pyinfer.kernels.Activation) with their parameters (gate_alpha / gate_beta: HardSigmoid's).");
}

}  // namespace pyinfer
