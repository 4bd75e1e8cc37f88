#include "common/prepared.h"

#include <stdexcept>

#include "common/check.h"

namespace pyinfer {

int64_t dtype_size(DType t) {
  switch (t) {
    case DType::Float32:
    case DType::Int32: return 4;
    case DType::Int64:
    case DType::Float64: return 8;
    case DType::UInt16:
    case DType::Int16:
    case DType::Float16: return 2;
    case DType::UInt8:
    case DType::Int8:
    case DType::Bool: return 1;
  }
  return 0;
}

const char* dtype_name(DType t) {
  switch (t) {
    case DType::Float32: return "float32";
    case DType::UInt8: return "uint8";
    case DType::Int32: return "int32";
    case DType::Int64: return "int64";
    case DType::Bool: return "bool";
    case DType::Int8: return "int8";
    case DType::UInt16: return "uint16";
    case DType::Int16: return "int16";
    case DType::Float16: return "float16";
    case DType::Float64: return "float64";
  }
  return "?";
}

DType dtype_from_name(const std::string& name, const char* what) {
  for (DType t : {DType::Float32, DType::UInt8, DType::Int8, DType::UInt16, DType::Int16, DType::Int32, DType::Int64,
                  DType::Bool, DType::Float16, DType::Float64})
    if (name == dtype_name(t)) return t;
  PYINFER_CHECK(false, what << ": unsupported dtype '" << name << "'");
  return DType::Float32;
}

int64_t TensorSpec::elements() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

KernelBuilder& KernelBuilder::input(std::string name, std::vector<int64_t> shape, DType t) {
  inputs_.push_back({std::move(name), std::move(shape), t, true});
  return *this;
}

KernelBuilder& KernelBuilder::unused_input(std::string name, std::vector<int64_t> shape, DType t) {
  inputs_.push_back({std::move(name), std::move(shape), t, false});
  return *this;
}

KernelBuilder& KernelBuilder::output(std::string name, std::vector<int64_t> shape, DType t, bool required) {
  outputs_.push_back({std::move(name), std::move(shape), t, required});
  return *this;
}

KernelBuilder& KernelBuilder::counted(int output, int dim, int count_output) {
  const int n = static_cast<int>(outputs_.size());
  PYINFER_CHECK(output >= 0 && output < n && count_output >= 0 && count_output < n && output != count_output,
                op_ << ": counted output " << output << " by " << count_output << " of " << n << " outputs");
  TensorSpec& out = outputs_[static_cast<size_t>(output)];
  const TensorSpec& count = outputs_[static_cast<size_t>(count_output)];
  PYINFER_CHECK(dim >= 0 && dim < static_cast<int>(out.shape.size()), op_ << ": counted dim " << dim);
  PYINFER_CHECK(count.dtype == DType::Int64 && count.shape == std::vector<int64_t>{1} && count.required,
                op_ << ": a count output is a required int64 [1]");
  out.count_output = count_output;
  out.counted_dim = dim;
  return *this;
}

KernelBuilder& KernelBuilder::algorithm(std::string name) {
  algorithm_ = std::move(name);
  return *this;
}

KernelBuilder& KernelBuilder::workspace(int64_t bytes) {
  workspace_ = bytes;
  return *this;
}

KernelBuilder& KernelBuilder::control_input(std::string name, std::vector<int64_t> shape, DType t) {
  TensorSpec spec{std::move(name), std::move(shape), t, true};
  spec.control = true;
  inputs_.push_back(std::move(spec));
  return *this;
}

bool PreparedKernel::has_control_inputs() const {
  for (const TensorSpec& s : inputs_)
    if (s.control) return true;
  return false;
}

std::shared_ptr<PreparedKernel> PreparedKernel::reshape(const Shapes& input_shapes, const Shapes& values) const {
  if (!remake_) throw std::logic_error(op_ + ": this kernel cannot be prepared for other shapes");
  PYINFER_CHECK(input_shapes.size() == inputs_.size(),
                op_ << ": reshape takes " << inputs_.size() << " input shapes, got " << input_shapes.size());
  if (!has_control_inputs()) return remake_(input_shapes, {});
  PYINFER_CHECK(values.size() == inputs_.size(),
                op_ << ": reshape needs the values of its control inputs (" << inputs_.size() << " vectors)");
  for (size_t i = 0; i < inputs_.size(); ++i) {
    if (!inputs_[i].control) continue;
    int64_t n = 1;
    for (int64_t d : input_shapes[i]) n *= d;
    PYINFER_CHECK(static_cast<int64_t>(values[i].size()) == n,
                  op_ << ": input " << inputs_[i].name << " of shape " << shape_str(input_shapes[i]) << " given "
                      << values[i].size() << " values");
  }
  return remake_(input_shapes, values);
}

void KernelBuilder::fill(PreparedKernel& k) {
  k.remake_ = std::move(remake_);
  k.algorithm_ = std::move(algorithm_);
  k.inputs_ = std::move(inputs_);
  k.outputs_ = std::move(outputs_);
  k.workspace_bytes_ = workspace_;
}

}  // namespace pyinfer
