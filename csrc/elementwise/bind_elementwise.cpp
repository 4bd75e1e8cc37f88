#include "bindings/bindings.h"

namespace pyinfer {
void bind_elementwise(pybind11::module_& m) {}
}  // namespace pyinfer
