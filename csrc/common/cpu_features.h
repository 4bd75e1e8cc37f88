// Run-time CPU feature detection and ISA tier selection.
//
// The tier is chosen once at import from cpuid + xgetbv (the OS must have enabled the
// AVX / AVX-512 register state, not only the CPU support it). PYINFER_ISA=scalar|avx2|avx512
// in the environment forces a lower tier; set_active_isa() changes it at run time so the
// tests can run every kernel under every tier the machine supports.
#pragma once
#include <string>
#include <vector>

namespace pyinfer {

enum class Isa : int { Scalar = 0, Avx2 = 1, Avx512 = 2 };

const char* isa_name(Isa isa);
// Best tier this CPU and OS support (and this build contains).
Isa best_supported_isa();
// Tiers usable here, lowest first.
std::vector<Isa> supported_isas();
// Tier the kernels use now.
Isa active_isa();
// Throws std::invalid_argument if the tier is not supported here.
void set_active_isa(Isa isa);
Isa parse_isa(const std::string& name);  // throws std::invalid_argument
int physical_core_count();

// Pick the table of the active tier. Tables of tiers this build lacks are never touched.
template <class T>
const T& select_isa(const T& scalar, const T& avx2, const T& avx512) {
  switch (active_isa()) {
    case Isa::Avx512: return avx512;
    case Isa::Avx2: return avx2;
    default: return scalar;
  }
}

}  // namespace pyinfer

// The dispatch pattern of every kernel family (see docs/ARCHITECTURE.md): a struct of function
// pointers, one const instance per tier defined in the family's *_isa.cpp, and an accessor.
// Inside namespace pyinfer, PYINFER_DECLARE_ISA_TABLE(Type, name) declares the per-tier
// instances; PYINFER_ACTIVE_ISA_TABLE(name) is the active tier's one. Builds without the x86
// tiers (aarch64) have the scalar instance only.
#if defined(PYINFER_HAVE_AVX512) && defined(PYINFER_HAVE_AVX2)
#define PYINFER_DECLARE_ISA_TABLE(Type, name)        \
  namespace isa_scalar { extern const Type name; }   \
  namespace isa_avx2 { extern const Type name; }     \
  namespace isa_avx512 { extern const Type name; }
#define PYINFER_ACTIVE_ISA_TABLE(name) \
  ::pyinfer::select_isa(::pyinfer::isa_scalar::name, ::pyinfer::isa_avx2::name, ::pyinfer::isa_avx512::name)
#else
#define PYINFER_DECLARE_ISA_TABLE(Type, name) namespace isa_scalar { extern const Type name; }
#define PYINFER_ACTIVE_ISA_TABLE(name) (::pyinfer::isa_scalar::name)
#endif
