"""A float64 reference for 2-D convolutions, one kernel tap at a time on the explicitly
zero-padded input:
y[n, m, oh, ow] = b[m] + sum_{c, kh, kw} xpad[n, c, oh*sh + kh*dh, ow*sw + kw*dw] * w[m, c, kh, kw]."""
import numpy as np


def ref_conv2d(x, w, b, pads, dilations=(1, 1), group=1, strides=(1, 1)):
    x, w = x.astype(np.float64), w.astype(np.float64)
    pt, pl, pb, pr = pads
    xp = np.pad(x, ((0, 0), (0, 0), (pt, pb), (pl, pr)))
    n, c, hp, wp = xp.shape
    m, cg, kh_n, kw_n = w.shape
    dh, dw = dilations
    sh, sw = strides
    oh, ow = (hp - (kh_n - 1) * dh - 1) // sh + 1, (wp - (kw_n - 1) * dw - 1) // sw + 1
    mg = m // group
    y = np.zeros((n, m, oh, ow))
    for g in range(group):
        xg = xp[:, g * cg:(g + 1) * cg]
        wg = w[g * mg:(g + 1) * mg]
        for kh in range(kh_n):
            for kw in range(kw_n):
                tap = xg[:, :, kh * dh:kh * dh + (oh - 1) * sh + 1:sh,
                         kw * dw:kw * dw + (ow - 1) * sw + 1:sw]  # [N, Cg, OH, OW]
                y[:, g * mg:(g + 1) * mg] += np.einsum("nchw,mc->nmhw", tap, wg[:, :, kh, kw])
    if b is not None:
        y += b.astype(np.float64)[None, :, None, None]
    return y
