"""2-D pooling over NHWC arrays on CUDA: twins of ``numdense.kernels.cpu.pooling``.

Forward kernels run one thread per output element; the backward kernels one thread per input
element, gathering from the windows that contain it (no atomics, deterministic).
"""

import functools

import numpy as np
from numba import cuda

from . import _config

__all__ = [
    "avgpool2d_backward_into", "avgpool2d_forward_into", "global_avgpool2d_backward_into",
    "global_avgpool2d_forward_into", "maxpool2d_backward_into", "maxpool2d_forward_into",
]


@cuda.jit(device=True)
def _unravel(e, d1, d2, d3):
    """(i0, i1, i2, i3) of flat index e in a C-ordered (*, d1, d2, d3) array."""
    i3 = e % d3
    r = e // d3
    i2 = r % d2
    r = r // d2
    return r // d1, r % d1, i2, i3


@cuda.jit(device=True)
def _window_range(o, s, p, k, size):
    """First and past-the-end input index of window o (stride s, padding before p, size k)."""
    lo = o * s - p
    hi = lo + k
    return (lo if lo > 0 else 0), (hi if hi < size else size)


@cuda.jit(device=True)
def _windows_over(h, s, p, k, out_len):
    """Range of windows (stride s, padding before p, size k) that contain input index h."""
    lo = h + p - k + 1
    first = 0 if lo <= 0 else (lo + s - 1) // s
    last = (h + p) // s + 1
    return first, (last if last < out_len else out_len)


@functools.lru_cache(maxsize=None)
def _kernels(dtype):
    T = np.dtype(dtype).type
    ZERO = T(0.0)

    @cuda.jit
    def max_fwd(x, ph, pw, sh, sw, pt, pl, out, argmax):
        h_in, w_in = x.shape[1], x.shape[2]
        for e in range(cuda.grid(1), out.size, cuda.gridsize(1)):
            n, oh, ow, c = _unravel(e, out.shape[1], out.shape[2], out.shape[3])
            h0, h1 = _window_range(oh, sh, pt, ph, h_in)
            w0, w1 = _window_range(ow, sw, pl, pw, w_in)
            best = x[n, h0, w0, c]
            where = h0 * w_in + w0
            for h in range(h0, h1):
                for w in range(w0, w1):
                    v = x[n, h, w, c]
                    if v > best:
                        best = v
                        where = h * w_in + w
            out[n, oh, ow, c] = best
            argmax[n, oh, ow, c] = where

    @cuda.jit
    def zero(dx):
        for e in range(cuda.grid(1), dx.size, cuda.gridsize(1)):
            n, h, w, c = _unravel(e, dx.shape[1], dx.shape[2], dx.shape[3])
            dx[n, h, w, c] = ZERO

    @cuda.jit
    def max_bwd(dy, argmax, dx):
        w_in = dx.shape[2]
        for e in range(cuda.grid(1), dy.size, cuda.gridsize(1)):
            n, oh, ow, c = _unravel(e, dy.shape[1], dy.shape[2], dy.shape[3])
            p = argmax[n, oh, ow, c]
            h = p // w_in
            cuda.atomic.add(dx, (n, h, p - h * w_in, c), dy[n, oh, ow, c])

    @cuda.jit
    def avg_fwd(x, ph, pw, sh, sw, pt, pl, out):
        h_in, w_in = x.shape[1], x.shape[2]
        for e in range(cuda.grid(1), out.size, cuda.gridsize(1)):
            n, oh, ow, c = _unravel(e, out.shape[1], out.shape[2], out.shape[3])
            h0, h1 = _window_range(oh, sh, pt, ph, h_in)
            w0, w1 = _window_range(ow, sw, pl, pw, w_in)
            total = ZERO
            for h in range(h0, h1):
                for w in range(w0, w1):
                    total += x[n, h, w, c]
            out[n, oh, ow, c] = total / T((h1 - h0) * (w1 - w0))

    @cuda.jit
    def avg_bwd(dy, ph, pw, sh, sw, pt, pl, dx):
        h_in, w_in = dx.shape[1], dx.shape[2]
        for e in range(cuda.grid(1), dx.size, cuda.gridsize(1)):
            n, h, w, c = _unravel(e, dx.shape[1], dx.shape[2], dx.shape[3])
            a0, a1 = _windows_over(h, sh, pt, ph, dy.shape[1])
            b0, b1 = _windows_over(w, sw, pl, pw, dy.shape[2])
            total = ZERO
            for a in range(a0, a1):
                h0, h1 = _window_range(a, sh, pt, ph, h_in)
                for b in range(b0, b1):
                    w0, w1 = _window_range(b, sw, pl, pw, w_in)
                    total += dy[n, a, b, c] / T((h1 - h0) * (w1 - w0))
            dx[n, h, w, c] = total

    @cuda.jit
    def gavg_fwd(x, out):
        h_in, w_in = x.shape[1], x.shape[2]
        for e in range(cuda.grid(1), out.size, cuda.gridsize(1)):
            n = e // out.shape[1]
            c = e - n * out.shape[1]
            total = ZERO
            for h in range(h_in):
                for w in range(w_in):
                    total += x[n, h, w, c]
            out[n, c] = total / T(h_in * w_in)

    @cuda.jit
    def gavg_bwd(dy, dx):
        scale = T(1.0) / T(dx.shape[1] * dx.shape[2])
        for e in range(cuda.grid(1), dx.size, cuda.gridsize(1)):
            n, h, w, c = _unravel(e, dx.shape[1], dx.shape[2], dx.shape[3])
            dx[n, h, w, c] = dy[n, c] * scale

    return max_fwd, max_bwd, avg_fwd, avg_bwd, gavg_fwd, gavg_bwd, zero


