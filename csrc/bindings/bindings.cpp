#include "bindings/bindings.h"

#include <algorithm>
#include <string>
#include <tuple>
#include <vector>

namespace pyinfer {
namespace bind {
namespace {

struct Registered {
  int rank;
  std::string name;
  BindFunction fn;
};

std::vector<Registered>& registered() {
  static std::vector<Registered> list;  // filled while the module's objects are initialised
  return list;
}

}  // namespace

int register_bindings(const char* name, int rank, BindFunction fn) {
  registered().push_back({rank, name, fn});
  return static_cast<int>(registered().size());
}

void run_bindings(pybind11::module_& m) {
  auto list = registered();
  std::sort(list.begin(), list.end(),
            [](const Registered& a, const Registered& b) { return std::tie(a.rank, a.name) < std::tie(b.rank, b.name); });
  for (const Registered& r : list) r.fn(m);
}

}  // namespace bind
}  // namespace pyinfer
