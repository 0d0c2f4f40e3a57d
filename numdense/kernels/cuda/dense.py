"""Fused Dense layer kernels on CUDA: ``act(x @ w + b)`` forward and its gradients.

The forward adds the bias and applies element-wise activations in the GEMM write-back
(``matmul.gemm_kernel(..., dense=True)``); softmax kinds then run a row-wise kernel.
"""

import numpy as np
from numba import cuda

from ..activation_kinds import LINEAR, ROW_WISE
from ._arrays import check_ndim, finish, float_dtype, is_device, to_device
from .activations import _params, activation_backward_into, activation_forward_into, row_forward_into
from .bias import bias_grad_into
from .matmul import launch_gemm, matmul_nt_into, matmul_tn_into

__all__ = ["dense_backward", "dense_backward_into", "dense_forward", "dense_forward_into"]


def dense_forward_into(x, w, b, out, preact, kind, p0, p1, p2):
    """out = act(x @ w + b) in one GEMM pass (bias and activation in the write-back).

    x (M, K), w (K, N), out (M, N); b (N,) or (0,) for no bias; preact (M, N) receives x @ w + b,
    or pass shape (0, 0) to skip it. C-contiguous device arrays of one float dtype (float32 or
    float64); out and preact must not overlap x, w, b or each other. kind, p0, p1, p2: activation
    id and parameters. Row-wise kinds (softmax) finish with one more kernel over out.
    """
    m, k = x.shape
    n = w.shape[1]
    if w.shape[0] != k or tuple(out.shape) != (m, n):
        raise ValueError("dense_forward_into: x, w and out shapes do not match")
    if b.shape[0] not in (0, n):
        raise ValueError("dense_forward_into: b must have shape (N,) or (0,)")
    if preact.shape[0] or preact.shape[1]:
        if tuple(preact.shape) != (m, n):
            raise ValueError("dense_forward_into: preact must have shape (M, N) or (0, 0)")
    kind, a, bb, c = _params(x.dtype, kind, p0, p1, p2)
    launch_gemm(m, n, x.dtype, False, False, True, x, w, b, out, preact, kind, a, bb, c)
    if kind in ROW_WISE:
        row_forward_into(out, out, kind)


def dense_backward_into(x, w, preact, y, dy, dz, dx, dw, db, kind, p0, p1, p2, need_dx):
    """Gradients of y = act(x @ w + b): dz = act'(preact) * dy, dw = x.T @ dz, db = sum(dz, 0),
    dx = dz @ w.T.

    x (M, K), w (K, N), preact, y, dy, dz (M, N), dx (M, K), dw (K, N), db (N,) or (0,) to skip;
    C-contiguous device arrays of one float dtype. dz, dw, db and (if need_dx) dx are
    overwritten; dz may be dy itself. preact and y are the forward's pre-activation and output
    (y is read only by the kinds in ``activations.NEEDS_Y``).
    """
    m, k = x.shape
    n = w.shape[1]
    if w.shape[0] != k or tuple(dy.shape) != (m, n) or tuple(dz.shape) != (m, n):
        raise ValueError("dense_backward_into: x, w, dy and dz shapes do not match")
    if int(kind) == LINEAR:
        activation_backward_into(dy, dy, dy, dz, LINEAR, 0.0, 0.0, 0.0)
    else:
        activation_backward_into(preact, y, dy, dz, kind, p0, p1, p2)
    matmul_tn_into(x, dz, dw, False)
    if db.shape[0]:
        bias_grad_into(dz, db, False)
    if need_dx:
        matmul_nt_into(dz, w, dx, False)


def dense_forward(x, w, b=None, kind=LINEAR, p0=0.0, p1=np.inf, p2=0.0, return_preact=False):
    """Return ``act(x @ w + b)`` for x (M, K), w (K, N), b (N,) or None (NumPy or device arrays;
    NumPy results when all inputs are NumPy). With ``return_preact`` returns ``(out, x @ w + b)``."""
    host = not any(is_device(v) for v in (x, w, b) if v is not None)
    check_ndim("dense_forward", "x", x, 2)
    check_ndim("dense_forward", "w", w, 2)
    dtype = float_dtype("dense_forward", x, w, *([] if b is None else [b]))
    m, n = x.shape[0], w.shape[1]
    bias = cuda.device_array(0, dtype) if b is None else to_device(b, dtype)
    out = cuda.device_array((m, n), dtype)
    preact = cuda.device_array((m, n) if return_preact else (0, 0), dtype)
    dense_forward_into(to_device(x, dtype), to_device(w, dtype), bias, out, preact, kind, p0, p1, p2)
    if return_preact:
        return finish(out, None, host), finish(preact, None, host)
    return finish(out, None, host)


def dense_backward(x, w, preact, y, dy, kind=LINEAR, p0=0.0, p1=np.inf, p2=0.0, need_dx=True, need_db=True):
    """Return ``(dx, dw, db)`` for y = act(x @ w + b) given dy (M, N); see the CPU twin. y may be
    None (recomputed when needed); dx / db are None unless requested."""
    host = not any(is_device(v) for v in (x, w, preact, y, dy) if v is not None)
    dtype = float_dtype("dense_backward", x, w, dy)
    x, w, dy = (to_device(v, dtype) for v in (x, w, dy))
    m, n = x.shape[0], w.shape[1]
    preact = dy if preact is None else to_device(preact, dtype)
    if y is None:
        y = cuda.device_array((m, n), dtype)
        activation_forward_into(preact, y, kind, p0, p1, p2)
    else:
        y = to_device(y, dtype)
    dz = cuda.device_array((m, n), dtype)
    dx = cuda.device_array(x.shape if need_dx else (0, 0), dtype)
    dw = cuda.device_array(w.shape, dtype)
    db = cuda.device_array(n if need_db else 0, dtype)
    dense_backward_into(x, w, preact, y, dy, dz, dx, dw, db, kind, p0, p1, p2, need_dx)
    return (
        finish(dx, None, host) if need_dx else None,
        finish(dw, None, host),
        finish(db, None, host) if need_db else None,
    )
