#include "activation/act_names.h"

#include <cctype>
#include <cmath>
#include <limits>
#include <vector>

#include "common/check.h"

namespace pyinfer {
namespace {

#define PYINFER_ACT_NAME(name) #name,
const char* const kNames[kActCount] = {PYINFER_ACTIVATIONS(PYINFER_ACT_NAME)};
#undef PYINFER_ACT_NAME

std::string snake_case(const char* camel) {
  std::string out;
  for (const char* c = camel; *c; ++c) {
    if (std::isupper(static_cast<unsigned char>(*c)) && c != camel) out += '_';
    out += static_cast<char>(std::tolower(static_cast<unsigned char>(*c)));
  }
  return out;
}

const std::vector<std::string>& kernel_names() {
  static const std::vector<std::string> names = [] {
    std::vector<std::string> v;
    for (const char* n : kNames) v.push_back(snake_case(n));
    return v;
  }();
  return names;
}

const float kInf = std::numeric_limits<float>::infinity();

}  // namespace

const char* act_name(Act act) { return kNames[static_cast<int>(act)]; }

const char* act_kernel_name(Act act) { return kernel_names()[static_cast<int>(act)].c_str(); }

int act_param_count(Act act) {
  switch (act) {
    case Act::LeakyRelu:
    case Act::Elu:
    case Act::Celu:
    case Act::ThresholdedRelu:
      return 1;
    case Act::Clip:
    case Act::HardSigmoid:
    case Act::Selu:
    case Act::Affine:
    case Act::ScaledTanh:
      return 2;
    default:
      return 0;
  }
}

ActParams act_defaults(Act act) {
  switch (act) {
    case Act::LeakyRelu: return {act, 0.01f, 0.f};
    case Act::Elu:
    case Act::Celu:
    case Act::ThresholdedRelu: return {act, 1.f, 0.f};
    case Act::Clip: return {act, -kInf, kInf};
    case Act::HardSigmoid: return {act, 0.2f, 0.5f};
    case Act::Selu: return {act, 1.67326319217681884765625f, 1.05070102214813232421875f};
    case Act::Affine: return {act, 1.f, 0.f};
    case Act::ScaledTanh: return {act, 1.f, 1.f};
    default: return {act, 0.f, 0.f};
  }
}

const std::string& act_kernel_names() {
  static const std::string joined = [] {
    std::string s;
    for (const auto& n : kernel_names()) s += (s.empty() ? "" : ", ") + n + (n == "relu" ? ", relu6" : "");
    return s;
  }();
  return joined;
}

ActParams make_act(const char* op, Act act, std::optional<float> a, std::optional<float> b) {
  const int count = act_param_count(act);
  PYINFER_CHECK(!a || count >= 1,
                op << ": activation_alpha is not a parameter of activation '" << act_kernel_name(act) << "'");
  PYINFER_CHECK(!b || count >= 2,
                op << ": activation_beta is not a parameter of activation '" << act_kernel_name(act) << "'");
  ActParams p = act_defaults(act);
  if (a) p.a = *a;
  if (b) p.b = *b;
  if (act == Act::Clip) {
    PYINFER_CHECK(!std::isnan(p.a) && !std::isnan(p.b), op << ": clip bounds must not be NaN");
  } else {
    PYINFER_CHECK(std::isfinite(p.a) && std::isfinite(p.b),
                  op << ": the parameters of activation '" << act_kernel_name(act) << "' must be finite, got "
                     << p.a << ", " << p.b);
  }
  PYINFER_CHECK(act != Act::Celu || p.a != 0.f, op << ": celu's alpha must be non-zero");
  return p;
}

ActParams make_act(const char* op, const std::string& name, std::optional<float> a, std::optional<float> b) {
  if (name == "relu6") {
    PYINFER_CHECK(!a && !b, op << ": activation_alpha / activation_beta are not parameters of activation 'relu6'");
    return {Act::Clip, 0.f, 6.f};
  }
  const auto& names = kernel_names();
  for (int i = 0; i < kActCount; ++i)
    if (names[i] == name) return make_act(op, static_cast<Act>(i), a, b);
  PYINFER_CHECK(false, op << ": unknown activation '" << name << "' (expected one of " << act_kernel_names() << ")");
  return {};
}

bool act_fuses(Act act) {
#define PYINFER_ACT_FUSES(name) case Act::name:
  switch (act) {
    case Act::None:
    PYINFER_EPILOGUE_ACTIVATIONS(PYINFER_ACT_FUSES)
      return true;
    default:
      return false;
  }
#undef PYINFER_ACT_FUSES
}

void check_epilogue_act(const char* op, const ActParams& p) {
  PYINFER_CHECK(act_fuses(p.kind), op << ": activation '" << act_kernel_name(p.kind)
                                      << "' cannot be fused into the kernel's epilogue");
}

}  // namespace pyinfer
