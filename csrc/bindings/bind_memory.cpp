// Memory helpers for pyinfer's Python side (common/weight_memory.h): buffers for weights, and
// returning the malloc heap's free pages once a session is built.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cstdint>
#include <memory>
#include <vector>

#include "bindings/bindings.h"
#include "common/check.h"
#include "common/file_reads.h"
#include "common/weight_memory.h"

#if defined(__unix__) || defined(__APPLE__)
#include <unistd.h>
#endif

namespace py = pybind11;

namespace pyinfer {
namespace {

// The reads and the arrays they fill. Members go in reverse order: the reads (joining their
// thread) before the arrays they write.
struct PendingReads {
  py::list arrays;
  std::unique_ptr<BackgroundReads> reads;
};

}  // namespace

PYINFER_BINDINGS(memory, 10) {
  py::class_<PendingReads>(m, "_PendingReads")
      .def(
          "wait",
          [](PendingReads& self) {
            std::string error;
            {
              py::gil_scoped_release nogil;
              error = self.reads->wait();
            }
            if (!error.empty()) {
              PyErr_SetString(PyExc_OSError, error.c_str());
              throw py::error_already_set();
            }
          },
          "Block until every read is done; OSError saying why when one failed.");
  m.def(
      "_read_file_async",
      [](int fd, py::list arrays, std::vector<int64_t> offsets) -> py::object {
        if (!BackgroundReads::supported()) return py::none();
        PYINFER_CHECK(arrays.size() == offsets.size(), "_read_file_async: one offset per array");
        std::vector<BackgroundReads::Target> targets;
        py::list held;  // the very arrays written (not the caller's list, which may change)
        for (size_t i = 0; i < offsets.size(); ++i) {
          // An ndarray itself: a cast from anything else would be a temporary copy, freed while
          // the thread still writes it.
          PYINFER_CHECK(py::isinstance<py::array>(arrays[i]), "_read_file_async: arrays must be numpy arrays");
          auto a = py::reinterpret_borrow<py::array>(arrays[i]);
          PYINFER_CHECK(a.writeable() && (a.flags() & py::array::c_style) && a.itemsize() == 1,
                        "_read_file_async: arrays must be writable contiguous bytes");
          targets.push_back({static_cast<char*>(a.mutable_data()), static_cast<size_t>(a.size()), offsets[i]});
          held.append(a);
        }
#if defined(__unix__) || defined(__APPLE__)
        const int own = dup(fd);  // the caller may close its file at once
        PYINFER_CHECK(own >= 0, "_read_file_async: not an open file descriptor");
        auto pending = std::make_unique<PendingReads>();
        pending->arrays = held;
        pending->reads = std::make_unique<BackgroundReads>(own, std::move(targets));
        return py::cast(std::move(pending));
#else
        return py::none();
#endif
      },
      py::arg("fd"), py::arg("arrays"), py::arg("offsets"),
      "Start reading each uint8 array's bytes from file `fd` at its offset, on a thread of its own;\n"
      "returns a _PendingReads to wait() on before the arrays are read (None where unsupported).");

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
