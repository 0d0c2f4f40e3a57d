"""Bias broadcast and its gradient as Numba kernels, with NumPy-facing wrappers."""

import numpy as np

from ._jit import kernel
from .matmul import check_out, result_dtype

__all__ = ["bias_add", "bias_add_into", "bias_grad", "bias_grad_into"]

_ROWS = 128  # rows summed into a fresh partial before it is added to db (keeps float32 error low)


@kernel
def bias_add_into(x, b, out):
    """out[i, j] = x[i, j] + b[j].

    x, out: (M, N); b: (N,); all C-contiguous, one float dtype (float32 or float64). out is written
    in place and may be x itself.
    """
    for i in range(x.shape[0]):
        xr = x[i]
        orow = out[i]
        for j in range(b.shape[0]):
            orow[j] = xr[j] + b[j]


@kernel
def bias_grad_into(dy, db, accumulate):
    """db[j] = sum_i dy[i, j], or db[j] += that sum when accumulate.

    dy: (M, N); db: (N,); C-contiguous, one float dtype (float32 or float64); db is written in place.
    Rows are summed in blocks of 128 before being added to db.
    """
    if not accumulate:
        db[:] = 0
    part = np.empty_like(db)
    for i0 in range(0, dy.shape[0], _ROWS):
        part[:] = 0
        for i in range(i0, min(i0 + _ROWS, dy.shape[0])):
            row = dy[i]
            for j in range(part.shape[0]):
                part[j] += row[j]
        for j in range(part.shape[0]):
            db[j] += part[j]


def _float_array(func, name, x, ndim):
    x = np.asarray(x)
    if x.ndim != ndim:
        raise ValueError(f"{func}: {name} must be a {ndim}-D array, got {x.ndim}-D with shape {x.shape}")
    if x.dtype not in (np.float32, np.float64):
        raise TypeError(f"{func}: {name} must have dtype float32 or float64, got {x.dtype}")
    return x


def bias_add(x, b, out=None):
    """Return ``x + b`` with b (N,) broadcast over the rows of x (M, N); float32/float64.

    Mixed dtypes promote to float64. ``out`` (M, N), if given, must be C-contiguous with the result
    dtype; it may be ``x`` itself. Returns ``out``.
    """
    x = _float_array("bias_add", "x", x, 2)
    b = _float_array("bias_add", "b", b, 1)
    if b.shape[0] != x.shape[1]:
        raise ValueError(f"bias_add: b must have shape ({x.shape[1]},) to match x of shape {x.shape}, got {b.shape}")
    dtype = result_dtype(x, b)
    if out is None:
        out = np.empty(x.shape, dtype=dtype)
    else:
        check_out("bias_add", out, x.shape, dtype)
    x = np.ascontiguousarray(x, dtype=dtype)
    b = np.ascontiguousarray(b, dtype=dtype)
    if np.may_share_memory(b, out):
        b = b.copy()
    bias_add_into(x, b, out)
    return out


def bias_grad(dy, out=None, accumulate=False):
    """Return ``dy.sum(axis=0)`` for dy (M, N) float32/float64, or add it to ``out`` when accumulate.

    ``out`` (N,), if given, must be C-contiguous with dy's dtype. Returns ``out``.
    """
    dy = _float_array("bias_grad", "dy", dy, 2)
    if out is None:
        out = np.zeros(dy.shape[1], dtype=dy.dtype)
    else:
        check_out("bias_grad", out, (dy.shape[1],), dy.dtype)
    dy = np.ascontiguousarray(dy)
    if np.may_share_memory(dy, out):
        dy = dy.copy()
    bias_grad_into(dy, out, bool(accumulate))
    return out
