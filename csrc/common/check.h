// Argument checks for kernel entry points. A failed check throws std::invalid_argument,
// which the bindings translate into pyinfer.KernelArgumentError (a pyinfer.Error).
// Every kernel validates the shapes and parameters it is given before touching memory.
#pragma once
// <iostream> for its std::ios_base::Init: where libstdc++ is linked statically (manylinux-style
// toolchains, some build environments), nothing else initializes the iostream locale, and
// formatting a number into the message printed nothing (GCC 12) or crashed (GCC 13).
#include <iostream>  // NOLINT: included for its initialization, not for std::cout
#include <sstream>
#include <stdexcept>

#define PYINFER_CHECK(cond, msg)                                  \
  do {                                                            \
    if (!(cond)) {                                                \
      std::ostringstream pyinfer_check_os_;                       \
      pyinfer_check_os_ << msg;                                   \
      throw std::invalid_argument(pyinfer_check_os_.str());       \
    }                                                             \
  } while (0)
