"""CUDA loss kernels: per-sample Keras 3 loss values and their gradients w.r.t. ``y_pred``.

One thread per row evaluates ``_lossmath.row_loss`` (the CPU module's formulas, float64 inside);
the weighted total is a device reduction, copied to the host only by the functions that
return it. Kind ids: ``numdense.kernels.loss_kinds``.
"""

import functools

import numpy as np
from numba import cuda

from .. import loss_kinds as K
from ..cpu.losses import DEFAULT_EPS, _prepare
from . import _config
from ._arrays import is_device, to_device
from ._lossmath import row_loss
from ._reduce import reduce_into, scalar_buffer

__all__ = ["loss_grad", "loss_grad_into", "loss_value_and_grad_into", "loss_values", "loss_values_into"]


@functools.lru_cache(maxsize=None)
def _kernels(dtype):
    @cuda.jit
    def rows(t, p, weights, out, dy, wv, kind, p0, eps, lo, hi, flagbuf, values, grad):
        """Row r: out[r] = loss_r (if values), dy[r] = weights[r] * dloss_r/dp (if grad),
        wv[r] = weights[r] * loss_r (float64, for the total); one thread per row."""
        r = cuda.grid(1)
        if r >= p.shape[0]:
            return
        w = np.float64(weights[r]) if grad else 1.0
        v = row_loss(kind, t, p, dy, r, w, grad, p0, eps, lo, hi, flagbuf[0])
        if values:
            out[r] = v
        wv[r] = w * v

    @cuda.jit
    def hinge_flag(t, flagbuf):
        """flagbuf[0] = 0 if any label is neither 0 nor 1 (all writers store the same value)."""
        k = t.shape[1]
        for e in range(cuda.grid(1), t.size, cuda.gridsize(1)):
            i = e // k
            if t[i, e - i * k] != 0 and t[i, e - i * k] != 1:
                flagbuf[0] = 0

    return rows, hinge_flag


def _run(y_true, y_pred, weights, out, dy, kind, p0, eps, values, grad, want_total):
    n, k = y_pred.shape
    if n == 0:
        return 0.0
    sparse = kind in K.SPARSE
    t2 = y_true.reshape((n, y_true.size // n))
    if t2.shape[1] != (1 if sparse else k):
        raise ValueError("loss kernel: y_true does not match y_pred")
    if (values and out.shape[0] != n) or (grad and tuple(dy.shape) != (n, k)):
        raise ValueError("loss kernel: output shape does not match y_pred")
    if grad and weights.shape[0] != n:
        raise ValueError("loss kernel: weights shape does not match y_pred")
    dtype = np.dtype(y_pred.dtype)
    T = dtype.type
    # Clip bounds in the input dtype (float32 rounds 1 - 1e-7 to 1 - 2**-23), as the CPU kernel.
    lo, hi = float(T(eps)), float(T(1.0 - eps))
    rows, hinge_flag = _kernels(dtype)
    hinge = kind in (K.HINGE, K.SQUARED_HINGE)
    flagbuf = cuda.to_device(np.array([1 if hinge else 0], dtype=np.int64))
    if hinge:
        blocks, tpb = _config.grid_1d(t2.size)
        hinge_flag[min(blocks, 65535), tpb](t2, flagbuf)
    wv = cuda.device_array(n, dtype=np.float64)
    if not values:
        out = cuda.device_array(0, dtype=dtype)
    if not grad:
        dy = cuda.device_array((n, 0), dtype=dtype)
        weights = out
    blocks, tpb = _config.grid_1d(n)
    rows[blocks, tpb](t2, y_pred, weights, out, dy, wv, int(kind), float(p0), float(eps), lo, hi, flagbuf, values, grad)
    if not want_total:
        return None
    buf = scalar_buffer()
    reduce_into("total", np.float64, wv, buf, 0)
    return float(buf.copy_to_host()[0])


def _check_kind(kind):
    if int(kind) not in K.NAMES:
        raise ValueError(f"Unknown loss kind: {kind!r}")
    return int(kind)


def loss_values_into(y_true, y_pred, out, kind, p0, eps=DEFAULT_EPS):
    """Per-sample loss values, written in place.

    y_true: (rows, k), or (rows,) float class labels for the sparse kinds; y_pred: (rows, k);
    out: (rows,). C-contiguous device arrays of one float dtype. kind: an id from
    ``loss_kinds``; p0: its parameter; eps: the fuzz factor. Writes ``out[r]`` = the Keras
    per-sample loss of row r.
    """
    _run(y_true, y_pred, None, out, None, _check_kind(kind), p0, eps, True, False, False)


def loss_grad_into(y_true, y_pred, weights, dy, kind, p0, eps=DEFAULT_EPS):
    """Writes ``dy = d/dy_pred sum_r weights[r] * loss_r`` in place.

    y_true as in ``loss_values_into``; y_pred, dy: (rows, k); weights: (rows,); C-contiguous
    device arrays of one float dtype.
    """
    _run(y_true, y_pred, weights, None, dy, _check_kind(kind), p0, eps, False, True, False)


def loss_value_and_grad_into(y_true, y_pred, weights, dy, kind, p0, eps=DEFAULT_EPS):
    """Writes ``dy`` as ``loss_grad_into`` and returns ``sum_r weights[r] * loss_r`` as a Python
    float (reduced on the device; this copy to the host synchronizes)."""
    return _run(y_true, y_pred, weights, None, dy, _check_kind(kind), p0, eps, False, True, True)


def _inputs(kind, y_true, y_pred):
    if is_device(y_true) or is_device(y_pred):
        return to_device(y_true), to_device(y_pred), tuple(y_pred.shape[:-1]), False
    t, p, lead = _prepare(kind, y_true, y_pred)
    return to_device(t), to_device(p), lead, True


def loss_values(kind, y_true, y_pred, p0=0.0, eps=DEFAULT_EPS):
    """Per-sample losses (shape ``y_pred.shape[:-1]``); NumPy inputs are validated and
    converted as by the CPU wrapper and give a NumPy result; device inputs must be 2-D."""
    t, p, lead, host = _inputs(kind, y_true, y_pred)
    out = cuda.device_array(p.shape[0], dtype=p.dtype)
    loss_values_into(t, p, out, kind, float(p0), float(eps))
    return out.copy_to_host().reshape(lead) if host else out


def loss_grad(kind, y_true, y_pred, weights=None, p0=0.0, eps=DEFAULT_EPS):
    """Gradient of ``sum(weights * loss_values(...))`` w.r.t. ``y_pred``; see ``loss_values``."""
    t, p, lead, host = _inputs(kind, y_true, y_pred)
    w = np.ones(p.shape[0], p.dtype) if weights is None else np.broadcast_to(weights, lead).reshape(-1)
    dy = cuda.device_array(p.shape, dtype=p.dtype)
    loss_grad_into(t, p, to_device(w, p.dtype), dy, kind, float(p0), float(eps))
    return dy.copy_to_host().reshape(np.shape(y_pred)) if host else dy
