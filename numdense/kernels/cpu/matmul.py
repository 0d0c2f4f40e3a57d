"""Matrix products ``out (+)= op(a) @ op(b)`` as Numba kernels, with NumPy-facing wrappers.

The ``*_into`` cores are ``@njit`` functions meant to be called from other compiled code; they
take 2-D C-contiguous arrays of one float dtype (float32 or float64) and never allocate the
result. The Python wrappers validate, normalise layout and dtype, and allocate.
"""

import numpy as np
from numba import carray
from numba.extending import intrinsic

from ._gemm import UKERNEL, gemm_packed, gemm_serial, small_nn, small_nt, small_tn, use_parallel, use_small
from ._cabi import CKernel
from ._jit import kernel, same_dtype

__all__ = ["matmul", "matmul_into", "matmul_nt", "matmul_nt_into", "matmul_tn", "matmul_tn_into"]


@kernel
def _matmul_any(a, b, out, accumulate, ta, tb):
    """out (+)= op(a) @ op(b) with op = transpose when ta / tb (not both).

    a: (M, K) or (K, M) if ta; b: (K, N) or (N, K) if tb; out: (M, N); 2-D C-contiguous, one float
    dtype; out must not overlap a or b. out is overwritten (accumulate False) or added to.
    """
    m, n = out.shape
    k_len = a.shape[0] if ta else a.shape[1]
    if m == 0 or n == 0:
        return
    if k_len == 0:
        if not accumulate:
            out[:] = 0
        return
    if use_small(m, n, k_len):
        if ta:
            small_tn(a, b, out, accumulate)
        elif tb:
            small_nt(a, b, out, accumulate)
        else:
            small_nn(a, b, out, accumulate)
    elif use_parallel(m, n, k_len):  # row / column blocks, or a depth split for few rows (see _gemm)
        gemm_packed(a, b, out, accumulate, ta, tb)
    else:
        gemm_serial(a, b, out, accumulate, ta, tb)


def _matmul_c(ap, a0, a1, bp, b0, b1, op, m, n, accumulate, ta, tb):
    _matmul_any(carray(ap, (a0, a1)), carray(bp, (b0, b1)), carray(op, (m, n)), accumulate != 0, ta != 0, tb != 0)


_MATMUL = CKernel(_matmul_c, "matmul", "aaaiii", 1, needs=[UKERNEL])


@intrinsic
def _matmul(typingctx, a, b, out, accumulate, ta, tb):
    """``_matmul_any`` through its C symbol (see ``_cabi``); same arguments, C-contiguous arrays."""
    return _MATMUL.call(a, b, out, accumulate, ta, tb)


@kernel
def _matmul_entry(a, b, out, accumulate, ta, tb):
    """Python-side entry: ``_matmul`` with runtime flags (shapes already validated)."""
    _matmul(a, b, out, accumulate, ta, tb)


@kernel
def check_matmul_shapes(a, b, out, ta, tb):
    """Raise ValueError unless op(a) (M, K), op(b) (K, N) and out (M, N) agree (TypeError
    unless they share one dtype)."""
    if not same_dtype(a, b, out):
        raise TypeError("matmul kernel: a, b and out must share one dtype")
    m, n = out.shape
    k_len = a.shape[0] if ta else a.shape[1]
    if (a.shape[1] if ta else a.shape[0]) != m or (b.shape[0] if tb else b.shape[1]) != n:
        raise ValueError("matmul kernel: out shape does not match the operands")
    if (b.shape[1] if tb else b.shape[0]) != k_len:
        raise ValueError("matmul kernel: inner dimensions of the operands differ")


@kernel
def matmul_into(a, b, out, accumulate):
    """out = a @ b, or out += a @ b when accumulate.

    a (M, K), b (K, N), out (M, N): 2-D C-contiguous, all float32 or all float64; out is written in
    place and must not overlap a or b. K == 0 gives out = 0 (or leaves it unchanged when accumulating).
    """
    check_matmul_shapes(a, b, out, False, False)
    _matmul(a, b, out, accumulate, False, False)


@kernel
def matmul_tn_into(a, b, out, accumulate):
    """out = a.T @ b, or out += a.T @ b when accumulate (e.g. dW = X.T @ dZ), without forming a.T.

    a (K, M), b (K, N), out (M, N): 2-D C-contiguous, all float32 or all float64; out is written in
    place and must not overlap a or b.
    """
    check_matmul_shapes(a, b, out, True, False)
    _matmul(a, b, out, accumulate, True, False)


