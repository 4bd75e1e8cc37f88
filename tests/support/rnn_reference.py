"""Plain NumPy implementation of ONNX LSTM / GRU / RNN, written from the operator spec.

The test oracle for pyinfer.kernels.lstm / gru / rnn. Everything is computed in float64, one
batch row and one time step at a time, straight from the equations in the ONNX docs:

  LSTM (gates i, o, f, c; peepholes i, o, f; default f=Sigmoid, g=Tanh, h=Tanh)
    it = f(Xt Wi^T + Ht-1 Ri^T + Pi . Ct-1 + Wbi + Rbi)
    ft = f(Xt Wf^T + Ht-1 Rf^T + Pf . Ct-1 + Wbf + Rbf)      (input_forget: ft = 1 - it)
    ct = g(Xt Wc^T + Ht-1 Rc^T + Wbc + Rbc)
    Ct = ft . Ct-1 + it . ct
    ot = f(Xt Wo^T + Ht-1 Ro^T + Po . Ct + Wbo + Rbo)
    Ht = ot . h(Ct)
  GRU (gates z, r, h; default f=Sigmoid, g=Tanh)
    zt = f(Xt Wz^T + Ht-1 Rz^T + Wbz + Rbz)
    rt = f(Xt Wr^T + Ht-1 Rr^T + Wbr + Rbr)
    ht = g(Xt Wh^T + (rt . Ht-1) Rh^T + Rbh + Wbh)            linear_before_reset = 0
    ht = g(Xt Wh^T + rt . (Ht-1 Rh^T + Rbh) + Wbh)            linear_before_reset != 0
    Ht = (1 - zt) . ht + zt . Ht-1
  RNN (default f=Tanh)
    Ht = f(Xt Wi^T + Ht-1 Ri^T + Wbi + Rbi)

clip bounds the input of every activation to [-clip, clip] (h's input Ct included; the
state keeps the unclipped Ct). sequence_lens: a row runs only its first len steps (the
reverse direction runs them backwards, starting from the initial state at t = len-1);
Y is 0 elsewhere; Y_h / Y_c hold the last state computed, zeros for an empty sequence.
"""
from __future__ import annotations

import numpy as np

# Defaults of the ONNX operators of the same name. (alpha, beta); None = not used.
ACTIVATION_PARAMS = {
    "relu": (None, None),
    "tanh": (None, None),
    "sigmoid": (None, None),
    "affine": (1.0, 0.0),
    "leakyrelu": (0.01, None),
    "thresholdedrelu": (1.0, None),
    "scaledtanh": (1.0, 1.0),
    "hardsigmoid": (0.2, 0.5),
    "elu": (1.0, None),
    "softsign": (None, None),
    "softplus": (None, None),
}


def activation(name, alpha=None, beta=None):
    """The function `name` of the ONNX RNN activation list, on float64 arrays."""
    name = name.lower()
    if name == "relu":
        return lambda x: np.maximum(x, 0.0)
    if name == "tanh":
        return np.tanh
    if name == "sigmoid":
        return lambda x: 1.0 / (1.0 + np.exp(-x))
    if name == "affine":
        return lambda x: alpha * x + beta
    if name == "leakyrelu":
        return lambda x: np.where(x >= 0, x, alpha * x)
    if name == "thresholdedrelu":
        return lambda x: np.where(x >= alpha, x, 0.0)
    if name == "scaledtanh":
        return lambda x: alpha * np.tanh(beta * x)
    if name == "hardsigmoid":
        return lambda x: np.minimum(np.maximum(alpha * x + beta, 0.0), 1.0)
    if name == "elu":
        return lambda x: np.where(x >= 0, x, alpha * (np.exp(x) - 1.0))
    if name == "softsign":
        return lambda x: x / (1.0 + np.abs(x))
    if name == "softplus":
        return lambda x: np.logaddexp(0.0, x)  # log(1 + e^x) without overflow
    raise ValueError(f"unknown activation {name}")


def build_activations(names, alphas, betas, per_dir, num_dirs, defaults):
    """[[fn per slot] per direction]; alphas/betas consumed in order by the functions using them."""
    names = list(names) if names else list(defaults)
    shared = num_dirs == 2 and len(names) == per_dir
    assert shared or len(names) == per_dir * num_dirs
    alphas = list(alphas or [])
    betas = list(betas or [])
    fns = []
    for n in names:
        da, db = ACTIVATION_PARAMS[n.lower()]
        a = alphas.pop(0) if da is not None and alphas else da
        b = betas.pop(0) if db is not None and betas else db
        fns.append(activation(n, a, b))
    assert not alphas and not betas
    if shared:
        fns = fns + fns
    return [fns[d * per_dir:(d + 1) * per_dir] for d in range(num_dirs)]


def _clipper(clip):
    if clip is None:
        return lambda x: x
    return lambda x: np.clip(x, -clip, clip)


