"""2-D convolution (NHWC, Keras kernel layout) on CUDA: im2col + the fused dense GEMM kernels.

Twins of ``numdense.kernels.cpu.conv`` (same names and signatures, device arrays). ``im2col``
runs one thread per patch element; ``col2im`` one thread per input element, gathering the
patch entries that read it (no atomics, deterministic).
"""

import functools

import numpy as np
from numba import cuda

from . import _config
from .dense import dense_backward_into, dense_forward_into

__all__ = ["col2im_into", "conv2d_backward_into", "conv2d_forward_into", "im2col_into"]


@functools.lru_cache(maxsize=None)
def _kernels(dtype):
    T = np.dtype(dtype).type
    ZERO = T(0.0)

    @cuda.jit
    def im2col(x, kh, kw, sh, sw, dh, dw, pt, pl, cols):
        n_img, h_in, w_in, c_in = x.shape
        oh_len, ow_len, width = cols.shape[1], cols.shape[2], cols.shape[3]
        for e in range(cuda.grid(1), cols.size, cuda.gridsize(1)):
            k = e % width
            r = e // width
            ow = r % ow_len
            r = r // ow_len
            oh = r % oh_len
            n = r // oh_len
            c = k % c_in
            t = k // c_in
            j = t % kw
            i = t // kw
            h = oh * sh - pt + i * dh
            w = ow * sw - pl + j * dw
            if 0 <= h < h_in and 0 <= w < w_in:
                cols[n, oh, ow, k] = x[n, h, w, c]
            else:
                cols[n, oh, ow, k] = ZERO

    @cuda.jit
    def col2im(cols, kh, kw, sh, sw, dh, dw, pt, pl, dx):
        n_img, h_in, w_in, c_in = dx.shape
        oh_len, ow_len = cols.shape[1], cols.shape[2]
        for e in range(cuda.grid(1), dx.size, cuda.gridsize(1)):
            c = e % c_in
            r = e // c_in
            w = r % w_in
            r = r // w_in
            h = r % h_in
            n = r // h_in
            total = ZERO
            for i in range(kh):
                a = h + pt - i * dh
                if a < 0 or a % sh != 0 or a // sh >= oh_len:
                    continue
                for j in range(kw):
                    b = w + pl - j * dw
                    if b < 0 or b % sw != 0 or b // sw >= ow_len:
                        continue
                    total += cols[n, a // sh, b // sw, (i * kw + j) * c_in + c]
            dx[n, h, w, c] = total

    return im2col, col2im


def _launch(kernel, size, *args):
    if size:
        blocks, tpb = _config.grid_1d(size)
        kernel[min(blocks, 65535), tpb](*args)


def im2col_into(x, kh, kw, sh, sw, dh, dw, pt, pl, cols):
    """cols[n, oh, ow, (i*kw + j)*C + c] = x[n, oh*sh - pt + i*dh, ow*sw - pl + j*dw, c] (0 outside).

    x (N, H, W, C); cols (N, OH, OW, kh*kw*C); C-contiguous device arrays of one float dtype;
    cols is overwritten. kh, kw kernel size; sh, sw strides; dh, dw dilation; pt, pl padding
    before. Asynchronous.
    """
    if cols.shape[0] != x.shape[0] or cols.shape[3] != kh * kw * x.shape[3]:
        raise ValueError("im2col_into: cols must have shape (N, OH, OW, kh*kw*C)")
    _launch(_kernels(np.dtype(x.dtype))[0], cols.size, x, kh, kw, sh, sw, dh, dw, pt, pl, cols)


def col2im_into(cols, kh, kw, sh, sw, dh, dw, pt, pl, dx):
    """dx = the adjoint of ``im2col_into``: every patch element added back to its input pixel.

    cols (N, OH, OW, kh*kw*C); dx (N, H, W, C); C-contiguous device arrays of one float dtype;
    dx is overwritten. One thread per dx element gathers its patch entries. Asynchronous.
    """
    if cols.shape[0] != dx.shape[0] or cols.shape[3] != kh * kw * dx.shape[3]:
        raise ValueError("col2im_into: cols must have shape (N, OH, OW, kh*kw*C)")
    _launch(_kernels(np.dtype(dx.dtype))[1], dx.size, cols, kh, kw, sh, sw, dh, dw, pt, pl, dx)


def _rows(a, rows, width):
    """A (rows, width) view of a C-contiguous device array, (0, 0) for an empty one."""
    return a.reshape(rows, width) if a.size else a.reshape(0, 0)


def conv2d_forward_into(x, w, b, cols, out, preact, sh, sw, dh, dw, pt, pl, kind, p0, p1, p2):
    """out = act(conv2d(x, w) + b), NHWC, through im2col and the fused dense GEMM.

    x (N, H, W, C); w (KH, KW, C, F) (Keras layout); b (F,) or (0,) for no bias; cols
    (N, OH, OW, KH*KW*C) scratch, overwritten with the patches (keep it for the backward);
    out (N, OH, OW, F); preact like out, or shape (0, 0, 0, 0) to skip it. C-contiguous
    device arrays of one float dtype. sh, sw strides; dh, dw dilation; pt, pl padding before;
    kind, p0, p1, p2 the activation. Asynchronous.
    """
    kh, kw, c_in, f = w.shape
    n_img, oh_len, ow_len, width = cols.shape
    if x.shape[3] != c_in or tuple(out.shape) != (n_img, oh_len, ow_len, f):
        raise ValueError("conv2d_forward_into: x, w, cols and out shapes do not match")
    im2col_into(x, kh, kw, sh, sw, dh, dw, pt, pl, cols)
    rows = n_img * oh_len * ow_len
    dense_forward_into(_rows(cols, rows, width), w.reshape(width, f), b, _rows(out, rows, f),
                       _rows(preact, rows, f), kind, p0, p1, p2)


def conv2d_backward_into(cols, w, preact, y, dy, dz, dcols, dx, dw, db, sh, sw, dil_h, dil_w, pt, pl,
                         kind, p0, p1, p2, need_dx):
    """Gradients of ``conv2d_forward_into``: dz = act'(preact) * dy, dw = cols.T @ dz,
    db = sum(dz), dcols = dz @ w.T and dx = col2im(dcols).

    cols (N, OH, OW, KH*KW*C); w (KH, KW, C, F); preact, y, dy, dz (N, OH, OW, F) (preact and y
    may be (0, 0, 0, 0) for a linear activation); dcols like cols, dx (N, H, W, C); dw like w;
    db (F,) or (0,) to skip. C-contiguous device arrays of one float dtype; dz, dw, db and (if
    need_dx) dcols and dx are overwritten. Asynchronous.
    """
    kh, kw, c_in, f = w.shape
    n_img, oh_len, ow_len, width = cols.shape
    rows = n_img * oh_len * ow_len
    if tuple(dy.shape) != (n_img, oh_len, ow_len, f):
        raise ValueError("conv2d_backward_into: dy shape does not match cols and w")
    dense_backward_into(_rows(cols, rows, width), w.reshape(width, f), _rows(preact, rows, f),
                        _rows(y, rows, f), _rows(dy, rows, f), _rows(dz, rows, f),
                        _rows(dcols, rows, width),
                        dw.reshape(width, f), db, kind, p0, p1, p2, need_dx)
    if need_dx:
        col2im_into(dcols, kh, kw, sh, sw, dil_h, dil_w, pt, pl, dx)
