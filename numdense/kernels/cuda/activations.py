"""CUDA activation kernels: forward values and gradients of every kind in ``activation_kinds``.

Element-wise kinds run one thread per element; SOFTMAX and LOG_SOFTMAX run one thread per row
(``row_forward_into`` / ``row_backward_into``, also used after the dense GEMM). The math is in
``_actmath`` (device functions per dtype, the CPU module's formulas and constants).
"""

import functools
import math

import numpy as np
from numba import cuda

from .. import activation_kinds as A
from ..cpu.activations import NEEDS_Y
from . import _config
from ._dmath import fmax
from ._actmath import activation_math
from ._arrays import finish, float_dtype, is_device, to_device

__all__ = ["activation_backward", "activation_backward_into", "activation_forward", "activation_forward_into", "NEEDS_Y"]

_MAX_KIND = max(v for k, v in vars(A).items() if k.isupper() and isinstance(v, int))


@functools.lru_cache(maxsize=None)
def _kernels(dtype):
    T = np.dtype(dtype).type
    f = activation_math(np.dtype(dtype))
    fwd, bwd = f.forward, f.backward
    ZERO = T(0.0)
    NEG_INF = T(-np.inf)

    @cuda.jit
    def forward(x, out, kind, a, b, c):
        """out[i, j] = act(x[i, j]); x, out (M, N) of one dtype; element-wise kinds only."""
        n = x.shape[1]
        for e in range(cuda.grid(1), x.size, cuda.gridsize(1)):
            i = e // n
            j = e - i * n
            out[i, j] = fwd(x[i, j], kind, a, b, c)

    @cuda.jit
    def backward(x, y, dy, dx, kind, a, b, c):
        """dx[i, j] = dy[i, j] * act'(x[i, j]); y read only by the kinds that need it."""
        n = x.shape[1]
        for e in range(cuda.grid(1), x.size, cuda.gridsize(1)):
            i = e // n
            j = e - i * n
            dx[i, j] = bwd(x[i, j], y[i, j], dy[i, j], kind, a, b, c)

    @cuda.jit
    def row_forward(x, out, log):
        """Softmax (log_softmax when log) of each row of x (M, N) into out; one thread per row."""
        i = cuda.grid(1)
        if i >= x.shape[0]:
            return
        n = x.shape[1]
        top = NEG_INF
        for j in range(n):
            top = fmax(top, x[i, j])
        total = ZERO
        for j in range(n):
            e = math.exp(x[i, j] - top)
            if not log:
                out[i, j] = e
            total += e
        if log:
            log_total = math.log(total)
            for j in range(n):
                out[i, j] = (x[i, j] - top) - log_total
        else:
            for j in range(n):
                out[i, j] = out[i, j] / total

    @cuda.jit
    def row_backward(y, dy, dx, log):
        """Softmax VJP dx = y * (dy - sum(dy * y)) per row, or for log_softmax
        dx = dy - exp(y) * sum(dy); one thread per row."""
        i = cuda.grid(1)
        if i >= y.shape[0]:
            return
        n = y.shape[1]
        total = ZERO
        for j in range(n):
            total += dy[i, j] if log else dy[i, j] * y[i, j]
        for j in range(n):
            if log:
                dx[i, j] = dy[i, j] - math.exp(y[i, j]) * total
            else:
                dx[i, j] = y[i, j] * (dy[i, j] - total)

    return forward, backward, row_forward, row_backward


def _params(dtype, kind, p0, p1, p2):
    if not 0 <= int(kind) <= _MAX_KIND:
        raise ValueError("unknown activation kind")
    T = np.dtype(dtype).type
    return int(kind), T(p0), T(p1), T(p2)


def _launch_elementwise(kernel, size, *args):
    if size:
        blocks, tpb = _config.grid_1d(size)
        kernel[min(blocks, 65535), tpb](*args)


def row_forward_into(x, out, kind):
    """Row-wise softmax (kind SOFTMAX) or log_softmax (LOG_SOFTMAX) of x (M, N) into out (M, N);
    C-contiguous device arrays of one float dtype; out may be x."""
    if x.shape[0] and x.shape[1]:
        blocks, tpb = _config.grid_1d(x.shape[0])
        _kernels(np.dtype(x.dtype))[2][blocks, tpb](x, out, int(kind) == A.LOG_SOFTMAX)


