// Compiled once per tier like every *_isa.cpp; lets the tests check that dispatch really
// reaches the copy built for the active tier (and that its vector width is right).
#include "common/isa_probe.h"
#include "common/simd.h"

namespace pyinfer {
namespace PYINFER_ISA_NS {
#define PYINFER_STR2(x) #x
#define PYINFER_STR(x) PYINFER_STR2(x)
static const char* probe_name() { return PYINFER_STR(PYINFER_ISA_NS); }
static int probe_width() { return VecF::N; }
extern const IsaProbe isa_probe_table = {probe_name, probe_width};
}  // namespace PYINFER_ISA_NS
}  // namespace pyinfer