@kernel
def matmul_nt_into(a, b, out, accumulate):
    """out = a @ b.T, or out += a @ b.T when accumulate (e.g. dX = dZ @ W.T), without forming b.T.

    a (M, K), b (N, K), out (M, N): 2-D C-contiguous, all float32 or all float64; out is written in
    place and must not overlap a or b.
    """
    check_matmul_shapes(a, b, out, False, True)
    _matmul(a, b, out, accumulate, False, True)


def _as_float_2d(func, name, x):
    x = np.asarray(x)
    if x.ndim != 2:
        raise ValueError(f"{func}: {name} must be a 2-D array, got {x.ndim}-D with shape {x.shape}")
    if x.dtype not in (np.float32, np.float64):
        raise TypeError(f"{func}: {name} must have dtype float32 or float64, got {x.dtype}")
    return x


def result_dtype(*arrays):
    """float64 if any operand is float64, else float32 (NumPy's promotion for these two)."""
    for x in arrays:
        if x.dtype == np.float64:
            return np.float64
    return np.float32


def check_out(func, out, shape, dtype):
    """Validate a caller-provided ``out`` array (shape, dtype, C-contiguous, writeable)."""
    if not isinstance(out, np.ndarray):
        raise ValueError(f"{func}: out must be a numpy.ndarray, got {type(out).__name__}")
    if out.shape != tuple(shape):
        raise ValueError(f"{func}: out must have shape {tuple(shape)}, got {out.shape}")
    if out.dtype != dtype:
        raise ValueError(f"{func}: out must have dtype {np.dtype(dtype)}, got {out.dtype}")
    if not out.flags.c_contiguous:
        raise ValueError(f"{func}: out must be C-contiguous")
    if not out.flags.writeable:
        raise ValueError(f"{func}: out must be writeable")
    return out


def _operand(x, dtype, transposed, out):
    """C-contiguous operand for the kernels, reusing an F-ordered array as its transpose (no copy)."""
    if x.dtype == dtype and not x.flags.c_contiguous and x.flags.f_contiguous and x.size > 1:
        x, transposed = x.T, not transposed
    x = np.ascontiguousarray(x, dtype=dtype)
    if out is not None and np.may_share_memory(x, out):
        x = x.copy()
    return x, transposed


def _matmul_py(func, a, b, out, accumulate, ta, tb):
    a = _as_float_2d(func, "a", a)
    b = _as_float_2d(func, "b", b)
    m, ka = (a.shape[1], a.shape[0]) if ta else a.shape
    kb, n = (b.shape[1], b.shape[0]) if tb else b.shape
    if ka != kb:
        lhs = "a.T" if ta else "a"
        rhs = "b.T" if tb else "b"
        raise ValueError(
            f"{func}: inner dimensions must match, got {lhs} of shape ({m}, {ka}) and {rhs} of shape ({kb}, {n})"
        )
    dtype = result_dtype(a, b)
    if out is None:
        out = np.empty((m, n), dtype=dtype)
        if accumulate:
            out[...] = 0
    else:
        check_out(func, out, (m, n), dtype)
    a, ta = _operand(a, dtype, ta, out)
    b, tb = _operand(b, dtype, tb, out)
    if ta and tb:  # no kernel for op(a) = a.T and op(b) = b.T at once: make b C-ordered again
        b, tb = np.ascontiguousarray(b.T), False
    _matmul_entry(a, b, out, bool(accumulate), ta, tb)
    return out


def matmul(a, b, out=None, accumulate=False):
    """Return ``a @ b`` (``out += a @ b`` if accumulate) for 2-D float32/float64 arrays.

    Any layout is accepted (non-C-contiguous inputs are copied, F-ordered ones are read as a
    transpose); mixed float32/float64 promotes to float64. ``out``, if given, must be a writeable
    C-contiguous array of the result's shape and dtype; it may overlap the inputs. Returns ``out``.
    """
    return _matmul_py("matmul", a, b, out, accumulate, False, False)


def matmul_tn(a, b, out=None, accumulate=False):
    """Return ``a.T @ b`` (``out += a.T @ b`` if accumulate); a (K, M), b (K, N). See ``matmul``."""
    return _matmul_py("matmul_tn", a, b, out, accumulate, True, False)


def matmul_nt(a, b, out=None, accumulate=False):
    """Return ``a @ b.T`` (``out += a @ b.T`` if accumulate); a (M, K), b (N, K). See ``matmul``."""
    return _matmul_py("matmul_nt", a, b, out, accumulate, False, True)
