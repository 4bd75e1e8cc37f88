// A kernel prepared once, run many times: the boundary between the C++ kernels and their two
// callers, pyinfer.kernels (pybind11, bindings/prepared.cpp) and the compiled plans (the Cython
// loop in pyinfer/_runtime.pyx, through the C ABI of capi/pyinfer_capi.h).
//
// Each kernel family has prepare_<op>(params, shapes, constant weights) functions. A prepare
// checks every shape and parameter (std::invalid_argument naming the op otherwise), chooses
// the algorithm (conv: depthwise, direct, Winograd, im2col + GEMM ...), packs constant weights
// in the layout that algorithm reads, and records what run() will be handed: one TensorSpec
// per input and per output. run() then neither checks nor chooses: it trusts that every
// pointer addresses a C-contiguous buffer of exactly its spec (the callers check that once:
// bind::call for arrays from Python, the plan compiler for the plan's slots).
//
// Like XNNPACK's create / run and MLAS's MlasConvPrepare / MlasConv: the same object serves
// both callers, so there is one place that checks, one that chooses and one that computes.
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace pyinfer {

// Element types a kernel reads or writes (values as ONNX's TensorProto.DataType).
enum class DType : int32_t {
  Float32 = 1, UInt8 = 2, Int8 = 3, UInt16 = 4, Int16 = 5, Int32 = 6, Int64 = 7, Bool = 9, Float16 = 10,
  Float64 = 11
};
int64_t dtype_size(DType t);
const char* dtype_name(DType t);  // numpy's name: "float32", "int64", ...
// The DType numpy calls `name`; throws std::invalid_argument naming `what` for any other.
DType dtype_from_name(const std::string& name, const char* what);

struct TensorSpec {
  std::string name;             // as the kernel API calls it: "x", "w", "bias", "residual"
  std::vector<int64_t> shape;   // exact; run() gets a C-contiguous buffer of this shape
  DType dtype = DType::Float32;
  // Inputs: false for an optional input the kernel does not read (absent, or a weight it
  // holds packed): its pointer may be null. Outputs: false for an output the caller may skip
  // (null pointer: not computed); true ones are always written.
  bool required = true;
  // Inputs: true for a control input, an integer tensor whose values (a shape, bounds, a count)
  // decide the output shapes; the kernel reads and checks them on every run, and a plan serving
  // other values asks reshape() with them (PreparedKernel::reshape's `values`).
  bool control = false;
  // Outputs: >= 0 for a counted output, whose dim `counted_dim` the data decides (NonZero's
  // count, NonMaxSuppression's selected boxes): its shape is the bound; run() writes the size it
  // found, an int64, to output `count_output` (shape [1]) and the values compactly, as a tensor
  // of that size (the first elements of the buffer). A dynamic plan reads the size after the run.
  int count_output = -1;
  int counted_dim = -1;
  int64_t elements() const;
};

using Shapes = std::vector<std::vector<int64_t>>;

class PreparedKernel {
 public:
  virtual ~PreparedKernel() = default;
  PreparedKernel(const PreparedKernel&) = delete;
  PreparedKernel& operator=(const PreparedKernel&) = delete;

  // inputs[i] / outputs[j]: one pointer per spec (null where the spec allows). No GIL is
  // needed; the prepared object is immutable, so concurrent runs may share it.
  virtual void run(const void* const* inputs, void* const* outputs, int num_threads) const = 0;

  const std::string& op() const { return op_; }
  // What prepare chose, for people and tests: "winograd", "direct_channels", "packed_b", ...
  const std::string& algorithm() const { return algorithm_; }
  const std::vector<TensorSpec>& inputs() const { return inputs_; }
  const std::vector<TensorSpec>& outputs() const { return outputs_; }
  // Scratch a run allocates on top of its outputs (per call, all threads together), as
  // prepare sized it: what a memory plan must leave room for.
  int64_t workspace_bytes() const { return workspace_bytes_; }

  // The same kernel (parameters, packed weights) prepared for other input shapes, one per
  // input spec (XNNPACK's reshape): how a plan serves a new sequence length or batch size
  // without going back to Python. Checks as prepare does (std::invalid_argument). Throws
  // std::logic_error for a kernel that cannot (can_reshape() false).
  // A kernel with control inputs also needs their values (one vector per input spec, the
  // control inputs' values, empty for the others): Expand's target shape, Slice's bounds, the
  // limits of Range. Without them, such a kernel refuses (std::invalid_argument).
  virtual std::shared_ptr<PreparedKernel> reshape(const std::vector<std::vector<int64_t>>& input_shapes,
                                                  const std::vector<std::vector<int64_t>>& values = {}) const;
  virtual bool can_reshape() const { return static_cast<bool>(remake_); }
  // Whether an input's values decide the output shapes (TensorSpec::control).
  bool has_control_inputs() const;

 protected:
  explicit PreparedKernel(std::string op) : op_(std::move(op)) {}

  std::string op_, algorithm_;
  std::vector<TensorSpec> inputs_, outputs_;
  int64_t workspace_bytes_ = 0;
  // What reshape() calls: the prepare this kernel came from, its parameters captured; given the
  // input shapes and the control inputs' values.
  std::function<std::shared_ptr<PreparedKernel>(const std::vector<std::vector<int64_t>>&,
                                                const std::vector<std::vector<int64_t>>&)> remake_;

  friend class KernelBuilder;
};

// Non-const: pybind11 holds it as the Python object's holder; run() is const.
using PreparedPtr = std::shared_ptr<PreparedKernel>;

// A kernel whose run() is a callable (most prepares: the state they computed, captured):
//   return KernelBuilder("softmax").input("x", shape).output("y", shape)
//       .run([=](const void* const* in, void* const* out, int threads) { ... });
class KernelBuilder {
 public:
  explicit KernelBuilder(std::string op) : op_(std::move(op)) {}
  KernelBuilder& input(std::string name, std::vector<int64_t> shape, DType t = DType::Float32);
  // An optional input this kernel does not read (absent, or held packed).
  KernelBuilder& unused_input(std::string name, std::vector<int64_t> shape = {}, DType t = DType::Float32);
  // An integer input whose values decide the output shapes (TensorSpec::control).
  KernelBuilder& control_input(std::string name, std::vector<int64_t> shape, DType t = DType::Int64);
  KernelBuilder& output(std::string name, std::vector<int64_t> shape, DType t = DType::Float32,
                        bool required = true);
  // Output `output`'s dim `dim` is counted by output `count_output` (TensorSpec::count_output).
  KernelBuilder& counted(int output, int dim, int count_output);
  KernelBuilder& algorithm(std::string name);
  KernelBuilder& workspace(int64_t bytes);
  // How to prepare the same kernel for other input shapes (one per input spec): the prepare
  // call with the same parameters (PreparedKernel::reshape).
  template <class Remake>
  KernelBuilder& remake(Remake fn) {
    remake_ = [fn = std::move(fn)](const Shapes& shapes, const Shapes&) { return fn(shapes); };
    return *this;
  }
  // The same for a kernel with control inputs: fn(input shapes, values), values holding each
  // control input's values (checked to be there before fn is called).
  template <class Remake>
  KernelBuilder& remake_with_values(Remake fn) {
    remake_ = std::move(fn);
    return *this;
  }

  template <class Run>
  PreparedPtr run(Run fn) {
    auto k = std::make_shared<Callable<Run>>(op_, std::move(fn));
    fill(*k);
    return k;
  }

 private:
  template <class Run>
  struct Callable final : PreparedKernel {
    Callable(std::string op, Run fn) : PreparedKernel(std::move(op)), fn_(std::move(fn)) {}
    void run(const void* const* in, void* const* out, int num_threads) const override { fn_(in, out, num_threads); }
    Run fn_;
  };
  void fill(PreparedKernel& k);

  std::string op_, algorithm_;
  std::vector<TensorSpec> inputs_, outputs_;
  int64_t workspace_ = 0;
  std::function<std::shared_ptr<PreparedKernel>(const Shapes&, const Shapes&)> remake_;
};

// Typed views of run()'s pointer arrays.
inline const float* f32_in(const void* const* in, int i) { return static_cast<const float*>(in[i]); }
inline float* f32_out(void* const* out, int i) { return static_cast<float*>(out[i]); }

}  // namespace pyinfer
