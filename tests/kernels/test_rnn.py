"""pyinfer.kernels.lstm / gru / rnn against references nobody here tuned to the kernel:
tests/support/rnn_reference.py (plain NumPy from the ONNX equations), PyTorch's nn.LSTM / GRU / RNN,
and onnxruntime (through ONNX models, where it supports the configuration)."""

import numpy as np
import onnx
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from onnx import TensorProto, helper

import pyinfer
from pyinfer import kernels
from support.rnn_reference import activation as ref_activation
from support.rnn_reference import reference

RTOL, ATOL = 1e-3, 1e-4
GATES = {"lstm": 4, "gru": 3, "rnn": 1}
PER_DIR = {"lstm": 3, "gru": 2, "rnn": 1}
ACTIVATIONS = ["Relu", "Tanh", "Sigmoid", "Affine", "LeakyRelu", "ThresholdedRelu", "ScaledTanh",
               "HardSigmoid", "Elu", "Softsign", "Softplus"]
BOUNDED = ["Tanh", "Sigmoid", "ScaledTanh", "HardSigmoid", "Softsign"]
TAKES_ALPHA = {"Affine", "LeakyRelu", "ThresholdedRelu", "ScaledTanh", "HardSigmoid", "Elu"}
TAKES_BETA = {"Affine", "ScaledTanh", "HardSigmoid"}


def make_case(cell, seed, S, B, I, H, direction, layout, *, bias=True, lens=False, init_h=False,
              init_c=False, peep=False, scale=0.5):
    """Random inputs for one node (as kwargs of the kernel)."""
    rng = np.random.default_rng(seed)
    D = 2 if direction == "bidirectional" else 1
    G = GATES[cell]

    def rand(*shape, s=1.0):
        return (rng.standard_normal(shape) * s).astype(np.float32)

    kw = dict(X=rand(*((S, B, I) if layout == 0 else (B, S, I))), W=rand(D, G * H, I, s=scale),
              R=rand(D, G * H, H, s=scale), direction=direction, layout=layout)
    state = (D, B, H) if layout == 0 else (B, D, H)
    if bias:
        kw["B"] = rand(D, 2 * G * H, s=scale)
    if lens:
        kw["sequence_lens"] = rng.integers(0, S + 1, size=B).astype(np.int32)
    if init_h:
        kw["initial_h"] = rand(*state)
    if cell == "lstm" and init_c:
        kw["initial_c"] = rand(*state)
    if cell == "lstm" and peep:
        kw["P"] = rand(D, 3 * H, s=scale)
    return kw


def run_kernel(cell, kw, **extra):
    args = dict(kw)
    X, W, R = args.pop("X"), args.pop("W"), args.pop("R")
    return getattr(kernels, cell)(X, W, R, **args, **extra)


def _nudged(kw, seed=0):
    """kw with every float array moved by about one float32 rounding (relative 2^-23)."""
    rng = np.random.default_rng(seed)
    out = {}
    for k, v in kw.items():
        if isinstance(v, np.ndarray) and v.dtype.kind == "f":
            v = v.astype(np.float64) * (1 + rng.choice([-1.0, 1.0], size=v.shape) * 2.0 ** -23)
        out[k] = v
    return out


def well_conditioned(cell, kw, ref_extra, want) -> bool:
    """Whether the exact result stays within a quarter of the tolerance when the inputs move by
    one float32 rounding. Random activation mixes can put a kink or threshold (ThresholdedRelu,
    Relu, HardSigmoid) right where the sequence goes, or grow chaotically: there float32
    rounding alone changes the answer by more than rtol, and no float32 kernel can be judged."""
    with np.errstate(all="ignore"):
        moved = reference(cell, **_nudged(kw), **ref_extra)
    for a, b in zip(moved, want):
        scale = max(1.0, float(np.abs(b).max())) if b.size else 1.0
        if not np.allclose(a, b, rtol=RTOL / 4, atol=ATOL * scale / 4):
            return False
    return True


