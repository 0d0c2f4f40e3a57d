"""CUDA weight-constraint kernel (per-column, per-row or whole-array norm rescaling, or a clamp),
applied in place; kind and axis ids are those of ``numdense.kernels.cpu.constraints``."""

import functools
import math

import numpy as np
from numba import cuda

from ..cpu.constraints import AXIS_COLUMNS, AXIS_ROWS, MAX_NORM, MIN_MAX_NORM, NON_NEG, NONE, UNIT_NORM
from . import _config
from ._dmath import fmax, fmin
from ._reduce import reduce_into, scalar_buffer

__all__ = ["constraint_apply_into", "NONE", "MAX_NORM", "NON_NEG", "UNIT_NORM", "MIN_MAX_NORM"]


@cuda.jit(device=True)
def _scale(norm, kind, p0, p1, p2, eps):
    if kind == MAX_NORM:
        desired = fmin(fmax(norm, 0.0), p0)
    elif kind == UNIT_NORM:
        desired = 1.0
    else:
        desired = p2 * fmin(fmax(norm, p0), p1) + (1.0 - p2) * norm
    return desired / (eps + norm)


@functools.lru_cache(maxsize=None)
def _kernels(dtype):
    T = np.dtype(dtype).type
    ZERO = T(0.0)

    @cuda.jit
    def non_neg(w):
        """w[i, j] = 0 where w[i, j] < 0 (nan stays nan)."""
        n = w.shape[1]
        for e in range(cuda.grid(1), w.size, cuda.gridsize(1)):
            i = e // n
            j = e - i * n
            if w[i, j] < ZERO:
                w[i, j] = ZERO

    @cuda.jit
    def columns(w, kind, p0, p1, p2, eps):
        """Column c scaled by _scale(||w[:, c]||); one thread per column (coalesced rows)."""
        c = cuda.grid(1)
        if c >= w.shape[1]:
            return
        s = 0.0
        for r in range(w.shape[0]):
            v = np.float64(w[r, c])
            s += v * v
        f = _scale(math.sqrt(s), kind, p0, p1, p2, eps)
        for r in range(w.shape[0]):
            w[r, c] = w[r, c] * f

    @cuda.jit
    def rows(w, kind, p0, p1, p2, eps):
        """Row r scaled by _scale(||w[r, :]||); one thread per row."""
        r = cuda.grid(1)
        if r >= w.shape[0]:
            return
        s = 0.0
        for c in range(w.shape[1]):
            v = np.float64(w[r, c])
            s += v * v
        f = _scale(math.sqrt(s), kind, p0, p1, p2, eps)
        for c in range(w.shape[1]):
            w[r, c] = w[r, c] * f

    @cuda.jit
    def whole(w, sq, kind, p0, p1, p2, eps):
        """Every element scaled by _scale(sqrt(sq[0])), sq[0] = sum(w**2) from a reduction."""
        f = _scale(math.sqrt(sq[0]), kind, p0, p1, p2, eps)
        n = w.shape[1]
        for e in range(cuda.grid(1), w.size, cuda.gridsize(1)):
            i = e // n
            j = e - i * n
            w[i, j] = w[i, j] * f

    return non_neg, columns, rows, whole


def constraint_apply_into(w, kind, p0, p1, p2, axis_mode, eps=1e-7):
    """Applies constraint ``kind`` to ``w`` in place.

    w: 2-D (rows, cols) C-contiguous float32/float64 device array. axis_mode: 0 = one L2 norm per
    column, 1 = one per row, 2 = one for the whole array (a device reduction first). Norms are
    accumulated in float64; each vector is multiplied by ``desired / (eps + norm)`` as in the CPU
    kernel; NON_NEG clamps negatives to 0; NONE does nothing.
    """
    kind = int(kind)
    if kind == NONE or w.size == 0:
        return
    non_neg, columns, rows, whole = _kernels(np.dtype(w.dtype))
    p = (kind, float(p0), float(p1), float(p2), float(eps))
    if kind == NON_NEG:
        blocks, tpb = _config.grid_1d(w.size)
        non_neg[min(blocks, 65535), tpb](w)
    elif axis_mode == AXIS_COLUMNS:
        blocks, tpb = _config.grid_1d(w.shape[1])
        columns[blocks, tpb](w, *p)
    elif axis_mode == AXIS_ROWS:
        blocks, tpb = _config.grid_1d(w.shape[0])
        rows[blocks, tpb](w, *p)
    else:
        sq = scalar_buffer()
        reduce_into("sum_sq", w.dtype, w.reshape(w.size), sq, 0)
        blocks, tpb = _config.grid_1d(w.size)
        whole[min(blocks, 65535), tpb](w, sq, *p)
