// The dispatch pattern every kernel family follows (see docs/ARCHITECTURE.md):
//  1. a struct of function pointers (the family's "table");
//  2. one const instance per tier, defined in the family's *_isa.cpp (compiled per tier);
//  3. a portable accessor that picks the active tier's instance with select_isa().
#pragma once
#include "common/cpu_features.h"

namespace pyinfer {

struct IsaProbe {
  const char* (*name)();
  int (*vector_width)();
};

namespace isa_scalar { extern const IsaProbe isa_probe_table; }
#ifdef PYINFER_HAVE_AVX2
namespace isa_avx2 { extern const IsaProbe isa_probe_table; }
#endif
#ifdef PYINFER_HAVE_AVX512
namespace isa_avx512 { extern const IsaProbe isa_probe_table; }
#endif

inline const IsaProbe& isa_probe() {
#if defined(PYINFER_HAVE_AVX512) && defined(PYINFER_HAVE_AVX2)
  return select_isa(isa_scalar::isa_probe_table, isa_avx2::isa_probe_table, isa_avx512::isa_probe_table);
#else
  return isa_scalar::isa_probe_table;
#endif
}

}  // namespace pyinfer
