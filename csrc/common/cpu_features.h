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
