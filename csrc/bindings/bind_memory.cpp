// pyinfer._kernels._trim_heap: what a session calls once it is built (common/weight_memory.h).
#include <pybind11/pybind11.h>

#include "bindings/bindings.h"
#include "common/weight_memory.h"

namespace pyinfer {

PYINFER_BINDINGS(memory, 10) {
  m.def(
      "_trim_heap",
      [] {
        pybind11::gil_scoped_release nogil;
        trim_heap();
      },
      "Return the malloc heap's free pages to the OS (glibc); does nothing elsewhere.");
}

}  // namespace pyinfer