def check(cell, kw, bounded=False, **extra):
    """Kernel vs reference. bounded: skip (hypothesis.assume) cases whose values blow up, as
    unbounded gate functions (Relu, Affine...) can make them grow exponentially."""
    ref_extra = {k: v for k, v in extra.items() if k not in ("num_threads", "hidden_size")}
    with np.errstate(all="ignore"):
        want = reference(cell, **kw, **ref_extra)
    if bounded:
        assume(all(np.all(np.abs(w) < 1e3) for w in want))
        assume(well_conditioned(cell, kw, ref_extra, want))
    got = run_kernel(cell, kw, **extra)
    assert len(got) == len(want)
    for name, g, w in zip(["Y", "Y_h", "Y_c"], got, want):
        assert g.dtype == np.float32 and g.shape == w.shape, (name, g.shape, w.shape)
        # float32 rounding error is relative to the largest values the sums combine: a state
        # that grew to ~200 (unbounded candidate activation) can cancel to ~0.5 in one element.
        scale = max(1.0, float(np.abs(w).max())) if w.size else 1.0
        np.testing.assert_allclose(g, w, rtol=RTOL, atol=ATOL * scale, err_msg=f"{cell} {name}")
    return got


# --- randomized against the spec reference, every tier ------------------------------------

@st.composite
def rnn_cases(draw):
    cell = draw(st.sampled_from(["lstm", "gru", "rnn"]))
    direction = draw(st.sampled_from(["forward", "reverse", "bidirectional"]))
    D = 2 if direction == "bidirectional" else 1
    sizes = dict(S=draw(st.integers(0, 6)), B=draw(st.integers(1, 4)), I=draw(st.integers(1, 6)),
                 H=draw(st.sampled_from([1, 3, 8, 13, 16, 21, 35])))
    opts = dict(bias=draw(st.booleans()), lens=draw(st.booleans()), init_h=draw(st.booleans()),
                init_c=draw(st.booleans()), peep=draw(st.booleans()))
    kw = make_case(cell, draw(st.integers(0, 2**31)), direction=direction,
                   layout=draw(st.integers(0, 1)), **sizes, **opts)
    extra = {}
    if draw(st.booleans()):
        n = PER_DIR[cell] * draw(st.sampled_from([1, D]))
        # The gate slot (f) of LSTM / GRU multiplies the state: with an unbounded function
        # there (Relu, Affine...) float32 rounding grows step by step beyond any fixed
        # tolerance, so random cases keep gates bounded; test_every_activation_in_every_slot
        # covers the rest on short sequences.
        names = [draw(st.sampled_from(BOUNDED if cell != "rnn" and k % PER_DIR[cell] == 0 else ACTIVATIONS))
                 for k in range(n)]
        extra["activations"] = names
        # Consumed in order by the activations that take them; fewer values leave defaults.
        n_alpha = sum(a in TAKES_ALPHA for a in names)
        n_beta = sum(a in TAKES_BETA for a in names)
        values = st.floats(0.125, 1.5, width=32)
        extra["activation_alpha"] = draw(st.lists(values, max_size=n_alpha))
        extra["activation_beta"] = draw(st.lists(values, max_size=n_beta))
    if draw(st.booleans()):
        extra["clip"] = draw(st.floats(0.25, 3.0, width=32))
    if cell == "lstm":
        extra["input_forget"] = draw(st.integers(0, 1))
    if cell == "gru":
        extra["linear_before_reset"] = draw(st.integers(0, 1))
    return cell, kw, extra


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(case=rnn_cases())
def test_random_against_reference(isa, case):
    cell, kw, extra = case
    check(cell, kw, bounded=True, **extra)


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
@pytest.mark.parametrize("direction", ["forward", "reverse", "bidirectional"])
@pytest.mark.parametrize("layout", [0, 1])
def test_all_options_larger(isa, cell, direction, layout):
    kw = make_case(cell, 7, S=9, B=6, I=11, H=37, direction=direction, layout=layout, lens=True,
                   init_h=True, init_c=True, peep=True, scale=0.3)
    extra = {"input_forget": 1} if cell == "lstm" else {"linear_before_reset": 1} if cell == "gru" else {}
    check(cell, kw, clip=1.5, num_threads=2, **extra)


