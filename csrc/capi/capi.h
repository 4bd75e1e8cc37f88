// The C ABI table (pyinfer_capi.h) as C++ sees it: module.cpp exports it as _kernels._C_API.
#pragma once
#include "capi/pyinfer_capi.h"

namespace pyinfer {
const PyinferCapi* capi_table();
}  // namespace pyinfer
