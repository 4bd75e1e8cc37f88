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

int spec(const pyinfer_kernel* k, int is_output, int j, int64_t* dims, int cap, int* dtype, int* required) {
  const auto& specs = is_output ? kernel_of(k)->outputs() : kernel_of(k)->inputs();
  if (j < 0 || j >= static_cast<int>(specs.size())) return -1;
  const TensorSpec& s = specs[j];
  if (static_cast<int>(s.shape.size()) > cap) return -1;
  for (size_t d = 0; d < s.shape.size(); ++d) dims[d] = s.shape[d];
  *dtype = static_cast<int>(s.dtype);
  *required = s.required ? 1 : 0;
  return static_cast<int>(s.shape.size());
}

int can_reshape(const pyinfer_kernel* k) { return kernel_of(k)->can_reshape() ? 1 : 0; }

unsigned controls(const pyinfer_kernel* k) {
  unsigned bits = 0;
  const auto& specs = kernel_of(k)->inputs();
  for (size_t i = 0; i < specs.size() && i < 32; ++i)
    if (specs[i].control) bits |= 1u << i;
  return bits;
}

int counted(const pyinfer_kernel* k, int j, int* dim, int* count_output) {
  const auto& specs = kernel_of(k)->outputs();
  if (j < 0 || j >= static_cast<int>(specs.size()) || specs[j].count_output < 0) return 0;
  *dim = specs[j].counted_dim;
  *count_output = specs[j].count_output;
  return 1;
}

// A reference is a heap-allocated shared_ptr: the kernel lives while a plan holds it.
using Ref = std::shared_ptr<PreparedKernel>;

pyinfer_kernel_ref* reshape(const pyinfer_kernel* k, const int64_t* const* shapes, const int* ranks,
                            const int64_t* const* values, const int64_t* counts, char* err, size_t errlen) {
  try {
    const PreparedKernel* pk = kernel_of(k);
    Shapes s(pk->inputs().size()), v;
    for (size_t i = 0; i < s.size(); ++i) s[i].assign(shapes[i], shapes[i] + ranks[i]);
    if (values != nullptr && counts != nullptr) {
      v.resize(s.size());
      for (size_t i = 0; i < v.size(); ++i)
        if (values[i] != nullptr) v[i].assign(values[i], values[i] + counts[i]);
    }
    return reinterpret_cast<pyinfer_kernel_ref*>(new Ref(pk->reshape(s, v)));
  } catch (const std::exception& e) {
    set_error(err, errlen, e.what());
  } catch (...) {
    set_error(err, errlen, "unknown C++ exception");
  }
  return nullptr;
}

const pyinfer_kernel* ref_kernel(const pyinfer_kernel_ref* r) {
  return reinterpret_cast<const pyinfer_kernel*>(reinterpret_cast<const Ref*>(r)->get());
}

void release(pyinfer_kernel_ref* r) { delete reinterpret_cast<Ref*>(r); }

}  // namespace

const PyinferCapi* capi_table() {
  static const PyinferCapi table = {PYINFER_CAPI_VERSION, arity, run, spec, can_reshape, reshape, ref_kernel, release, controls,
                                     counted};
  return &table;
}

}  // namespace pyinfer
