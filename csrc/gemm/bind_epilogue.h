// Parsing of the fused-epilogue keyword arguments shared by the gemm / matmul / conv
// bindings: activation name and its parameters, checked (never silently ignored).
#pragma once
#include <pybind11/pybind11.h>

#include <optional>
#include <string>

#include "common/check.h"
#include "activation/act_names.h"
#include "gemm/epilogue.h"

namespace pyinfer {
namespace bind {

// The fused epilogue's activation from the kernel API's keyword arguments: activation (a
// name of act_names.h or a pyinfer.kernels.Activation), activation_alpha / activation_beta (its
// parameters a, b; defaults act_defaults), clip_min / clip_max (Clip's bounds). A parameter
// the activation does not take raises, so does an activation no epilogue applies.
inline ActParams parse_activation(const char* op, const pybind11::handle& activation, const pybind11::object& alpha,
                                  const pybind11::object& beta, const pybind11::object& clip_min,
                                  const pybind11::object& clip_max) {
  auto value = [](const pybind11::object& o) -> std::optional<float> {
    if (o.is_none()) return std::nullopt;
    return o.cast<float>();
  };
  const bool is_clip = pybind11::isinstance<pybind11::str>(activation)
                           ? activation.cast<std::string>() == "clip"
                           : activation.cast<Act>() == Act::Clip;
  PYINFER_CHECK((clip_min.is_none() && clip_max.is_none()) || is_clip,
                op << ": clip_min / clip_max are parameters of activation 'clip' only");
  PYINFER_CHECK(!is_clip || (alpha.is_none() && beta.is_none()),
                op << ": activation 'clip' takes clip_min / clip_max, not activation_alpha / activation_beta");
  const std::optional<float> a = is_clip ? value(clip_min) : value(alpha);
  const std::optional<float> b = is_clip ? value(clip_max) : value(beta);
  const ActParams p = pybind11::isinstance<pybind11::str>(activation)
                          ? make_act(op, activation.cast<std::string>(), a, b)
                          : make_act(op, activation.cast<Act>(), a, b);
  check_epilogue_act(op, p);
  PYINFER_CHECK(p.kind != Act::Clip || p.a <= p.b,
                op << ": clip_min (" << p.a << ") must not exceed clip_max (" << p.b << ")");
  return p;
}

}  // namespace bind
}  // namespace pyinfer
