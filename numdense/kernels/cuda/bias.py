"""Bias broadcast and its gradient (a column reduction over rows) as CUDA kernels."""

import functools

import numpy as np
from numba import cuda

from . import _config
from ._dmath import fmin
from ._arrays import check_ndim, device_out, finish, float_dtype, is_device, to_device

__all__ = ["bias_add", "bias_add_into", "bias_grad", "bias_grad_into"]

_ROWS = 128  # rows summed into a fresh partial before it is added to db, as the CPU kernel


@functools.lru_cache(maxsize=None)
def _kernels(dtype):
    T = np.dtype(dtype).type
    ZERO = T(0.0)

    @cuda.jit
    def add(x, b, out):
        """out[i, j] = x[i, j] + b[j]; x, out (M, N), b (N,); out may be x."""
        n = x.shape[1]
        for e in range(cuda.grid(1), x.size, cuda.gridsize(1)):
            i = e // n
            j = e - i * n
            out[i, j] = x[i, j] + b[j]

    @cuda.jit
    def grad(dy, db, accumulate):
        """db[j] (+)= sum_i dy[i, j]; one thread per column, so a warp reads a row segment."""
        j = cuda.grid(1)
        if j >= db.shape[0]:
            return
        total = db[j] if accumulate else ZERO
        m = dy.shape[0]
        for i0 in range(0, m, _ROWS):
            part = ZERO
            for i in range(i0, fmin(i0 + _ROWS, m)):
                part += dy[i, j]
            total += part
        db[j] = total

    return add, grad


def bias_add_into(x, b, out):
    """out[i, j] = x[i, j] + b[j].

    x, out: (M, N); b: (N,); C-contiguous device arrays of one float dtype (float32 or float64).
    out is written in place and may be x itself.
    """
    if x.size:
        blocks, tpb = _config.grid_1d(x.size)
        _kernels(np.dtype(x.dtype))[0][min(blocks, 65535), tpb](x, b, out)


def bias_grad_into(dy, db, accumulate):
    """db[j] = sum_i dy[i, j], or db[j] += that sum when accumulate.

    dy: (M, N); db: (N,); C-contiguous device arrays of one float dtype; db is written in place.
    One thread per column; rows are summed in blocks of 128 before being added (as on the CPU).
    """
    if db.shape[0]:
        blocks, tpb = _config.grid_1d(db.shape[0])
        _kernels(np.dtype(dy.dtype))[1][blocks, tpb](dy, db, bool(accumulate))


def bias_add(x, b, out=None):
    """Return ``x + b`` for x (M, N) and b (N,), NumPy or device arrays (see ``matmul`` for the
    return rule); mixed dtypes promote to float64."""
    host = not (is_device(x) or is_device(b))
    check_ndim("bias_add", "x", x, 2)
    check_ndim("bias_add", "b", b, 1)
    if b.shape[0] != x.shape[1]:
        raise ValueError(f"bias_add: b must have shape ({x.shape[1]},), got {tuple(b.shape)}")
    dtype = float_dtype("bias_add", x, b)
    res = device_out("bias_add", out, tuple(x.shape), dtype)
    bias_add_into(to_device(x, dtype), to_device(b, dtype), res)
    return finish(res, out, host)


def bias_grad(dy, out=None, accumulate=False):
    """Return ``dy.sum(axis=0)`` for dy (M, N), or add it to ``out`` when accumulate."""
    host = not is_device(dy)
    check_ndim("bias_grad", "dy", dy, 2)
    dtype = float_dtype("bias_grad", dy)
    res = device_out("bias_grad", out, (dy.shape[1],), dtype)
    bias_grad_into(to_device(dy, dtype), res, bool(accumulate) and out is not None)
    return finish(res, out, host)