def activation_forward_into(x, out, kind, p0, p1, p2):
    """Writes ``activation(x)`` into ``out``.

    x, out: 2-D (rows, cols) C-contiguous device arrays of one dtype, float32 or float64 (out may
    be x). kind, p0, p1, p2: an id from ``activation_kinds`` and its parameters. Element-wise kinds
    use one thread per element, SOFTMAX / LOG_SOFTMAX one per row. Raises ValueError for an
    unknown kind (before launching).
    """
    kind, a, b, c = _params(x.dtype, kind, p0, p1, p2)
    if kind in A.ROW_WISE:
        row_forward_into(x, out, kind)
    else:
        _launch_elementwise(_kernels(np.dtype(x.dtype))[0], x.size, x, out, kind, a, b, c)


def activation_backward_into(x, y, dy, dx, kind, p0, p1, p2):
    """Writes ``dy * activation'(x)`` (the vector-Jacobian product for softmax kinds) into ``dx``.

    x: the pre-activation; y: the forward output (read only by ``NEEDS_Y`` kinds; others accept
    any array of the shape); dy: the upstream gradient; dx: the result (may be dy). All 2-D
    (rows, cols) C-contiguous device arrays of one dtype, float32 or float64; kind, p0, p1, p2 as
    for the forward kernel. Softmax: ``dx = y * (dy - sum(dy * y, row))``; log_softmax:
    ``dx = dy - exp(y) * sum(dy, row)``.
    """
    kind, a, b, c = _params(x.dtype, kind, p0, p1, p2)
    ks = _kernels(np.dtype(x.dtype))
    if kind in A.ROW_WISE:
        if x.shape[0] and x.shape[1]:
            blocks, tpb = _config.grid_1d(x.shape[0])
            ks[3][blocks, tpb](y, dy, dx, kind == A.LOG_SOFTMAX)
    else:
        _launch_elementwise(ks[1], x.size, x, y, dy, dx, kind, a, b, c)


def _rows(x, kind):
    """x as a 2-D C-contiguous array (last axis kept for row-wise kinds) and its original shape."""
    shape = tuple(x.shape)
    if int(kind) in A.ROW_WISE:
        rows = (int(np.prod(shape[:-1], dtype=np.int64)), shape[-1]) if shape else (1, 1)
    else:
        rows = (1, int(np.prod(shape, dtype=np.int64)))
    return to_device(x).reshape(rows), shape


def activation_forward(x, kind, p0=0.0, p1=np.inf, p2=0.0):
    """``activation(x)`` of a NumPy or device float32/float64 array of any rank (row-wise kinds
    over the last axis). Returns NumPy for NumPy input, else a device array."""
    host = not is_device(x)
    float_dtype("activation_forward", x)
    xr, shape = _rows(x, kind)
    out = cuda.device_array(xr.shape, dtype=xr.dtype)
    activation_forward_into(xr, out, kind, p0, p1, p2)
    return finish(out.reshape(shape), None, host)


def activation_backward(x, dy, kind, p0=0.0, p1=np.inf, p2=0.0, y=None):
    """``dL/dx`` from ``dL/dy`` (both of x's shape and dtype), any rank, NumPy or device arrays;
    ``y`` is computed when not given and the kind needs it."""
    host = not (is_device(x) or is_device(dy))
    float_dtype("activation_backward", x)
    xr, shape = _rows(x, kind)
    dyr, _ = _rows(to_device(dy, xr.dtype), kind)
    if int(kind) in NEEDS_Y:
        yr = _rows(y, kind)[0] if y is not None else cuda.device_array(xr.shape, dtype=xr.dtype)
        if y is None:
            activation_forward_into(xr, yr, kind, p0, p1, p2)
    else:
        yr = xr
    dx = cuda.device_array(xr.shape, dtype=xr.dtype)
    activation_backward_into(xr, yr, dyr, dx, kind, p0, p1, p2)
    return finish(dx.reshape(shape), None, host)
