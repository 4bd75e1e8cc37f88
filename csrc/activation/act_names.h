// Names, parameters and checks of the activations of act.h (portable code: the bindings and
// the drivers that prepare kernels).
#pragma once
#include <optional>
#include <string>

#include "activation/act.h"

namespace pyinfer {

// The enumerator's name ("LeakyRelu": ONNX's op type, pyinfer.kernels.Activation's member).
const char* act_name(Act act);
// The kernel API's spelling: snake_case of the name ("leaky_relu").
const char* act_kernel_name(Act act);
// How many parameters it takes (0, 1: a, 2: a and b) and their defaults.
int act_param_count(Act act);
ActParams act_defaults(Act act);

// The activation named `name` in the kernel API ("relu6" is Clip(0, 6)), with the parameters
// given (std::nullopt: the default; the kernel API calls them activation_alpha / _beta). Throws std::invalid_argument naming `op` for an unknown
// name, a parameter the activation does not take, or a parameter value it cannot use (a
// non-finite parameter other than a Clip bound, a NaN Clip bound, Celu's alpha == 0).
ActParams make_act(const char* op, const std::string& name, std::optional<float> a, std::optional<float> b);
// The same checks for an Act given as the enum.
ActParams make_act(const char* op, Act act, std::optional<float> a, std::optional<float> b);

// Throws unless a fused epilogue applies `p` (act.h: PYINFER_EPILOGUE_ACTIVATIONS).
void check_epilogue_act(const char* op, const ActParams& p);
bool act_fuses(Act act);

// "none, relu, relu6, ...": the names make_act accepts, for messages and docstrings.
const std::string& act_kernel_names();

}  // namespace pyinfer