@pytest.mark.parametrize("name", ACTIVATIONS)
@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
def test_every_activation_in_every_slot(isa, cell, name):
    kw = make_case(cell, 13, S=2, B=3, I=4, H=19, direction="bidirectional", layout=0, init_h=True,
                   init_c=True, peep=True, scale=0.4)
    for slot in range(PER_DIR[cell]):
        names = ["Sigmoid", "Tanh", "Tanh"][:PER_DIR[cell]] if cell != "rnn" else ["Tanh"]
        names[slot] = name
        alpha = [0.6] if name in TAKES_ALPHA else []
        beta = [0.4] if name in TAKES_BETA else []
        check(cell, kw, activations=names, activation_alpha=alpha, activation_beta=beta)


@pytest.mark.parametrize("num_threads", [1, 2, 3])
def test_threads_agree_bidirectional(isa, num_threads):
    kw = make_case("lstm", 3, S=7, B=5, I=9, H=70, direction="bidirectional", layout=0, lens=True,
                   init_h=True, scale=0.2)
    check("lstm", kw, num_threads=num_threads)


# Steps big enough (batch * gates*hidden * hidden >= 2^18 multiply-adds) to be split across
# threads; hidden sizes that leave a partial last panel. Every thread count must give exactly
# the one-thread result (each panel is computed by one thread, in one order).
SPLIT_SIZES = {"lstm": dict(B=3, H=150), "gru": dict(B=4, H=160), "rnn": dict(B=4, H=260)}


@pytest.mark.parametrize("cell,lbr", [("lstm", 0), ("gru", 0), ("gru", 1), ("rnn", 0)])
@pytest.mark.parametrize("direction", ["forward", "reverse"])
def test_threads_split_steps(isa, cell, lbr, direction):
    kw = make_case(cell, 17, S=6, I=5, direction=direction, layout=0, lens=True, init_h=True,
                   init_c=True, peep=True, scale=0.1, **SPLIT_SIZES[cell])
    extra = {"linear_before_reset": lbr} if cell == "gru" else {}
    one = check(cell, kw, num_threads=1, **extra)
    for n in (2, 3, 4):
        got = run_kernel(cell, kw, num_threads=n, **extra)
        for g, o in zip(got, one):
            np.testing.assert_array_equal(g, o)


# --- prepared weights (RnnWeights): the path of models whose W, R, B are initializers -------

@pytest.mark.parametrize("cell,lbr", [("lstm", 0), ("gru", 0), ("gru", 1), ("rnn", 0)])
@pytest.mark.parametrize("bias", [True, False])
def test_prepared_weights_match_arrays(isa, cell, lbr, bias):
    kw = make_case(cell, 5, S=5, B=3, I=6, H=21, direction="bidirectional", layout=1, bias=bias,
                   lens=True, init_h=True, init_c=True, scale=0.4)
    extra = {"linear_before_reset": lbr} if cell == "gru" else {}
    want = check(cell, kw, **extra)
    args = dict(kw)
    W, R, B = args.pop("W"), args.pop("R"), args.pop("B", None)
    prepared = kernels.RnnWeights(cell, W, R, B, **extra)
    assert (prepared.cell, prepared.num_directions, prepared.hidden_size, prepared.input_size) == (cell, 2, 21, 6)
    X = args.pop("X")
    for _ in range(2):  # reusable
        got = getattr(kernels, cell)(X, prepared, **args, **extra)
        for g, w in zip(got, want):
            np.testing.assert_array_equal(g, w)


