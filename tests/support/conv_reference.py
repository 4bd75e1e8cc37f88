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


def ref_conv3d(x, w, b, strides, pads, dilations, group=1):
    """The same for 3-D ([N, C, D, H, W]); pads [begin d, h, w, end d, h, w]."""
    import itertools

    x, w = x.astype(np.float64), w.astype(np.float64)
    m, cg, kt_n, kh_n, kw_n = w.shape
    xp = np.pad(x, ((0, 0), (0, 0)) + tuple((pads[i], pads[3 + i]) for i in range(3)))
    out = [(xp.shape[2 + i] - (k - 1) * dilations[i] - 1) // strides[i] + 1 for i, k in enumerate(w.shape[2:])]
    y = np.zeros((x.shape[0], m) + tuple(out))
    mg = m // group
    for g in range(group):
        for kt, kh, kw in itertools.product(range(kt_n), range(kh_n), range(kw_n)):
            starts = (kt * dilations[0], kh * dilations[1], kw * dilations[2])
            tap = xp[:, g * cg:(g + 1) * cg][tuple([slice(None), slice(None)] + [
                slice(s0, s0 + (o - 1) * st + 1, st) for s0, o, st in zip(starts, out, strides)])]
            y[:, g * mg:(g + 1) * mg] += np.einsum("ncdhw,mc->nmdhw", tap, w[g * mg:(g + 1) * mg, :, kt, kh, kw])
    if b is not None:
        y += b.astype(np.float64)[None, :, None, None, None]
    return y
