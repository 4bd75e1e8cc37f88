#include "bindings/array.h"

#include <stdexcept>

#include "common/check.h"

namespace pyinfer {
namespace bind {

std::vector<int64_t> shape_of(const py::array& a) {
  std::vector<int64_t> s(a.ndim());
  for (py::ssize_t i = 0; i < a.ndim(); ++i) s[i] = a.shape(i);
  return s;
}

FloatArray float_array(const py::handle& obj, const char* what, int min_rank, int max_rank) {
  PYINFER_CHECK(py::isinstance<py::array>(obj),
                what << ": expected a numpy.ndarray, got " << Py_TYPE(obj.ptr())->tp_name);
  py::array a = py::reinterpret_borrow<py::array>(obj);
  PYINFER_CHECK(is_float32(a),
                what << ": expected dtype float32, got " << std::string(py::str(a.dtype())));
  PYINFER_CHECK(a.ndim() >= min_rank && a.ndim() <= max_rank,
                what << ": expected rank " << (min_rank == max_rank ? std::to_string(min_rank)
                                                  : std::to_string(min_rank) + ".." + std::to_string(max_rank))
                     << ", got rank " << a.ndim() << " with shape " << shape_str(shape_of(a)));
  return FloatArray::ensure(a);  // copies only when not C-contiguous / not aligned
}

FloatArray new_float_array(const std::vector<int64_t>& shape) {
  std::vector<py::ssize_t> s(shape.begin(), shape.end());
  for (auto d : shape) PYINFER_CHECK(d >= 0, "negative output dimension in " << shape_str(shape));
  return FloatArray(s);
}

std::vector<int64_t> int_list(const py::handle& obj, const char* what, size_t count) {
  std::vector<int64_t> out;
  if (py::isinstance<py::int_>(obj)) {
    out.assign(count, obj.cast<int64_t>());
    return out;
  }
  PYINFER_CHECK(py::isinstance<py::sequence>(obj) && !py::isinstance<py::str>(obj),
                what << ": expected an int or a sequence of " << count << " ints");
  for (auto item : obj) out.push_back(item.cast<int64_t>());
  PYINFER_CHECK(out.size() == count, what << ": expected " << count << " values, got " << out.size());
  return out;
}

}  // namespace bind
}  // namespace pyinfer
