"""Matrix products ``out (+)= op(a) @ op(b)`` as ``@cuda.jit`` kernels, with a wrapper.

One kernel per (dtype, tile shape, transpose flags, epilogue) is built by ``gemm_kernel`` and
cached. A block computes a ``bm x bn`` tile of ``out``: per K step it stages ``op(a)`` transposed
(``As[k, i]``) and ``op(b)`` (``Bs[k, j]``) in shared memory, then each thread accumulates a
``tm x tn`` register tile. Thread (tx, ty) owns rows ``ty + m * (bm // tm)`` and columns
``tx + n * (bn // tn)`` of the tile, so neighbouring threads read neighbouring shared words and
write neighbouring columns of ``out``. Transposed operands are read through index maps.
"""

import functools

import numpy as np
from numba import cuda

from . import _config
from ._actmath import activation_math
from ._arrays import check_ndim, device_out, finish, float_dtype, is_device, to_device

__all__ = ["gemm_kernel", "launch_gemm", "matmul", "matmul_into", "matmul_nt", "matmul_nt_into", "matmul_tn", "matmul_tn_into"]


@functools.lru_cache(maxsize=None)
def gemm_kernel(dtype, tiles, ta, tb, dense):
    """The GEMM kernel for one float dtype (NumPy dtype), ``Tiles``, transpose flags and epilogue.

    ``dense=False``: kernel(a, b, out, accumulate) writes ``out (+)= op(a) @ op(b)``.
    ``dense=True``: kernel(a, b, bias, out, preact, kind, p0, p1, p2) writes
    ``z = a @ b + bias`` (bias skipped when it has length 0), ``preact = z`` when preact is not
    (0, 0), and ``out = act(z)`` (``out = z`` for the row-wise kinds, finished by another kernel).
    """
    T = np.dtype(dtype).type
    BM, BN, BK, TM, TN = tiles
    TX, TY = tiles.threads
    NT = TX * TY
    BM_PAD = BM + 1  # shapes must be constants; the pad column spreads the transposed stores over banks
    ZERO = T(0.0)
    act = activation_math(np.dtype(dtype)).forward
    from ..activation_kinds import ROW_WISE

    SOFTMAX, LOG_SOFTMAX = ROW_WISE

    @cuda.jit(device=True)
    def _product(a, b, acc, m_len, n_len, k_len):
        # Tiles are declared on separate lines: the simulator needs that.
        As = cuda.shared.array((BK, BM_PAD), T)
        Bs = cuda.shared.array((BK, BN), T)
        ra = cuda.local.array(TM, T)
        rb = cuda.local.array(TN, T)
        tx = cuda.threadIdx.x
        ty = cuda.threadIdx.y
        tid = ty * TX + tx
        row0 = cuda.blockIdx.y * BM
        col0 = cuda.blockIdx.x * BN
        for m in range(TM):
            for n in range(TN):
                acc[m, n] = ZERO
        for k0 in range(0, k_len, BK):
            for e in range(tid, BM * BK, NT):
                if ta:  # a is (K, M): consecutive threads read consecutive i
                    c = e // BM
                    r = e - c * BM
                    ok = row0 + r < m_len and k0 + c < k_len
                    As[c, r] = a[k0 + c, row0 + r] if ok else ZERO
                else:  # a is (M, K): consecutive threads read consecutive k
                    r = e // BK
                    c = e - r * BK
                    ok = row0 + r < m_len and k0 + c < k_len
                    As[c, r] = a[row0 + r, k0 + c] if ok else ZERO
            for e in range(tid, BN * BK, NT):
                if tb:  # b is (N, K)
                    r = e // BK
                    c = e - r * BK
                    ok = col0 + r < n_len and k0 + c < k_len
                    Bs[c, r] = b[col0 + r, k0 + c] if ok else ZERO
                else:  # b is (K, N)
                    c = e // BN
                    r = e - c * BN
                    ok = col0 + r < n_len and k0 + c < k_len
                    Bs[c, r] = b[k0 + c, col0 + r] if ok else ZERO
            # The whole tile must be staged before any thread reads it.
            cuda.syncthreads()
            for kk in range(BK):
                for m in range(TM):
                    ra[m] = As[kk, ty + m * TY]
                for n in range(TN):
                    rb[n] = Bs[kk, tx + n * TX]
                for m in range(TM):
                    for n in range(TN):
                        acc[m, n] += ra[m] * rb[n]
            # No thread may overwrite the tile while others still read it.
            cuda.syncthreads()

    if not dense:

        @cuda.jit
        def gemm(a, b, out, accumulate):
            m_len, n_len = out.shape
            k_len = a.shape[0] if ta else a.shape[1]
            acc = cuda.local.array((TM, TN), T)
            _product(a, b, acc, m_len, n_len, k_len)
            for m in range(TM):
                i = cuda.blockIdx.y * BM + cuda.threadIdx.y + m * TY
                for n in range(TN):
                    j = cuda.blockIdx.x * BN + cuda.threadIdx.x + n * TX
                    if i < m_len and j < n_len:
                        if accumulate:
                            out[i, j] += acc[m, n]
                        else:
                            out[i, j] = acc[m, n]

        return gemm

    @cuda.jit
    def gemm_dense(a, b, bias, out, preact, kind, p0, p1, p2):
        m_len, n_len = out.shape
        k_len = a.shape[1]
        has_bias = bias.shape[0] != 0
        keep = preact.shape[0] != 0
        row_wise = kind == SOFTMAX or kind == LOG_SOFTMAX
        acc = cuda.local.array((TM, TN), T)
        _product(a, b, acc, m_len, n_len, k_len)
        for m in range(TM):
            i = cuda.blockIdx.y * BM + cuda.threadIdx.y + m * TY
            for n in range(TN):
                j = cuda.blockIdx.x * BN + cuda.threadIdx.x + n * TX
                if i < m_len and j < n_len:
                    z = acc[m, n]
                    if has_bias:
                        z += bias[j]
                    if keep:
                        preact[i, j] = z
                    out[i, j] = z if row_wise else act(z, kind, p0, p1, p2)

    return gemm_dense


