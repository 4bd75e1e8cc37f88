# Byte moves both plan loops (_runtime.pyx, _dynamic.pyx) use for Transpose: one implementation.
from libc.stdint cimport int64_t
from libc.string cimport memcpy

DEF PERMUTE_MAX_RANK = 16
DEF TILE = 16  # elements per side of the tiles an element-wise transpose moves (16 floats: a cache line)


cdef inline void _copy_element(char* dst, const char* src, int64_t size) noexcept nogil:
    if size == 4:  # constant sizes: the compiler emits one move (no alignment assumed)
        memcpy(dst, src, 4)
    elif size == 8:
        memcpy(dst, src, 8)
    elif size == 2:
        memcpy(dst, src, 2)
    elif size == 1:
        dst[0] = src[0]
    else:
        memcpy(dst, src, size)


cdef inline void _permute_tiled(const char* x, char* out, const int64_t* out_dims, const int64_t* in_stride,
                                int q, int n, int64_t itemsize) noexcept nogil:
    """The last axis moves (out axis q is x's last axis): element copies, in TILE x TILE tiles of
    out axes (q, n - 1) so that both the reads (along x's last axis) and the writes (along the
    output's last axis) stay within a few cache lines."""
    cdef int64_t out_stride[PERMUTE_MAX_RANK]
    cdef int64_t idx[PERMUTE_MAX_RANK]
    cdef int64_t t = itemsize, count = 1, x_off = 0, o_off = 0, e, i0, j0, i, j, di, dj
    cdef int d, k, last = n - 1
    for d in range(n - 1, -1, -1):
        out_stride[d] = t
        t *= out_dims[d]
        idx[d] = 0
        if d != q and d != last:
            count *= out_dims[d]
    di, dj = out_dims[q], out_dims[last]
    for e in range(count):
        i0 = 0
        while i0 < di:
            j0 = 0
            while j0 < dj:
                for i in range(i0, min(i0 + TILE, di)):
                    for j in range(j0, min(j0 + TILE, dj)):
                        _copy_element(out + o_off + i * out_stride[q] + j * itemsize,
                                      x + x_off + i * itemsize + j * in_stride[last], itemsize)
                j0 += TILE
            i0 += TILE
        k = last - 1  # the next index of the other axes, odometer style
        while k >= 0:
            if k == q:
                k -= 1
                continue
            idx[k] += 1
            x_off += in_stride[k]
            o_off += out_stride[k]
            if idx[k] < out_dims[k]:
                break
            x_off -= idx[k] * in_stride[k]
            o_off -= idx[k] * out_stride[k]
            idx[k] = 0
            k -= 1


cdef inline void permute_bytes(const char* x, char* out, const int64_t* dims, const int64_t* perm, int n,
                               int64_t itemsize) noexcept nogil:
    """out = x transposed by perm (out axis d is x axis perm[d]); dims: x's shape, n <= 16.
    The innermost axes that stay in place move as one block; the rest are walked odometer
    style; when the last axis moves too, elements move in tiles (_permute_tiled)."""
    cdef int64_t out_dims[PERMUTE_MAX_RANK]
    cdef int64_t stride[PERMUTE_MAX_RANK]     # x's byte strides, in output axis order
    cdef int64_t x_stride[PERMUTE_MAX_RANK]
    cdef int64_t idx[PERMUTE_MAX_RANK]
    cdef int64_t block, count = 1, t, off = 0
    cdef int d, keep = n, k
    while keep > 0 and perm[keep - 1] == keep - 1:
        keep -= 1
    block = itemsize
    for d in range(keep, n):
        block *= dims[d]
    t = itemsize
    for d in range(n - 1, -1, -1):
        x_stride[d] = t
        t *= dims[d]
    for d in range(keep):
        out_dims[d] = dims[perm[d]]
        stride[d] = x_stride[perm[d]]
        idx[d] = 0
        count *= out_dims[d]
    if block == 0:
        return
    if keep == n and n >= 2:
        for d in range(n):
            if perm[d] == n - 1:
                _permute_tiled(x, out, out_dims, stride, d, n, itemsize)
                return
    for t in range(count):
        _copy_element(out, x + off, block)
        out += block
        k = keep - 1
        while k >= 0:
            idx[k] += 1
            off += stride[k]
            if idx[k] < out_dims[k]:
                break
            off -= idx[k] * stride[k]
            idx[k] = 0
            k -= 1