def _launch(index, dtype, size, *args):
    if size:
        blocks, tpb = _config.grid_1d(size)
        _kernels(np.dtype(dtype))[index][min(blocks, 65535), tpb](*args)


def maxpool2d_forward_into(x, ph, pw, sh, sw, pt, pl, out, argmax):
    """out = the max of each window; argmax = its flat position ``h * W + w`` in the image.

    x (N, H, W, C); out (N, OH, OW, C) same float dtype; argmax (N, OH, OW, C) int64;
    C-contiguous device arrays, out and argmax overwritten. ph, pw pool size; sh, sw strides;
    pt, pl padding before. Ties go to the first maximum in row-major window order. Asynchronous.
    """
    _launch(0, x.dtype, out.size, x, ph, pw, sh, sw, pt, pl, out, argmax)


def maxpool2d_backward_into(dy, argmax, dx):
    """dx[n, h, w, c] = sum of dy over the windows whose max was (h, w) (from ``argmax``).

    dy (N, OH, OW, C); argmax (N, OH, OW, C) int64 from ``maxpool2d_forward_into``; dx
    (N, H, W, C); C-contiguous device arrays; dx overwritten (zeroed, then one atomic add per
    dy element: overlapping windows sum in no fixed order). Asynchronous.
    """
    _launch(6, dx.dtype, dx.size, dx)
    _launch(1, dx.dtype, dy.size, dy, argmax, dx)


def avgpool2d_forward_into(x, ph, pw, sh, sw, pt, pl, out):
    """out = the mean of the in-bounds elements of each window.

    x (N, H, W, C); out (N, OH, OW, C); C-contiguous device arrays of one float dtype; out
    overwritten. ph, pw pool size; sh, sw strides; pt, pl padding before. Asynchronous.
    """
    _launch(2, x.dtype, out.size, x, ph, pw, sh, sw, pt, pl, out)


def avgpool2d_backward_into(dy, ph, pw, sh, sw, pt, pl, dx):
    """dx = the gradient of ``avgpool2d_forward_into``: each dy spread evenly over its window's
    in-bounds elements.

    dy (N, OH, OW, C); dx (N, H, W, C); C-contiguous device arrays of one float dtype; dx
    overwritten; one thread per dx element gathers from its windows. Asynchronous.
    """
    _launch(3, dx.dtype, dx.size, dy, ph, pw, sh, sw, pt, pl, dx)


def global_avgpool2d_forward_into(x, out):
    """out[n, c] = mean of x[n, :, :, c]; x (N, H, W, C), out (N, C); C-contiguous device arrays
    of one float dtype; out overwritten. Asynchronous."""
    _launch(4, x.dtype, out.size, x, out)


def global_avgpool2d_backward_into(dy, dx):
    """dx[n, h, w, c] = dy[n, c] / (H * W); dy (N, C), dx (N, H, W, C); C-contiguous device
    arrays of one float dtype; dx overwritten. Asynchronous."""
    _launch(5, dx.dtype, dx.size, dy, dx)
