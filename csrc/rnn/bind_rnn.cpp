// pyinfer.kernels.RnnWeights and lstm / gru / rnn: ONNX argument conventions on NumPy arrays.
// Every shape is checked here against X and hidden_size before rnn::run_rnn() sees a pointer.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <algorithm>
#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include "bindings/array.h"
#include "bindings/bindings.h"
#include "common/check.h"
#include "bindings/prepared.h"
#include "rnn/rnn.h"

namespace py = pybind11;

namespace pyinfer {
namespace {

using rnn::Cell;
using rnn::cell_label;

const float* optional_input(const py::handle& obj, bind::FloatArray& keep, const std::string& what,
                            const std::vector<int64_t>& expected);

// The Python handle of prepared weights (shared: runs keep it alive while the GIL is released).
struct PyRnnWeights {
  std::shared_ptr<const rnn::Weights> w;
  std::string isa;
};

// Checks W [D, G*H, I], R [D, G*H, H], B [D, 2*G*H] and prepares them. H comes from R; D and I
// from the call (direction, X) when given (>= 0), else from W.
std::shared_ptr<const rnn::Weights> prepare_weights(Cell cell, const std::string& f, const py::handle& W_obj,
                                                    const py::handle& R_obj, const py::handle& B_obj,
                                                    bool linear_before_reset, int num_threads,
                                                    int64_t call_D = -1, int64_t call_I = -1) {
  auto W = bind::float_array(W_obj, (f + ": W").c_str(), 3, 3);
  auto R = bind::float_array(R_obj, (f + ": R").c_str(), 3, 3);
  const int64_t G = rnn::gate_count(cell), H = R.shape(2);
  const int64_t D = call_D >= 0 ? call_D : W.shape(0), I = call_I >= 0 ? call_I : W.shape(2);
  PYINFER_CHECK(D == 1 || D == 2, f << ": W's first dimension (num_directions) must be 1 or 2, got shape "
                                      << bind::shape_str(bind::shape_of(W)));
  PYINFER_CHECK(H > 0, f << ": hidden size (last dimension of R) must be positive");
  const std::vector<int64_t> w_shape{D, G * H, I}, r_shape{D, G * H, H};
  PYINFER_CHECK(bind::shape_of(R) == r_shape,
                f << ": R must have shape [num_directions, " << G << "*hidden_size, hidden_size] = "
                  << bind::shape_str(r_shape) << ", got " << bind::shape_str(bind::shape_of(R)));
  PYINFER_CHECK(bind::shape_of(W) == w_shape,
                f << ": W must have shape [num_directions, " << G << "*hidden_size, input_size] = "
                  << bind::shape_str(w_shape) << ", got " << bind::shape_str(bind::shape_of(W)));
  bind::FloatArray b_keep;
  const float* B = optional_input(B_obj, b_keep, f + ": B", {D, 2 * G * H});
  py::gil_scoped_release nogil;
  return std::make_shared<const rnn::Weights>(cell, D, H, I, W.data(), R.data(), B,
                                              cell == Cell::Gru && linear_before_reset, num_threads);
}

struct Args {
  py::handle X, W, R, B, sequence_lens, initial_h, initial_c, P;
  std::string direction;
  int layout;
  py::object hidden_size, activations, activation_alpha, activation_beta, clip;
  bool input_forget, linear_before_reset;
  bool need_y, need_y_h, need_y_c;
  int num_threads;
};

std::vector<std::string> string_list(const py::object& obj, const char* what) {
  std::vector<std::string> out;
  if (obj.is_none()) return out;
  PYINFER_CHECK(py::isinstance<py::sequence>(obj) && !py::isinstance<py::str>(obj),
                what << " must be a list of strings");
  for (auto item : obj) {
    PYINFER_CHECK(py::isinstance<py::str>(item) || py::isinstance<py::bytes>(item),
                  what << " must be a list of strings");
    out.push_back(item.cast<std::string>());
  }
  return out;
}

std::vector<float> float_list(const py::object& obj, const char* what) {
  std::vector<float> out;
  if (obj.is_none()) return out;
  py::array arr = py::array::ensure(obj);
  PYINFER_CHECK(arr && arr.ndim() <= 1, what << " must be a list of floats");
  PYINFER_CHECK(arr.dtype().kind() == 'f' || arr.dtype().kind() == 'i' || arr.size() == 0,
                what << " must be a list of floats");
  auto f = py::array_t<float, py::array::c_style | py::array::forcecast>::ensure(arr);
  out.assign(f.data(), f.data() + f.size());
  return out;
}

// Checks an optional float input against its expected shape; null if absent.
const float* optional_input(const py::handle& obj, bind::FloatArray& keep, const std::string& what,
                            const std::vector<int64_t>& expected) {
  if (obj.is_none()) return nullptr;
  keep = bind::float_array(obj, what.c_str(), static_cast<int>(expected.size()),
                           static_cast<int>(expected.size()));
  PYINFER_CHECK(bind::shape_of(keep) == expected, what << " must have shape " << bind::shape_str(expected)
                                                       << ", got " << bind::shape_str(bind::shape_of(keep)));
  return keep.data();
}

py::tuple run_family(Cell cell, const char* fam, const Args& a) {
  const std::string f(fam);
  auto X = bind::float_array(a.X, (f + ": X").c_str(), 3, 3);
  PYINFER_CHECK(a.layout == 0 || a.layout == 1, f << ": layout must be 0 or 1, got " << a.layout);
  const int64_t D = a.direction == "bidirectional" ? 2 : 1;
  std::shared_ptr<const rnn::Weights> wt;
  if (py::isinstance<PyRnnWeights>(a.W)) {
    PYINFER_CHECK(a.R.is_none() && a.B.is_none(), f << ": W is an RnnWeights; R and B must then be None");
    wt = a.W.cast<const PyRnnWeights&>().w;
  } else {
    PYINFER_CHECK(a.direction == "forward" || a.direction == "reverse" || a.direction == "bidirectional",
                  f << ": direction must be 'forward', 'reverse' or 'bidirectional', got '" << a.direction << "'");
    wt = prepare_weights(cell, f, a.W, a.R, a.B, cell == Cell::Gru && a.linear_before_reset, a.num_threads, D,
                         X.shape(2));
  }
  rnn::NodeParams p;
  p.cell = cell;
  p.x_shape = bind::shape_of(X);
  p.direction = a.direction;
  p.layout = a.layout;
  p.hidden_size = a.hidden_size.is_none() ? -1 : a.hidden_size.cast<int64_t>();
  p.activations = string_list(a.activations, (f + ": activations").c_str());
  p.activation_alpha = float_list(a.activation_alpha, (f + ": activation_alpha").c_str());
  p.activation_beta = float_list(a.activation_beta, (f + ": activation_beta").c_str());
  p.has_clip = !a.clip.is_none();
  if (p.has_clip) p.clip = a.clip.cast<float>();
  p.input_forget = a.input_forget;
  p.linear_before_reset = a.linear_before_reset;
  p.has_sequence_lens = !a.sequence_lens.is_none();
  p.has_initial_h = !a.initial_h.is_none();
  p.has_initial_c = !a.initial_c.is_none();
  p.has_peepholes = !a.P.is_none();
  const PreparedPtr k = rnn::prepare_rnn(p, wt);

  // The optional inputs, checked here with messages that name the argument.
  const int64_t S = a.layout == 0 ? X.shape(0) : X.shape(1), Bt = a.layout == 0 ? X.shape(1) : X.shape(0);
  py::object lens = py::none();
  if (p.has_sequence_lens) {
    py::array arr = py::array::ensure(a.sequence_lens);
    PYINFER_CHECK(arr && (arr.dtype().kind() == 'i' || arr.dtype().kind() == 'u'),
                  f << ": sequence_lens must be an integer array");
    PYINFER_CHECK(arr.ndim() == 1 && arr.shape(0) == Bt, f << ": sequence_lens must have shape [batch_size] = ["
                                                           << Bt << "], got " << bind::shape_str(bind::shape_of(arr)));
    auto l = py::array_t<int64_t, py::array::c_style | py::array::forcecast>::ensure(arr);
    for (int64_t i = 0; i < Bt; ++i)
      PYINFER_CHECK(l.data()[i] >= 0 && l.data()[i] <= S, f << ": sequence_lens[" << i << "] = " << l.data()[i]
                                                             << " is outside [0, seq_length = " << S << "]");
    lens = py::array_t<int32_t, py::array::c_style | py::array::forcecast>::ensure(l);
  }
  bind::FloatArray h_keep, c_keep, p_keep;
  const auto& specs = k->inputs();
  optional_input(a.initial_h, h_keep, f + ": initial_h", specs[5].shape);
  if (cell == Cell::Lstm) {
    optional_input(a.initial_c, c_keep, f + ": initial_c", specs[6].shape);
    optional_input(a.P, p_keep, f + ": P", specs[7].shape);
  }
  auto or_none = [](const bind::FloatArray& arr) { return arr ? py::object(arr) : py::object(py::none()); };
  const py::object out = bind::call(
      *k, {X, py::none(), py::none(), py::none(), lens, or_none(h_keep), or_none(c_keep), or_none(p_keep)},
      a.num_threads, {}, {!a.need_y, !a.need_y_h, !(cell == Cell::Lstm && a.need_y_c)});
  return out.cast<py::tuple>();
}

}  // namespace

PYINFER_BINDINGS(rnn, 10) {
  py::class_<PyRnnWeights>(m, "RnnWeights",
                           R"doc(RnnWeights(cell, W, R, B=None, linear_before_reset=False, num_threads=0)

The constant inputs of one ONNX LSTM / GRU / RNN node (cell: 'lstm' | 'gru' | 'rnn'), float32,
prepared once for lstm() / gru() / rnn(), passed as their W argument (R and B then None):
W [num_directions, G*hidden, input] is packed for the input-projection GEMM, R
[num_directions, G*hidden, hidden] into the panels the step kernel streams, and
B [num_directions, 2*G*hidden] folded into one bias per gate. linear_before_reset (GRU)
must match the calls'. The copy does not refer to the arrays. Its layout belongs to the SIMD
tier active when it was made; runs with it use that tier's kernels.)doc")
      .def(py::init([](const std::string& cell_name, py::handle W, py::handle R, py::handle B,
                       bool linear_before_reset, int num_threads) {
             Cell cell;
             if (cell_name == "lstm") cell = Cell::Lstm;
             else if (cell_name == "gru") cell = Cell::Gru;
             else if (cell_name == "rnn") cell = Cell::Rnn;
             else PYINFER_CHECK(false, "RnnWeights: cell must be 'lstm', 'gru' or 'rnn', got '" << cell_name << "'");
             PyRnnWeights out;
             out.isa = isa_name(active_isa());
             out.w = prepare_weights(cell, "RnnWeights(" + cell_name + ")", W, R, B, linear_before_reset,
                                     num_threads);
             return out;
           }),
           py::arg("cell"), py::arg("W"), py::arg("R"), py::arg("B") = py::none(),
           py::arg("linear_before_reset") = false, py::arg("num_threads") = 0)
      .def_property_readonly("cell", [](const PyRnnWeights& p) { return std::string(cell_label(p.w->cell)); })
      .def_property_readonly("num_directions", [](const PyRnnWeights& p) { return p.w->num_directions; })
      .def_property_readonly("hidden_size", [](const PyRnnWeights& p) { return p.w->hidden; })
      .def_property_readonly("input_size", [](const PyRnnWeights& p) { return p.w->input_size; })
      .def_property_readonly("linear_before_reset", [](const PyRnnWeights& p) { return p.w->linear_before_reset; })
      .def_property_readonly("isa", [](const PyRnnWeights& p) { return p.isa; });

  m.def(
      "lstm",
      [](py::handle X, py::handle W, py::handle R, py::handle B, py::handle sequence_lens,
         py::handle initial_h, py::handle initial_c, py::handle P, std::string direction, int layout,
         py::object hidden_size, py::object activations, py::object activation_alpha,
         py::object activation_beta, py::object clip, bool input_forget, int num_threads, bool need_y,
         bool need_y_h, bool need_y_c) {
        Args a{X, W, R, B, sequence_lens, initial_h, initial_c, P, direction, layout, hidden_size,
               activations, activation_alpha, activation_beta, clip, input_forget, false, need_y,
               need_y_h, need_y_c, num_threads};
        return run_family(Cell::Lstm, "lstm", a);
      },
      py::arg("X"), py::arg("W"), py::arg("R") = py::none(), py::arg("B") = py::none(),
      py::arg("sequence_lens") = py::none(), py::arg("initial_h") = py::none(),
      py::arg("initial_c") = py::none(), py::arg("P") = py::none(), py::arg("direction") = "forward",
      py::arg("layout") = 0, py::arg("hidden_size") = py::none(), py::arg("activations") = py::none(),
      py::arg("activation_alpha") = py::none(), py::arg("activation_beta") = py::none(),
      py::arg("clip") = py::none(), py::arg("input_forget") = false, py::arg("num_threads") = 0,
      py::arg("need_y") = true, py::arg("need_y_h") = true, py::arg("need_y_c") = true,
      R"doc(One ONNX LSTM layer (opset 7/14 semantics), float32. Returns (Y, Y_h, Y_c).

Gate order as in ONNX: W [num_directions, 4*hidden, input] stacks i, o, f, c;
R [num_directions, 4*hidden, hidden]; B [num_directions, 8*hidden] = Wb then Rb. W may instead
be an RnnWeights('lstm', W, R, B) prepared once (R and B then None);
P [num_directions, 3*hidden] = peepholes i, o, f.
layout=0: X [seq, batch, input], Y [seq, dirs, batch, hidden], Y_h/Y_c/initial_h/initial_c
[dirs, batch, hidden]; layout=1: X [batch, seq, input], Y [batch, seq, dirs, hidden],
states [batch, dirs, hidden].
sequence_lens (int, [batch], each in [0, seq]): Y is 0 past a sequence's end; Y_h/Y_c hold
its last valid state (reverse direction: the state after its first step; zeros if empty).
direction: 'forward' | 'reverse' | 'bidirectional'. activations: 3 (or 6) names of
Relu, Tanh, Sigmoid, Affine, LeakyRelu, ThresholdedRelu, ScaledTanh, HardSigmoid, Elu,
Softsign, Softplus (default Sigmoid, Tanh, Tanh); activation_alpha / activation_beta are
consumed in order by the activations that take them. clip: bound on every activation input.
input_forget: f = 1 - i. need_y / need_y_h / need_y_c=False skip an output (returned as None).

Example:
    >>> X = np.random.rand(5, 2, 3).astype(np.float32)       # seq 5, batch 2, input 3
    >>> W = np.random.rand(1, 16, 3).astype(np.float32)      # hidden 4
    >>> R = np.random.rand(1, 16, 4).astype(np.float32)
    >>> Y, Y_h, Y_c = pyinfer.kernels.lstm(X, W, R)          # Y: (5, 1, 2, 4)
)doc");

  m.def(
      "gru",
      [](py::handle X, py::handle W, py::handle R, py::handle B, py::handle sequence_lens,
         py::handle initial_h, std::string direction, int layout, py::object hidden_size,
         py::object activations, py::object activation_alpha, py::object activation_beta, py::object clip,
         bool linear_before_reset, int num_threads, bool need_y, bool need_y_h) {
        Args a{X, W, R, B, sequence_lens, initial_h, py::none(), py::none(), direction, layout, hidden_size,
               activations, activation_alpha, activation_beta, clip, false, linear_before_reset, need_y,
               need_y_h, false, num_threads};
        return run_family(Cell::Gru, "gru", a);
      },
      py::arg("X"), py::arg("W"), py::arg("R") = py::none(), py::arg("B") = py::none(),
      py::arg("sequence_lens") = py::none(), py::arg("initial_h") = py::none(),
      py::arg("direction") = "forward", py::arg("layout") = 0, py::arg("hidden_size") = py::none(),
      py::arg("activations") = py::none(), py::arg("activation_alpha") = py::none(),
      py::arg("activation_beta") = py::none(), py::arg("clip") = py::none(),
      py::arg("linear_before_reset") = false, py::arg("num_threads") = 0, py::arg("need_y") = true,
      py::arg("need_y_h") = true,
      R"doc(One ONNX GRU layer (opset 7/14 semantics), float32. Returns (Y, Y_h).

Gate order as in ONNX: W [num_directions, 3*hidden, input] stacks z, r, h; R likewise with
hidden columns; B [num_directions, 6*hidden] = Wb then Rb (or W = RnnWeights('gru', W, R, B,
linear_before_reset), R = B = None). linear_before_reset=0:
h~ = g(Xh + (r . H) Rh^T + Rbh + Wbh); =1: h~ = g(Xh + r . (H Rh^T + Rbh) + Wbh)
(PyTorch's GRU is linear_before_reset=1). Layouts, sequence_lens, direction, clip and the
activations (2 per direction, default Sigmoid, Tanh) are as for lstm().

Example:
    >>> X = np.random.rand(5, 2, 3).astype(np.float32)
    >>> W = np.random.rand(2, 12, 3).astype(np.float32)      # bidirectional, hidden 4
    >>> R = np.random.rand(2, 12, 4).astype(np.float32)
    >>> Y, Y_h = pyinfer.kernels.gru(X, W, R, direction="bidirectional", linear_before_reset=1)
)doc");

  m.def(
      "rnn",
      [](py::handle X, py::handle W, py::handle R, py::handle B, py::handle sequence_lens,
         py::handle initial_h, std::string direction, int layout, py::object hidden_size,
         py::object activations, py::object activation_alpha, py::object activation_beta, py::object clip,
         int num_threads, bool need_y, bool need_y_h) {
        Args a{X, W, R, B, sequence_lens, initial_h, py::none(), py::none(), direction, layout, hidden_size,
               activations, activation_alpha, activation_beta, clip, false, false, need_y, need_y_h, false,
               num_threads};
        return run_family(Cell::Rnn, "rnn", a);
      },
      py::arg("X"), py::arg("W"), py::arg("R") = py::none(), py::arg("B") = py::none(),
      py::arg("sequence_lens") = py::none(), py::arg("initial_h") = py::none(),
      py::arg("direction") = "forward", py::arg("layout") = 0, py::arg("hidden_size") = py::none(),
      py::arg("activations") = py::none(), py::arg("activation_alpha") = py::none(),
      py::arg("activation_beta") = py::none(), py::arg("clip") = py::none(), py::arg("num_threads") = 0,
      py::arg("need_y") = true, py::arg("need_y_h") = true,
      R"doc(One ONNX simple RNN layer (opset 7/14 semantics), float32. Returns (Y, Y_h).

H_t = f(X_t W^T + H_{t-1} R^T + Wb + Rb), f = Tanh unless `activations` (1 per direction)
says otherwise. W [num_directions, hidden, input], R [num_directions, hidden, hidden],
B [num_directions, 2*hidden] (or W = RnnWeights('rnn', W, R, B), R = B = None). Layouts,
sequence_lens, direction and clip as for lstm().

Example:
    >>> X = np.random.rand(4, 1, 3).astype(np.float32)
    >>> W = np.random.rand(1, 5, 3).astype(np.float32)
    >>> R = np.random.rand(1, 5, 5).astype(np.float32)
    >>> Y, Y_h = pyinfer.kernels.rnn(X, W, R, activations=["Relu"])
)doc");

  m.def(
      "prepare_rnn",
      [](const std::string& cell_name, const std::vector<int64_t>& x_shape, const PyRnnWeights& weights,
         const std::string& direction, int layout, py::object hidden_size, py::object activations,
         py::object activation_alpha, py::object activation_beta, py::object clip, bool input_forget,
         bool linear_before_reset, bool sequence_lens, bool initial_h, bool initial_c, bool P) {
        rnn::NodeParams p;
        p.cell = weights.w->cell;
        PYINFER_CHECK(cell_name == cell_label(p.cell),
                      "prepare_rnn: cell '" << cell_name << "', weights made for " << cell_label(p.cell));
        p.x_shape = x_shape, p.direction = direction, p.layout = layout;
        p.hidden_size = hidden_size.is_none() ? -1 : hidden_size.cast<int64_t>();
        p.activations = string_list(activations, "prepare_rnn: activations");
        p.activation_alpha = float_list(activation_alpha, "prepare_rnn: activation_alpha");
        p.activation_beta = float_list(activation_beta, "prepare_rnn: activation_beta");
        p.has_clip = !clip.is_none();
        if (p.has_clip) p.clip = clip.cast<float>();
        p.input_forget = input_forget, p.linear_before_reset = linear_before_reset;
        p.has_sequence_lens = sequence_lens, p.has_initial_h = initial_h, p.has_initial_c = initial_c;
        p.has_peepholes = P;
        return rnn::prepare_rnn(p, weights.w);
      },
      py::arg("cell"), py::arg("x_shape"), py::arg("weights"), py::arg("direction") = "forward",
      py::arg("layout") = 0, py::arg("hidden_size") = py::none(), py::arg("activations") = py::none(),
      py::arg("activation_alpha") = py::none(), py::arg("activation_beta") = py::none(),
      py::arg("clip") = py::none(), py::arg("input_forget") = false, py::arg("linear_before_reset") = false,
      py::kw_only(), py::arg("sequence_lens") = false, py::arg("initial_h") = false, py::arg("initial_c") = false,
      py::arg("P") = false,
      "prepare_rnn(cell, x_shape, weights, direction='forward', layout=0, ...) -> PreparedKernel\n"
      "lstm() / gru() / rnn() prepared for X of x_shape on an RnnWeights; sequence_lens / initial_h /\n"
      "initial_c / P say which optional inputs runs give. The kernel takes (X, W, R, B, sequence_lens\n"
      "(int32), initial_h, initial_c, P) with W, R, B None, and returns (Y, Y_h[, Y_c]).");

  // For the tests: one RNN activation (by ONNX name) applied by the active tier's vector code.
  m.def(
      "_rnn_activation",
      [](py::handle x_obj, std::string name, py::object alpha, py::object beta) {
        auto x = bind::float_array(x_obj, "_rnn_activation: x", 0, 8);
        std::vector<float> al, be;
        if (!alpha.is_none()) al.push_back(alpha.cast<float>());
        if (!beta.is_none()) be.push_back(beta.cast<float>());
        auto act = rnn::parse_activations(Cell::Rnn, 1, {name}, al, be);
        auto out = bind::new_float_array(bind::shape_of(x));
        std::copy(x.data(), x.data() + x.size(), out.mutable_data());
        rnn::row_kernels().activate(static_cast<int64_t>(x.size()), out.mutable_data(), &act[0]);
        return out;
      },
      py::arg("x"), py::arg("name"), py::arg("alpha") = py::none(), py::arg("beta") = py::none());
}

}  // namespace pyinfer
