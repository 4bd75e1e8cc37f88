// Argument checks for kernel entry points. A failed check throws std::invalid_argument,
// which the bindings translate into pyinfer.KernelArgumentError (a pyinfer.Error).
// Every kernel validates the shapes and parameters it is given before touching memory.
#pragma once
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
