#include "bindings/bindings.h"

namespace pyinfer {
void bind_pool(pybind11::module_& m) {}
}  // namespace pyinfer
