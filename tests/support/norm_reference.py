"""The test oracle for LRN (kernels.lrn, the LRN op and its compiled-plan step): the ONNX
equation, one channel window at a time, in float64."""
import math

import numpy as np


def lrn_ref(x, size, alpha, beta, bias):
    xd = x.astype(np.float64)
    c = x.shape[1]
    before, after = (size - 1) // 2, math.ceil((size - 1) / 2)
    y = np.empty_like(xd)
    for ch in range(c):
        lo, hi = max(0, ch - before), min(c - 1, ch + after)
        square_sum = (xd[:, lo:hi + 1] ** 2).sum(axis=1)
        y[:, ch] = xd[:, ch] / (bias + alpha / size * square_sum) ** beta
    return y