def test_prepared_weights_must_match_the_call():
    kw = make_case("gru", 2, S=3, B=2, I=4, H=5, direction="forward", layout=0)
    X, W, R, B = kw["X"], kw["W"], kw["R"], kw["B"]
    prepared = kernels.RnnWeights("gru", W, R, B, linear_before_reset=True)
    cases = [
        (lambda: kernels.lstm(X, prepared), "made for gru"),
        (lambda: kernels.gru(X, prepared), "linear_before_reset"),
        (lambda: kernels.gru(X, prepared, R, linear_before_reset=True), "R and B must then be None"),
        (lambda: kernels.gru(X, prepared, direction="bidirectional", linear_before_reset=True), "direction"),
        (lambda: kernels.gru(X[:, :, :3].copy(), prepared, linear_before_reset=True), "input size"),
        (lambda: kernels.gru(X, prepared, hidden_size=6, linear_before_reset=True), "hidden_size"),
        (lambda: kernels.RnnWeights("lstm", W, R, B), "R must have shape"),
        (lambda: kernels.RnnWeights("gru", W, R, B[:, :5]), "B must have shape"),
        (lambda: kernels.RnnWeights("gru", W[:, :14], R), "W must have shape"),
        (lambda: kernels.RnnWeights("gru", np.zeros((3, 15, 4), F), np.zeros((3, 15, 5), F)), "num_directions"),
        (lambda: kernels.RnnWeights("cnn", W, R), "cell must be"),
    ]
    for call, fragment in cases:
        with pytest.raises(pyinfer.KernelArgumentError, match=None) as info:
            call()
        assert fragment in str(info.value), (fragment, str(info.value))


def _const_weights_model(cell, kw, dtype=np.float32, **attrs):
    """One node whose W, R, B are initializers (X, initial_h and sequence_lens are inputs)."""
    op = {"lstm": "LSTM", "gru": "GRU", "rnn": "RNN"}[cell]
    elem = helper.np_dtype_to_tensor_dtype(np.dtype(dtype))
    inits = [onnx.numpy_helper.from_array(kw[n].astype(dtype), n) for n in ("W", "R", "B")]
    node = helper.make_node(op, ["X", "W", "R", "B", "sequence_lens", "initial_h"], ["Y", "Y_h"], **attrs)
    inputs = [helper.make_tensor_value_info("X", elem, None),
              helper.make_tensor_value_info("sequence_lens", TensorProto.INT32, None),
              helper.make_tensor_value_info("initial_h", elem, None)]
    outs = [helper.make_tensor_value_info(o, elem, None) for o in ("Y", "Y_h")]
    graph = helper.make_graph([node], "g", inputs, outs, initializer=inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 14)])


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
def test_model_with_constant_weights(cell):
    kw = make_case(cell, 11, S=5, B=3, I=4, H=9, direction="bidirectional", layout=0, lens=True,
                   init_h=True, scale=0.4)
    attrs = dict(hidden_size=9, direction="bidirectional")
    if cell == "gru":
        attrs["linear_before_reset"] = 1
    sess = pyinfer.InferenceSession(_const_weights_model(cell, kw, **attrs), num_threads=2)
    feeds = {"X": kw["X"], "sequence_lens": kw["sequence_lens"], "initial_h": kw["initial_h"]}
    extra = {"linear_before_reset": 1} if cell == "gru" else {}
    want = reference(cell, **kw, **extra)
    for _ in range(2):
        got = sess.run(None, feeds)
        for g, w in zip(got, want[:2]):
            np.testing.assert_allclose(g, w, rtol=RTOL, atol=ATOL)