def _lstm_step(x, h, c, W, R, Wb, Rb, P, acts, clip, input_forget):
    H = h.shape[0]
    f, g, hfn = acts
    cl = _clipper(clip)
    gates = W @ x + R @ h + Wb + Rb
    gi, go, gf, gc = gates[:H], gates[H:2 * H], gates[2 * H:3 * H], gates[3 * H:]
    pi, po, pf = P[:H], P[H:2 * H], P[2 * H:]
    i = f(cl(gi + pi * c))
    fg = 1.0 - i if input_forget else f(cl(gf + pf * c))
    ct = g(cl(gc))
    C = fg * c + i * ct
    o = f(cl(go + po * C))
    return o * hfn(cl(C)), C


def _gru_step(x, h, W, R, Wb, Rb, acts, clip, lbr):
    H = h.shape[0]
    f, g = acts
    cl = _clipper(clip)
    Wz, Wr, Wh = W[:H], W[H:2 * H], W[2 * H:]
    Rz, Rr, Rh = R[:H], R[H:2 * H], R[2 * H:]
    z = f(cl(Wz @ x + Rz @ h + Wb[:H] + Rb[:H]))
    r = f(cl(Wr @ x + Rr @ h + Wb[H:2 * H] + Rb[H:2 * H]))
    if lbr:
        hh = g(cl(Wh @ x + r * (Rh @ h + Rb[2 * H:]) + Wb[2 * H:]))
    else:
        hh = g(cl(Wh @ x + Rh @ (r * h) + Rb[2 * H:] + Wb[2 * H:]))
    return (1.0 - z) * hh + z * h


def _rnn_step(x, h, W, R, Wb, Rb, acts, clip):
    return acts[0](_clipper(clip)(W @ x + R @ h + Wb + Rb))


def reference(cell, X, W, R, B=None, sequence_lens=None, initial_h=None, initial_c=None, P=None,
              direction="forward", layout=0, activations=None, activation_alpha=None,
              activation_beta=None, clip=None, input_forget=0, linear_before_reset=0):
    """(Y, Y_h[, Y_c]) of ONNX `cell` ('lstm', 'gru', 'rnn') as float32 arrays."""
    gates, per_dir, defaults = {
        "lstm": (4, 3, ["Sigmoid", "Tanh", "Tanh"]),
        "gru": (3, 2, ["Sigmoid", "Tanh"]),
        "rnn": (1, 1, ["Tanh"]),
    }[cell]
    X = np.asarray(X, np.float64)
    if layout == 1:  # work in layout 0: [seq, batch, ...], states [dirs, batch, hidden]
        X = X.transpose(1, 0, 2)
        initial_h = None if initial_h is None else np.asarray(initial_h).transpose(1, 0, 2)
        initial_c = None if initial_c is None else np.asarray(initial_c).transpose(1, 0, 2)
    S, Bt, _ = X.shape
    D = 2 if direction == "bidirectional" else 1
    H = R.shape[-1]
    W = np.asarray(W, np.float64)
    R = np.asarray(R, np.float64)
    Bv = np.zeros((D, 2 * gates * H)) if B is None else np.asarray(B, np.float64)
    Pv = np.zeros((D, 3 * H)) if P is None else np.asarray(P, np.float64)
    h0 = np.zeros((D, Bt, H)) if initial_h is None else np.asarray(initial_h, np.float64)
    c0 = np.zeros((D, Bt, H)) if initial_c is None else np.asarray(initial_c, np.float64)
    lens = [S] * Bt if sequence_lens is None else [int(v) for v in sequence_lens]
    acts = build_activations(activations, activation_alpha, activation_beta, per_dir, D, defaults)

    Y = np.zeros((S, D, Bt, H))
    Y_h = np.zeros((D, Bt, H))
    Y_c = np.zeros((D, Bt, H))
    for d in range(D):
        backward = direction == "reverse" or d == 1
        Wb, Rb = Bv[d, :gates * H], Bv[d, gates * H:]
        for b in range(Bt):
            n = lens[b]
            h, c = h0[d, b].copy(), c0[d, b].copy()
            order = range(n - 1, -1, -1) if backward else range(n)
            for t in order:
                x = X[t, b]
                if cell == "lstm":
                    h, c = _lstm_step(x, h, c, W[d], R[d], Wb, Rb, Pv[d], acts[d], clip, input_forget)
                elif cell == "gru":
                    h = _gru_step(x, h, W[d], R[d], Wb, Rb, acts[d], clip, linear_before_reset)
                else:
                    h = _rnn_step(x, h, W[d], R[d], Wb, Rb, acts[d], clip)
                Y[t, d, b] = h
            if n > 0:
                Y_h[d, b] = h
                Y_c[d, b] = c
    if layout == 1:
        Y = Y.transpose(2, 0, 1, 3)
        Y_h = Y_h.transpose(1, 0, 2)
        Y_c = Y_c.transpose(1, 0, 2)
    out = (Y.astype(np.float32), Y_h.astype(np.float32))
    if cell == "lstm":
        out += (Y_c.astype(np.float32),)
    return out
