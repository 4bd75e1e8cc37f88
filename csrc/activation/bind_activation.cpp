#include "bindings/bindings.h"

namespace pyinfer {
void bind_activation(pybind11::module_& m) {}
}  // namespace pyinfer