def test_model_with_constant_weights_of_the_wrong_shape():
    kw = make_case("gru", 12, S=3, B=2, I=4, H=5, direction="forward", layout=0, init_h=True)
    kw["sequence_lens"] = np.array([3, 2], np.int32)
    kw["R"] = kw["R"][:, :, :4].copy()
    # the constant R alone proves it: refused when the session is created
    with pytest.raises(pyinfer.InvalidModelError, match=r"GRU node.*input R 'R' has shape \[1, 15, 4\].*hidden_size=5"):
        pyinfer.InferenceSession(_const_weights_model("gru", kw, hidden_size=5))


def test_model_with_float64_constant_weights():
    kw = make_case("rnn", 14, S=4, B=2, I=3, H=6, direction="forward", layout=0, init_h=True)
    kw["sequence_lens"] = np.array([4, 3], np.int32)
    sess = pyinfer.InferenceSession(_const_weights_model("rnn", kw, dtype=np.float64, hidden_size=6))
    feeds = {"X": kw["X"].astype(np.float64), "sequence_lens": kw["sequence_lens"],
             "initial_h": kw["initial_h"].astype(np.float64)}
    got = sess.run(None, feeds)
    want = reference("rnn", **kw)
    for g, w in zip(got, want[:2]):
        assert g.dtype == np.float64
        np.testing.assert_allclose(g, w, rtol=RTOL, atol=ATOL)


@pytest.mark.parametrize("name", ACTIVATIONS)
def test_activation_math(isa, name):
    x = np.concatenate([np.linspace(-30, 30, 2001), [-100, -88.5, -1e-3, -1e-6, 0, 1e-6, 1e-3, 88.5, 100]])
    x = x.astype(np.float32)
    alpha = 0.7 if name in TAKES_ALPHA else None
    beta = 0.3 if name in TAKES_BETA else None
    got = pyinfer._kernels._rnn_activation(x, name, alpha, beta)
    want = ref_activation(name, alpha, beta)(x.astype(np.float64))
    np.testing.assert_allclose(got, want, rtol=2e-6, atol=2e-7)


@pytest.mark.parametrize("name", ["Sigmoid", "Tanh"])
def test_activation_relative_precision_and_nan(isa, name):
    x = np.array([1e-8, -3e-5, 0.01, -0.3, 0.62, 0.63, 2.0, -9.0, np.nan], np.float32)
    got = pyinfer._kernels._rnn_activation(x, name)
    want = ref_activation(name)(x.astype(np.float64))
    np.testing.assert_allclose(got[:-1], want[:-1], rtol=4e-7)
    assert np.isnan(got[-1])


# --- sequence lengths, outputs, edge sizes ------------------------------------------------

@pytest.mark.parametrize("direction", ["forward", "reverse", "bidirectional"])
def test_sequence_lens_semantics(isa, direction):
    """Each row equals the same row run alone on its own (truncated) sequence."""
    kw = make_case("gru", 11, S=6, B=3, I=4, H=5, direction=direction, layout=0, init_h=True)
    kw["sequence_lens"] = np.array([6, 3, 0], np.int32)
    Y, Y_h = run_kernel("gru", kw)
    for b, n in enumerate([6, 3, 0]):
        assert not Y[n:, :, b].any()
        if n == 0:
            assert not Y_h[:, b].any()
            continue
        alone = dict(kw, X=kw["X"][:n, b:b + 1], initial_h=kw["initial_h"][:, b:b + 1])
        alone.pop("sequence_lens")
        Yb, Yb_h = run_kernel("gru", alone)
        np.testing.assert_allclose(Y[:n, :, b:b + 1], Yb, rtol=RTOL, atol=ATOL)
        np.testing.assert_allclose(Y_h[:, b:b + 1], Yb_h, rtol=RTOL, atol=ATOL)


def test_skipped_outputs_are_none_and_rest_unchanged(isa):
    kw = make_case("lstm", 5, S=4, B=2, I=3, H=6, direction="bidirectional", layout=1, init_h=True)
    full = run_kernel("lstm", kw)
    for flags in [(False, True, True), (True, False, False), (False, False, True)]:
        got = run_kernel("lstm", kw, need_y=flags[0], need_y_h=flags[1], need_y_c=flags[2])
        for want, g, needed in zip(full, got, flags):
            if needed:
                np.testing.assert_array_equal(g, want)
            else:
                assert g is None


