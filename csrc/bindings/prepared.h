// pybind11 side of prepared kernels (common/prepared.h): the pyinfer.kernels.PreparedKernel
// class, and call(), which every functional kernel binding ends in.
#pragma once
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <vector>

#include "common/prepared.h"

namespace pyinfer {
namespace bind {

namespace py = pybind11;

// Runs k on Python objects, one per input spec: a numpy array of the spec's dtype and shape
// (copied to C order when it is not), or None where the spec is not required (and for an
// input held packed, whatever the caller passes is ignored: pass None). Outputs are new
// arrays, or the arrays in `out` (one per output spec, None for a new one; checked: dtype,
// shape, C-contiguous, writeable). Releases the GIL while the kernel runs. Returns the single
// output, or a tuple of them (None for an optional output nobody asked for: `skip`).
py::object call(const PreparedKernel& k, const std::vector<py::handle>& inputs, int num_threads,
                const std::vector<py::object>& out = {}, const std::vector<bool>& skip = {});

}  // namespace bind
}  // namespace pyinfer