def launch_gemm(m, n, dtype, ta, tb, dense, *args):
    """Launches the cached GEMM kernel over an (m, n) output with the current tile config."""
    if m == 0 or n == 0:
        return
    t = _config.tiles()
    grid = ((n + t.bn - 1) // t.bn, (m + t.bm - 1) // t.bm)
    gemm_kernel(np.dtype(dtype), t, ta, tb, dense)[grid, t.threads](*args)


def _check(a, b, out, ta, tb):
    m = a.shape[1] if ta else a.shape[0]
    k = a.shape[0] if ta else a.shape[1]
    kb, n = (b.shape[1], b.shape[0]) if tb else b.shape
    if k != kb or tuple(out.shape) != (m, n):
        raise ValueError("matmul kernel: operand and out shapes do not match")
    if not (a.dtype == b.dtype == out.dtype) or np.dtype(out.dtype) not in (np.float32, np.float64):
        raise ValueError("matmul kernel: a, b and out must share one float dtype")
    return m, n


def _into(a, b, out, accumulate, ta, tb):
    m, n = _check(a, b, out, ta, tb)
    launch_gemm(m, n, out.dtype, ta, tb, False, a, b, out, bool(accumulate))


def matmul_into(a, b, out, accumulate):
    """out = a @ b, or out += a @ b when accumulate.

    a (M, K), b (K, N), out (M, N): C-contiguous device arrays of one dtype (float32 or float64);
    out is written in place and must not overlap a or b. K == 0 gives out = 0 (or leaves it
    unchanged when accumulating). Asynchronous: returns once the kernel is queued.
    """
    _into(a, b, out, accumulate, False, False)


def matmul_tn_into(a, b, out, accumulate):
    """out (+)= a.T @ b without forming a.T; a (K, M), b (K, N), out (M, N). See ``matmul_into``."""
    _into(a, b, out, accumulate, True, False)


def matmul_nt_into(a, b, out, accumulate):
    """out (+)= a @ b.T without forming b.T; a (M, K), b (N, K), out (M, N). See ``matmul_into``."""
    _into(a, b, out, accumulate, False, True)


def _matmul(func, a, b, out, accumulate, ta, tb):
    host = not (is_device(a) or is_device(b))
    check_ndim(func, "a", a, 2)
    check_ndim(func, "b", b, 2)
    dtype = float_dtype(func, a, b)
    m = a.shape[1] if ta else a.shape[0]
    n = b.shape[0] if tb else b.shape[1]
    if (a.shape[0] if ta else a.shape[1]) != (b.shape[1] if tb else b.shape[0]):
        raise ValueError(f"{func}: inner dimensions must match, got {tuple(a.shape)} and {tuple(b.shape)}")
    da, db = to_device(a, dtype), to_device(b, dtype)
    res = device_out(func, out, (m, n), dtype)
    if accumulate and out is None:
        res[:] = 0
    _into(da, db, res, accumulate, ta, tb)
    return finish(res, out, host)


def matmul(a, b, out=None, accumulate=False):
    """Return ``a @ b`` (``out += a @ b`` if accumulate) for 2-D float32/float64 arrays.

    a, b: NumPy or device arrays (mixed float32/float64 promotes to float64; device operands
    must already have the result dtype). ``out``: a NumPy or device array of the result's shape
    and dtype, or None. Returns ``out`` when given, else a NumPy array when both inputs are
    NumPy, else a device array.
    """
    return _matmul("matmul", a, b, out, accumulate, False, False)


def matmul_tn(a, b, out=None, accumulate=False):
    """Return ``a.T @ b`` (``out += ...`` if accumulate); a (K, M), b (K, N). See ``matmul``."""
    return _matmul("matmul_tn", a, b, out, accumulate, True, False)


def matmul_nt(a, b, out=None, accumulate=False):
    """Return ``a @ b.T`` (``out += ...`` if accumulate); a (M, K), b (N, K). See ``matmul``."""
    return _matmul("matmul_nt", a, b, out, accumulate, False, True)
