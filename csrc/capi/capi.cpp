// The C ABI table of pyinfer_capi.h: run a prepared kernel (common/prepared.h) for the
// compiled-plan runtime (pyinfer/_runtime.pyx), catching every C++ exception.
#include "capi/capi.h"

#include <cstring>
#include <exception>

#include "common/prepared.h"

namespace pyinfer {
namespace {

const PreparedKernel* kernel_of(const pyinfer_kernel* k) { return reinterpret_cast<const PreparedKernel*>(k); }

void set_error(char* err, size_t errlen, const char* msg) {
  if (!err || errlen == 0) return;
  std::strncpy(err, msg, errlen - 1);
  err[errlen - 1] = '\0';
}

void arity(const pyinfer_kernel* k, int* num_inputs, int* num_outputs) {
  *num_inputs = static_cast<int>(kernel_of(k)->inputs().size());
  *num_outputs = static_cast<int>(kernel_of(k)->outputs().size());
}

int run(const pyinfer_kernel* k, const void* const* inputs, void* const* outputs, int num_threads, char* err,
        size_t errlen) {
  try {
    kernel_of(k)->run(inputs, outputs, num_threads);
    return 0;
  } catch (const std::exception& e) {  // allocation failures: nothing else throws after prepare
    set_error(err, errlen, e.what());
  } catch (...) {
    set_error(err, errlen, "unknown C++ exception");
  }
  return -1;
}

}  // namespace

const PyinferCapi* capi_table() {
  static const PyinferCapi table = {PYINFER_CAPI_VERSION, arity, run};
  return &table;
}

}  // namespace pyinfer
