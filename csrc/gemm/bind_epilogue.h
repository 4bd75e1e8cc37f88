// Parsing of the fused-epilogue keyword arguments shared by the gemm / matmul / conv
// bindings: activation name and its parameters, checked (never silently ignored).
#pragma once
#include <pybind11/pybind11.h>

#include <cmath>
#include <limits>
#include <string>

#include "common/check.h"
#include "gemm/epilogue.h"

namespace pyinfer {
namespace bind {

// Names accepted by activation=..., for docstrings and messages.
inline const char* activation_names() {
  return "none, relu, relu6, clip, leaky_relu, sigmoid, tanh, hard_sigmoid, hard_swish, gelu, "
         "gelu_tanh";
}

// activation_alpha: leaky_relu slope (default 0.01), hard_sigmoid alpha (default 0.2);
// activation_beta: hard_sigmoid beta (default 0.5); clip_min / clip_max: clip bounds
// (default -inf / +inf). A parameter given to an activation that does not take it raises.
inline void parse_activation(const char* op, const std::string& name, const pybind11::object& alpha,
                             const pybind11::object& beta, const pybind11::object& clip_min,
                             const pybind11::object& clip_max, Epilogue& ep) {
  auto value = [](const pybind11::object& o, float dflt) {
    return o.is_none() ? dflt : o.cast<float>();
  };
  const bool takes_alpha = name == "leaky_relu" || name == "hard_sigmoid";
  const bool takes_beta = name == "hard_sigmoid";
  const bool takes_clip = name == "clip";
  PYINFER_CHECK(alpha.is_none() || takes_alpha,
                op << ": activation_alpha is not a parameter of activation '" << name << "'");
  PYINFER_CHECK(beta.is_none() || takes_beta,
                op << ": activation_beta is not a parameter of activation '" << name << "'");
  PYINFER_CHECK((clip_min.is_none() && clip_max.is_none()) || takes_clip,
                op << ": clip_min / clip_max are parameters of activation 'clip' only, not '"
                   << name << "'");
  const float inf = std::numeric_limits<float>::infinity();
  if (name == "none") ep.act = Act::None;
  else if (name == "relu") ep.act = Act::Relu;
  else if (name == "relu6") { ep.act = Act::Clip; ep.lo = 0.f; ep.hi = 6.f; }
  else if (name == "clip") { ep.act = Act::Clip; ep.lo = value(clip_min, -inf); ep.hi = value(clip_max, inf); }
  else if (name == "leaky_relu") { ep.act = Act::LeakyRelu; ep.alpha = value(alpha, 0.01f); }
  else if (name == "sigmoid") ep.act = Act::Sigmoid;
  else if (name == "tanh") ep.act = Act::Tanh;
  else if (name == "hard_sigmoid") {
    ep.act = Act::HardSigmoid;
    ep.alpha = value(alpha, 0.2f);
    ep.beta = value(beta, 0.5f);
  }
  else if (name == "hard_swish") ep.act = Act::HardSwish;
  else if (name == "gelu") ep.act = Act::Gelu;
  else if (name == "gelu_tanh") ep.act = Act::GeluTanh;
  else PYINFER_CHECK(false, op << ": unknown activation '" << name << "' (expected one of "
                               << activation_names() << ")");
  PYINFER_CHECK(!std::isnan(ep.lo) && !std::isnan(ep.hi) && ep.lo <= ep.hi,
                op << ": clip_min (" << ep.lo << ") must not exceed clip_max (" << ep.hi << ")");
  PYINFER_CHECK(std::isfinite(ep.alpha) && std::isfinite(ep.beta),
                op << ": activation_alpha / activation_beta must be finite");
}

}  // namespace bind
}  // namespace pyinfer
