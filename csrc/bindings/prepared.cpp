#include "bindings/prepared.h"

#include <pybind11/stl.h>

#include <string>

#include "bindings/array.h"
#include "bindings/bindings.h"
#include "capi/pyinfer_capi.h"
#include "common/check.h"

namespace pyinfer {
namespace bind {
namespace {

// The numpy dtype of t, made once (a call checks every input against it).
const py::dtype& numpy_dtype(DType t) {
  static const py::dtype f32("float32"), u8("uint8"), i32("int32"), i64("int64"), b("bool"), i8("int8"),
      u16("uint16"), i16("int16"), f16("float16"), f64("float64");
  switch (t) {
    case DType::Float32: return f32;
    case DType::UInt8: return u8;
    case DType::Int32: return i32;
    case DType::Int64: return i64;
    case DType::Bool: return b;
    case DType::Int8: return i8;
    case DType::UInt16: return u16;
    case DType::Int16: return i16;
    case DType::Float16: return f16;
    case DType::Float64: return f64;
  }
  return f32;
}

bool same_shape(const py::array& a, const std::vector<int64_t>& shape) {
  if (a.ndim() != static_cast<py::ssize_t>(shape.size())) return false;
  for (size_t i = 0; i < shape.size(); ++i)
    if (a.shape(i) != shape[i]) return false;
  return true;
}

// obj as a C-contiguous array of spec's dtype and shape (a copy only when its layout differs).
// Messages are built only on failure: this runs on every call of every kernel.
py::array checked_input(const PreparedKernel& k, const TensorSpec& spec, const py::handle& obj) {
  PYINFER_CHECK(py::isinstance<py::array>(obj),
                k.op() << ": " << spec.name << ": expected a numpy.ndarray, got " << Py_TYPE(obj.ptr())->tp_name);
  auto a = py::reinterpret_borrow<py::array>(obj);
  PYINFER_CHECK(py::detail::npy_api::get().PyArray_EquivTypes_(a.dtype().ptr(), numpy_dtype(spec.dtype).ptr()),
                k.op() << ": " << spec.name << ": expected dtype " << dtype_name(spec.dtype) << ", got "
                       << std::string(py::str(a.dtype())));
  PYINFER_CHECK(same_shape(a, spec.shape), k.op() << ": " << spec.name << " must have shape "
                                                  << shape_str(spec.shape) << ", got " << shape_str(shape_of(a)));
  if (a.flags() & py::array::c_style) return a;
  return py::array::ensure(a, py::array::c_style);
}

py::array checked_output(const PreparedKernel& k, const TensorSpec& spec, const py::object& obj) {
  const std::string what = k.op() + ": out";
  PYINFER_CHECK(py::isinstance<py::array>(obj), what << " must be a numpy.ndarray");
  auto a = py::reinterpret_borrow<py::array>(obj);
  PYINFER_CHECK(py::detail::npy_api::get().PyArray_EquivTypes_(a.dtype().ptr(), numpy_dtype(spec.dtype).ptr()),
                what << " must be " << dtype_name(spec.dtype) << ", got " << std::string(py::str(a.dtype())));
  PYINFER_CHECK(same_shape(a, spec.shape),
                what << " has shape " << shape_str(shape_of(a)) << ", the result has shape " << shape_str(spec.shape));
  PYINFER_CHECK(a.flags() & py::array::c_style, what << " must be C-contiguous");
  PYINFER_CHECK(a.writeable(), what << " is read-only");
  return a;
}

py::object spec_tuple(const TensorSpec& s) {
  return py::make_tuple(s.name, py::tuple(py::cast(s.shape)), dtype_name(s.dtype), s.required);
}

}  // namespace

py::object call(const PreparedKernel& k, const std::vector<py::handle>& inputs, int num_threads,
                const std::vector<py::object>& out, const std::vector<bool>& skip) {
  const auto& in_specs = k.inputs();
  const auto& out_specs = k.outputs();
  PYINFER_CHECK(inputs.size() == in_specs.size(),
                k.op() << ": expected " << in_specs.size() << " inputs, got " << inputs.size());
  std::vector<py::array> keep;  // the arrays the pointers point into, alive until run() returns
  std::vector<const void*> in_ptrs(in_specs.size(), nullptr);
  for (size_t i = 0; i < in_specs.size(); ++i) {
    const TensorSpec& spec = in_specs[i];
    if (!spec.required) continue;  // not read: absent, or held packed
    PYINFER_CHECK(!inputs[i].is_none(), k.op() << ": input " << spec.name << " is required");
    keep.push_back(checked_input(k, spec, inputs[i]));
    in_ptrs[i] = keep.back().data();
  }
  std::vector<py::object> outputs(out_specs.size(), py::none());
  std::vector<void*> out_ptrs(out_specs.size(), nullptr);
  for (size_t j = 0; j < out_specs.size(); ++j) {
    const TensorSpec& spec = out_specs[j];
    if (!spec.required && j < skip.size() && skip[j]) continue;
    if (j < out.size() && !out[j].is_none()) {
      outputs[j] = checked_output(k, spec, out[j]);
    } else {
      for (int64_t d : spec.shape) PYINFER_CHECK(d >= 0, k.op() << ": negative output dimension");
      outputs[j] = py::array(numpy_dtype(spec.dtype), std::vector<py::ssize_t>(spec.shape.begin(), spec.shape.end()));
    }
    out_ptrs[j] = outputs[j].cast<py::array>().mutable_data();
  }
  {
    py::gil_scoped_release nogil;
    k.run(in_ptrs.data(), out_ptrs.data(), num_threads);
  }
  if (outputs.size() == 1) return std::move(outputs[0]);
  py::tuple result(outputs.size());
  for (size_t j = 0; j < outputs.size(); ++j) result[j] = std::move(outputs[j]);
  return std::move(result);
}

PYINFER_BINDINGS(prepared_kernel, 0) {
  py::class_<PreparedKernel, PreparedPtr>(m, "PreparedKernel", R"doc(A kernel prepared once for fixed shapes.

Made by the prepare_* functions of pyinfer.kernels: they check every shape and parameter,
choose the algorithm, pack constant weights and size the workspace once. Calling it runs it
on arrays of exactly the prepared shapes (checked; the GIL is released while it computes):
  k = pyinfer.kernels.prepare_softmax((4, 10), axis=-1)
  y = k(x, num_threads=1)
The compiled plans of a session run the same objects.)doc")
      .def(
          "__call__",
          [](const PreparedKernel& k, py::args args, int num_threads) {
            std::vector<py::handle> inputs(args.begin(), args.end());
            return call(k, inputs, num_threads);
          },
          py::arg("num_threads") = 0,
          "k(*inputs, num_threads=0): run on one array per input (None for an unused one); returns the "
          "output, or a tuple of outputs.")
      .def_property_readonly("op", &PreparedKernel::op)
      .def_property_readonly("algorithm", &PreparedKernel::algorithm,
                             "What prepare chose (conv: 'winograd', 'direct_channels', ...).")
      .def_property_readonly("workspace_bytes", &PreparedKernel::workspace_bytes,
                             "Scratch one run allocates besides its outputs.")
      .def_property_readonly(
          "inputs",
          [](const PreparedKernel& k) {
            py::list l;
            for (const auto& s : k.inputs()) l.append(spec_tuple(s));
            return l;
          },
          "[(name, shape, dtype, required)] per input; required False: not read (absent or held packed).")
      .def_property_readonly(
          "outputs",
          [](const PreparedKernel& k) {
            py::list l;
            for (const auto& s : k.outputs()) l.append(spec_tuple(s));
            return l;
          },
          "[(name, shape, dtype, required)] per output; required False: may be skipped.")
      .def_property_readonly("can_reshape", &PreparedKernel::can_reshape,
                             "Whether reshape() can prepare this kernel for other input shapes.")
      .def_property_readonly(
          "control_inputs",
          [](const PreparedKernel& k) {
            py::list l;
            for (const auto& s : k.inputs())
              if (s.control) l.append(s.name);
            return l;
          },
          "Names of the inputs whose values decide the output shapes (reshape() needs them).")
      .def_property_readonly(
          "counted_outputs",
          [](const PreparedKernel& k) {
            py::dict d;
            for (const auto& s : k.outputs())
              if (s.count_output >= 0)
                d[py::str(s.name)] = py::make_tuple(s.counted_dim, k.outputs()[s.count_output].name);
            return d;
          },
          "{output: (dim, count output)} for the outputs whose dim the data decides: the spec's size\n"
          "there is a bound; a run writes the size it found to the count output and the values compactly.")
      .def(
          "reshape",
          [](const PreparedKernel& k, const Shapes& shapes, const Shapes& values) { return k.reshape(shapes, values); },
          py::arg("input_shapes"), py::arg("values") = Shapes{},
          "reshape(input_shapes, values=[]) -> PreparedKernel: the same kernel (parameters, packed weights)\n"
          "prepared for other input shapes, one per input (the unused ones' shapes are ignored); a kernel with\n"
          "control inputs also takes their values, one list per input (empty for the others).")
      .def_property_readonly(
          "_capsule",
          [](const PreparedKernel& k) {
            return py::capsule(static_cast<const void*>(&k), PYINFER_PREPARED_CAPSULE);
          },
          "The kernel for pyinfer._runtime (valid while this object lives).")
      .def("__repr__", [](const PreparedKernel& k) {
        std::string s = "PreparedKernel(op='" + k.op() + "'";
        if (!k.algorithm().empty()) s += ", algorithm='" + k.algorithm() + "'";
        s += ", inputs=[";
        for (size_t i = 0; i < k.inputs().size(); ++i)
          s += (i ? ", " : "") + k.inputs()[i].name + (k.inputs()[i].required ? shape_str(k.inputs()[i].shape) : "-");
        s += "], outputs=[";
        for (size_t i = 0; i < k.outputs().size(); ++i)
          s += (i ? ", " : "") + k.outputs()[i].name + shape_str(k.outputs()[i].shape);
        return s + "])";
      });
}

}  // namespace bind
}  // namespace pyinfer
