// How the kernel families bind themselves to pyinfer._kernels, each from its own file:
//
//   PYINFER_BINDINGS(gemm, 10) {
//     m.def("prepare_gemm", ...);
//   }
//
// module.cpp runs every registered function (lower rank first, then by name) when the module
// is imported, so adding a kernel or a whole family touches no other file. Rank 0 is for the
// types the others' signatures name (PreparedKernel, Activation).
#pragma once
#include <pybind11/pybind11.h>

namespace pyinfer {
namespace bind {

using BindFunction = void (*)(pybind11::module_&);
int register_bindings(const char* name, int rank, BindFunction fn);
void run_bindings(pybind11::module_& m);

}  // namespace bind
}  // namespace pyinfer

#define PYINFER_BINDINGS(name, rank)                                                            \
  static void pyinfer_bindings_##name(pybind11::module_& m);                                    \
  [[maybe_unused]] static const int pyinfer_registered_##name =                                 \
      ::pyinfer::bind::register_bindings(#name, rank, pyinfer_bindings_##name);                 \
  static void pyinfer_bindings_##name(pybind11::module_& m)