def test_zero_length_sequence_and_empty_input(isa):
    kw = make_case("rnn", 2, S=0, B=3, I=2, H=4, direction="forward", layout=0, init_h=True)
    Y, Y_h = run_kernel("rnn", kw)
    assert Y.shape == (0, 1, 3, 4)
    # No step ran: Y_h is the last valid state of an empty sequence, which is zeros.
    np.testing.assert_array_equal(Y_h, np.zeros((1, 3, 4), np.float32))


def test_bidirectional_with_one_directions_activations(isa):
    kw = make_case("rnn", 4, S=3, B=2, I=3, H=5, direction="bidirectional", layout=0)
    got = run_kernel("rnn", kw, activations=["LeakyRelu"], activation_alpha=[0.2])
    want = run_kernel("rnn", kw, activations=["LeakyRelu", "LeakyRelu"], activation_alpha=[0.2, 0.2])
    for g, w in zip(got, want):
        np.testing.assert_array_equal(g, w)


# --- against PyTorch ----------------------------------------------------------------------

torch = pytest.importorskip("torch")


def _torch_weights(mod, cell, D, perm):
    Ws, Rs, Bs = [], [], []
    for d in range(D):
        sfx = "_reverse" if d == 1 else ""
        w = getattr(mod, f"weight_ih_l0{sfx}").detach().numpy()
        r = getattr(mod, f"weight_hh_l0{sfx}").detach().numpy()
        bi = getattr(mod, f"bias_ih_l0{sfx}").detach().numpy()
        bh = getattr(mod, f"bias_hh_l0{sfx}").detach().numpy()
        H = r.shape[1]
        idx = np.concatenate([np.arange(k * H, (k + 1) * H) for k in perm])
        Ws.append(w[idx])
        Rs.append(r[idx])
        Bs.append(np.concatenate([bi[idx], bh[idx]]))
    return np.stack(Ws), np.stack(Rs), np.stack(Bs)


@pytest.mark.parametrize("cell,kind", [("lstm", "LSTM"), ("gru", "GRU"), ("rnn", "RNN_TANH"), ("rnn", "RNN_RELU")])
@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("batch_first", [False, True])
def test_against_torch(isa, cell, kind, bidirectional, batch_first):
    torch.manual_seed(0)
    S, B, I, H = 7, 3, 5, 12
    D = 2 if bidirectional else 1
    if kind == "LSTM":
        mod = torch.nn.LSTM(I, H, bidirectional=bidirectional, batch_first=batch_first)
        perm = [0, 3, 1, 2]  # torch i,f,g,o -> ONNX i,o,f,c
    elif kind == "GRU":
        mod = torch.nn.GRU(I, H, bidirectional=bidirectional, batch_first=batch_first)
        perm = [1, 0, 2]  # torch r,z,n -> ONNX z,r,h
    else:
        nl = "tanh" if kind == "RNN_TANH" else "relu"
        mod = torch.nn.RNN(I, H, nonlinearity=nl, bidirectional=bidirectional, batch_first=batch_first)
        perm = [0]
    W, R, Bv = _torch_weights(mod, cell, D, perm)
    x = torch.randn((B, S, I) if batch_first else (S, B, I))
    h0 = torch.randn(D, B, H)
    with torch.no_grad():
        if kind == "LSTM":
            c0 = torch.randn(D, B, H)
            out, (hn, cn) = mod(x, (h0, c0))
        else:
            out, hn = mod(x, h0)
    layout = 1 if batch_first else 0
    state = (lambda t: t.numpy().transpose(1, 0, 2).copy()) if batch_first else (lambda t: t.numpy())
    kw = dict(B=Bv, initial_h=state(h0), direction="bidirectional" if bidirectional else "forward",
              layout=layout)
    if kind == "LSTM":
        kw["initial_c"] = state(c0)
    if kind == "GRU":
        kw["linear_before_reset"] = 1
    if kind == "RNN_RELU":
        kw["activations"] = ["Relu"] * D
    got = getattr(kernels, cell)(x.numpy(), W, R, **kw)
    # torch out: [S, B, D*H] (or [B, S, D*H]); ONNX Y: [S, D, B, H] (or [B, S, D, H]).
    if batch_first:
        Y = got[0].reshape(B, S, D * H)
    else:
        Y = got[0].transpose(0, 2, 1, 3).reshape(S, B, D * H)
    np.testing.assert_allclose(Y, out.numpy(), rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(got[1], state(hn), rtol=RTOL, atol=ATOL)
    if kind == "LSTM":
        np.testing.assert_allclose(got[2], state(cn), rtol=RTOL, atol=ATOL)


# --- through an ONNX model: op wiring, omitted outputs, dtypes, onnxruntime ---------------

def lstm_model(outputs, opset=14, dtype=TensorProto.FLOAT, **attrs):
    node = helper.make_node("LSTM", ["X", "W", "R", "B", "sequence_lens", "initial_h"], outputs, **attrs)
    inputs = [helper.make_tensor_value_info(n, dtype, None) for n in ["X", "W", "R", "B"]]
    inputs.append(helper.make_tensor_value_info("sequence_lens", TensorProto.INT32, None))
    inputs.append(helper.make_tensor_value_info("initial_h", dtype, None))
    outs = [helper.make_tensor_value_info(o, dtype, None) for o in outputs if o]
    graph = helper.make_graph([node], "g", inputs, outs)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])


