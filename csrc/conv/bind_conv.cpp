#include "bindings/bindings.h"

namespace pyinfer {
void bind_conv(pybind11::module_& m) {}
}  // namespace pyinfer
