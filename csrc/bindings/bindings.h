// One bind_<family>() per kernel family, each in csrc/<family>/bind_<family>.cpp.
// module.cpp calls them all; add a line there when a family is added.
#pragma once
#include <pybind11/pybind11.h>

namespace pyinfer {
void bind_gemm(pybind11::module_& m);
void bind_conv(pybind11::module_& m);
void bind_pool(pybind11::module_& m);
void bind_activation(pybind11::module_& m);
void bind_elementwise(pybind11::module_& m);
void bind_rnn(pybind11::module_& m);
void bind_norm(pybind11::module_& m);
void bind_reduce(pybind11::module_& m);
}  // namespace pyinfer