def _feeds(kw, dtype=np.float32):
    return {"X": kw["X"].astype(dtype), "W": kw["W"].astype(dtype), "R": kw["R"].astype(dtype),
            "B": kw["B"].astype(dtype), "sequence_lens": kw["sequence_lens"],
            "initial_h": kw["initial_h"].astype(dtype)}


@pytest.mark.parametrize("direction", ["forward", "reverse", "bidirectional"])
def test_model_sequence_lens_against_onnxruntime(direction):
    ort = pytest.importorskip("onnxruntime")
    kw = make_case("lstm", 21, S=6, B=4, I=3, H=7, direction=direction, layout=0, init_h=True)
    kw["sequence_lens"] = np.array([6, 1, 4, 0], np.int32)
    model = lstm_model(["Y", "Y_h", "Y_c"], hidden_size=7, direction=direction)
    feeds = _feeds(kw)
    want = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, feeds)
    got = pyinfer.InferenceSession(model).run(None, feeds)
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=RTOL, atol=ATOL)


def test_model_only_y_h_and_layout_1():
    kw = make_case("lstm", 8, S=5, B=3, I=2, H=4, direction="bidirectional", layout=1, init_h=True)
    kw["sequence_lens"] = np.array([5, 2, 3], np.int32)
    model = lstm_model(["", "Y_h"], hidden_size=4, direction="bidirectional", layout=1)
    (got,) = pyinfer.InferenceSession(model).run(None, _feeds(kw))
    want = reference("lstm", **kw)[1]
    np.testing.assert_allclose(got, want, rtol=RTOL, atol=ATOL)


@pytest.mark.parametrize("opset", [7, 22])
@pytest.mark.parametrize("dtype,np_dtype,tol", [(TensorProto.FLOAT16, np.float16, 2e-2),
                                               (TensorProto.DOUBLE, np.float64, 1e-4)])
