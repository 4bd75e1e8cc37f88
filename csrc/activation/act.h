// The one activation vocabulary. Every kernel that applies an activation takes an ActParams:
// the elementwise activation kernels, the epilogue GEMM / conv / batch norm apply to an output
// tile while it is in cache, and the gates of the RNN family. Python sees the same enum as
// pyinfer.kernels.Activation (bound in bind_activation.cpp, never copied as integers), and
// one vector implementation of each (activation/vec_math.h: activate<A>) serves every caller,
// so a fused activation and the unfused kernel give the same numbers.
//
// Plain data only: this header is included by the *_isa.cpp copies (see common/simd.h on ODR).
#pragma once
#include <cstdint>

namespace pyinfer {

// Names follow the ONNX operators (Gelu: approximate="none", GeluTanh: approximate="tanh");
// Affine and ScaledTanh are ONNX RNN gate functions, Silu is x * sigmoid(x). Parameters a, b:
//   LeakyRelu alpha | Clip lo, hi | HardSigmoid alpha, beta | Elu alpha | Selu alpha, gamma |
//   Celu alpha (non-zero) | ThresholdedRelu alpha | Affine alpha, beta (a x + b) |
//   ScaledTanh alpha, beta (a tanh(b x)); the others take none.
// X(Name) for every activation, in enum order (the switches and the name table use it).
#define PYINFER_ACTIVATIONS(X)                                                                     \
  X(None) X(Relu) X(LeakyRelu) X(Sigmoid) X(Tanh) X(Clip) X(HardSigmoid) X(HardSwish) X(Elu)     \
  X(Selu) X(Celu) X(Softplus) X(Softsign) X(ThresholdedRelu) X(Erf) X(Gelu) X(GeluTanh) X(Mish)  \
  X(Silu) X(Affine) X(ScaledTanh)

// The activations a fused epilogue (GEMM, conv, batch norm) applies: the ones graph fusions
// produce. Instantiating every store path for all of them would multiply code no model runs;
// preparing a kernel with another one is refused (act_names.h: check_epilogue_act).
#define PYINFER_EPILOGUE_ACTIVATIONS(X)                                                            \
  X(Relu) X(LeakyRelu) X(Sigmoid) X(Tanh) X(Clip) X(HardSigmoid) X(HardSwish) X(Gelu) X(GeluTanh) \
  X(Silu) X(Mish)

#define PYINFER_ACT_ENUMERATOR(name) name,
enum class Act : int32_t { PYINFER_ACTIVATIONS(PYINFER_ACT_ENUMERATOR) };
#undef PYINFER_ACT_ENUMERATOR
#define PYINFER_ACT_COUNT_ONE(name) +1
constexpr int kActCount = 0 PYINFER_ACTIVATIONS(PYINFER_ACT_COUNT_ONE);
#undef PYINFER_ACT_COUNT_ONE

struct ActParams {
  Act kind = Act::None;
  float a = 0.f, b = 0.f;
};

}  // namespace pyinfer
