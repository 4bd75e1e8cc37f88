// Memory helpers for pyinfer's Python side (common/weight_memory.h): buffers for weights, and
// returning the malloc heap's free pages once a session is built.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cstdint>

#include "bindings/bindings.h"
#include "common/check.h"
#include "common/weight_memory.h"

namespace py = pybind11;

namespace pyinfer {

PYINFER_BINDINGS(memory, 10) {
  m.def(
      "_weight_buffer",
      [](int64_t nbytes) {
        PYINFER_CHECK(nbytes >= 0, "_weight_buffer: negative size");
        float* p = alloc_weights(static_cast<size_t>(nbytes));
        py::capsule owner(p, [](void* q) { free_weights(static_cast<float*>(q)); });
        return py::array(py::dtype("uint8"), {static_cast<py::ssize_t>(nbytes)}, {1}, p, owner);
      },
      py::arg("nbytes"),
      "An uninitialized uint8 array of nbytes held like packed weights: 1 MiB or more is mapped from\n"
      "the OS (huge pages where allowed) and returned to it when the array goes.");
  m.def(
      "_trim_heap",
      [] {
        py::gil_scoped_release nogil;
        trim_heap();
      },
      "Return the malloc heap's free pages to the OS (glibc); does nothing elsewhere.");
}

}  // namespace pyinfer
