"""CUDA twins of ``numdense.kernels.cpu.merge``: the merge layers' element-wise and column-copy
kernels on device arrays (same names and signatures)."""

import functools

import numpy as np
from numba import cuda

from . import _config

__all__ = ["add_into", "copy_columns_into", "multiply_into", "divide_into", "subtract_into",
           "take_columns_into"]

_ADD, _SUB, _MUL = 0, 1, 2


@functools.lru_cache(maxsize=None)
def _kernels(dtype):
    @cuda.jit
    def binary(a, b, out, op):
        """out[i] = a[i] (+|-|*) b[i] on 1-D arrays; op 0 add, 1 subtract, 2 multiply."""
        for i in range(cuda.grid(1), out.shape[0], cuda.gridsize(1)):
            if op == 0:
                out[i] = a[i] + b[i]
            elif op == 1:
                out[i] = a[i] - b[i]
            else:
                out[i] = a[i] * b[i]

    @cuda.jit
    def divide(a, d, out):
        """out[i] = a[i] / d on 1-D arrays (d float64: one rounding, as the CPU twin)."""
        for i in range(cuda.grid(1), out.shape[0], cuda.gridsize(1)):
            out[i] = a[i] / d

    @cuda.jit
    def copy_columns(src, dst, offset):
        """dst[r, offset + c] = src[r, c] for src (m, w)."""
        w = src.shape[1]
        for e in range(cuda.grid(1), src.shape[0] * w, cuda.gridsize(1)):
            r = e // w
            c = e - r * w
            dst[r, offset + c] = src[r, c]

    @cuda.jit
    def take_columns(src, offset, dst):
        """dst[r, c] = src[r, offset + c] for dst (m, w)."""
        w = dst.shape[1]
        for e in range(cuda.grid(1), dst.shape[0] * w, cuda.gridsize(1)):
            r = e // w
            c = e - r * w
            dst[r, c] = src[r, offset + c]

    return binary, divide, copy_columns, take_columns


def _launch(n):
    blocks, tpb = _config.grid_1d(n)
    return min(blocks, 65535), tpb


def _binary(a, b, out, op):
    n = out.shape[0]
    if n:
        grid = _launch(n)
        _kernels(np.dtype(out.dtype))[0][grid](a, b, out, op)


def add_into(a, b, out):
    """Element-wise sum ``out = a + b`` on 1-D device arrays of one length and float dtype
    (out may be a or b)."""
    _binary(a, b, out, _ADD)


def subtract_into(a, b, out):
    """Element-wise difference ``out = a - b`` on 1-D device arrays (out may be a or b)."""
    _binary(a, b, out, _SUB)


def multiply_into(a, b, out):
    """Element-wise product ``out = a * b`` on 1-D device arrays (out may be a or b)."""
    _binary(a, b, out, _MUL)


def divide_into(a, divisor, out):
    """``out = a / divisor`` on 1-D device arrays; ``divisor`` a Python number (quotient in
    float64, rounded once, as the CPU twin)."""
    n = out.shape[0]
    if n:
        _kernels(np.dtype(out.dtype))[1][_launch(n)](a, float(divisor), out)


def copy_columns_into(src, dst, offset):
    """``dst[:, offset:offset + w] = src`` for device arrays src (m, w) and dst (m, n)."""
    n = src.shape[0] * src.shape[1]
    if n:
        _kernels(np.dtype(dst.dtype))[2][_launch(n)](src, dst, int(offset))


def take_columns_into(src, offset, dst):
    """``dst = src[:, offset:offset + w]`` for device arrays src (m, n) and dst (m, w)."""
    n = dst.shape[0] * dst.shape[1]
    if n:
        _kernels(np.dtype(dst.dtype))[3][_launch(n)](src, int(offset), dst)
