#include "bindings/bindings.h"

namespace pyinfer {
void bind_rnn(pybind11::module_& m) {}
}  // namespace pyinfer