def test_model_other_float_dtypes(opset, dtype, np_dtype, tol):
    kw = make_case("lstm", 9, S=4, B=2, I=3, H=5, direction="forward", layout=0, init_h=True, lens=True)
    model = lstm_model(["Y", "Y_h", "Y_c"], opset=opset, dtype=dtype, hidden_size=5)
    got = pyinfer.InferenceSession(model).run(None, _feeds(kw, np_dtype))
    kw16 = {k: (v.astype(np_dtype).astype(np.float32) if v.dtype.kind == "f" else v) for k, v in kw.items()
            if isinstance(v, np.ndarray)}
    want = reference("lstm", **kw16, direction="forward")
    for g, w in zip(got, want):
        assert g.dtype == np_dtype
        np.testing.assert_allclose(g.astype(np.float32), w, rtol=tol, atol=tol)


# --- bad arguments: clear errors, never a crash -------------------------------------------

def _bad(cell="lstm", **changes):
    kw = make_case(cell, 1, S=3, B=2, I=4, H=5, direction="forward", layout=0, init_h=True)
    kw.update(changes)
    with pytest.raises(pyinfer.KernelArgumentError) as info:
        run_kernel(cell, kw)
    return str(info.value)


F = np.float32


@pytest.mark.parametrize("changes,fragment", [
    (dict(W=np.zeros((1, 19, 4), F)), "W must have shape"),
    (dict(W=np.zeros((1, 20, 3), F)), "W must have shape"),
    (dict(R=np.zeros((1, 20, 4), F)), "R must have shape"),
    (dict(R=np.zeros((2, 20, 5), F)), "R must have shape"),
    (dict(B=np.zeros((1, 20), F)), "B must have shape"),
    (dict(P=np.zeros((1, 16), F)), "P must have shape"),
    (dict(initial_h=np.zeros((1, 3, 5), F)), "initial_h must have shape"),
    (dict(initial_c=np.zeros((2, 2, 5), F)), "initial_c must have shape"),
    (dict(sequence_lens=np.array([1, 4], np.int32)), "outside [0, seq_length = 3]"),
    (dict(sequence_lens=np.array([-1, 2], np.int32)), "outside [0, seq_length = 3]"),
    (dict(sequence_lens=np.array([1, 2, 3], np.int32)), "sequence_lens must have shape"),
    (dict(sequence_lens=np.array([1.0, 2.0], np.float32)), "integer"),
    (dict(X=np.zeros((3, 2), F)), "X"),
    (dict(X=np.zeros((3, 2, 4), np.float64)), "X"),
    (dict(direction="sideways"), "direction"),
    (dict(layout=2), "layout"),
])
def test_bad_shapes_and_values(changes, fragment):
    assert fragment in _bad(**changes)


@pytest.mark.parametrize("extra,fragment", [
    (dict(hidden_size=6), "hidden_size"),
    (dict(activations=["Sigmoid", "Tanh"]), "expected 3 activations"),
    (dict(activations=["Sigmoid", "Tanh", "Swish"]), "unknown activation 'Swish'"),
    (dict(activations=["Sigmoid", "Tanh", "Tanh"], activation_alpha=[0.5]), "activation_alpha"),
    (dict(activations=["Affine", "Tanh", "Tanh"], activation_beta=[0.5, 0.1]), "activation_beta"),
    (dict(clip=0.0), "clip"),
    (dict(clip=-1.0), "clip"),
])
def test_bad_attributes(extra, fragment):
    kw = make_case("lstm", 1, S=3, B=2, I=4, H=5, direction="forward", layout=0)
    with pytest.raises(pyinfer.KernelArgumentError, match=None) as info:
        run_kernel("lstm", kw, **extra)
    assert fragment in str(info.value)


def test_error_is_a_pyinfer_error_in_a_model():
    kw = make_case("lstm", 1, S=3, B=2, I=4, H=5, direction="forward", layout=0, init_h=True)
    kw["sequence_lens"] = np.array([9, 1], np.int32)
    model = lstm_model(["Y"], hidden_size=5)
    with pytest.raises(pyinfer.Error, match="LSTM node"):
        pyinfer.InferenceSession(model).run(None, _feeds(kw))
