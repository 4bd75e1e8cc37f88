// The smallest instance of the dispatch pattern every kernel family follows (see
// PYINFER_DECLARE_ISA_TABLE in common/cpu_features.h): the tests use it to check that the
// active tier reaches the copy of the code compiled for it.
#pragma once
#include "common/cpu_features.h"

namespace pyinfer {

struct IsaProbe {
  const char* (*name)();
  int (*vector_width)();
};

PYINFER_DECLARE_ISA_TABLE(IsaProbe, isa_probe_table)

inline const IsaProbe& isa_probe() {
  return PYINFER_ACTIVE_ISA_TABLE(isa_probe_table);
}

}  // namespace pyinfer
