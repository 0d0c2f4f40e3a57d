"""Packed (BLIS-style) and small (non-packing) GEMM building blocks behind ``matmul.py``.

``gemm_packed`` computes ``out (+)= op(a) @ op(b)`` with ``op`` = identity or transpose chosen by the
runtime flags ``ta``/``tb``: the transposes are absorbed by the packing routines, so all three public
variants share one compiled driver per dtype. The small kernels are serial and skip packing.
"""

import numba
import numpy as np
from numba import prange, types
from numba.extending import overload
from numba.np.ufunc import parallel as _parallel

from ._gemm_ukernel import ukernel_f32, ukernel_f64
from ._jit import kernel

MR = 6  # rows of the register block (both dtypes)
KC = 256  # depth of a packed slice: a KC x NR B micro-panel (16 KiB) stays in L1
MC_MAX = 72  # rows per parallel block: the MC x KC A block stays in L2
SMALL_FMAS = 1 << 17  # below this many multiply-adds (or with M < MR) use the serial small kernels
KB_PACK = 32  # depth rows per B-packing task
BLOCKS_PER_THREAD = 4  # work items per thread for static prange chunking under load imbalance


def _nr(out):
    """Register-block width NR for ``out``'s dtype (compile-time constant)."""


@overload(_nr)
def _nr_impl(out):
    if out.dtype == types.float32:
        return lambda out: 16
    return lambda out: 8


def _ukernel(kc, ap, bp, ct):
    """Dtype dispatch to the generated micro-kernel (resolved at typing time)."""


@overload(_ukernel)
def _ukernel_impl(kc, ap, bp, ct):
    if ap.dtype == types.float32:
        return lambda kc, ap, bp, ct: ukernel_f32(kc, ap, bp, ct)
    return lambda kc, ap, bp, ct: ukernel_f64(kc, ap, bp, ct)


def ensure_compiled():
    """Compile (or load from cache) the micro-kernels with LLVM's SLP vectorizer switched on.

    Must run before any caller of the micro-kernels is compiled: a caller compiles its callees with
    the process-wide setting, which is off by default (documented as occasionally miscompiling, so
    it is enabled for these two straight-line functions only).
    """
    old = numba.config.SLP_VECTORIZE
    numba.config.SLP_VECTORIZE = True
    try:
        for fn, t in ((ukernel_f32, types.float32), (ukernel_f64, types.float64)):
            fn.compile((types.intp, t[:, ::1], t[:, ::1], t[::1]))
    finally:
        numba.config.SLP_VECTORIZE = old


ensure_compiled()

# numba.get_num_threads() inside a kernel embeds a ctypes pointer, which disables caching; this
# intrinsic calls the same C symbol by name. It needs the thread pool's symbols registered first.
_parallel._launch_threads()
_num_threads = _parallel._iget_num_threads


@kernel
def _pack_a(a, ta, i0, mc, p0, kc, ap):
    """Pack rows i0:i0+mc, depth p0:p0+kc of op(a) into ap (nblk, >= kc, MR), zero-padding rows.

    op(a) = a.T when ta (a is (K, M)), else a (M, K); a 2-D C-contiguous, ap C-contiguous 3-D.
    """
    for ir in range((mc + MR - 1) // MR):
        r0 = i0 + ir * MR
        rows = min(MR, i0 + mc - r0)
        blk = ap[ir]
        if ta:
            for k in range(kc):
                src = a[p0 + k]
                dst = blk[k]
                for r in range(rows):
                    dst[r] = src[r0 + r]
                for r in range(rows, MR):
                    dst[r] = 0
        else:
            for r in range(rows):
                src = a[r0 + r]
                for k in range(kc):
                    blk[k, r] = src[p0 + k]
            for r in range(rows, MR):
                for k in range(kc):
                    blk[k, r] = 0


@kernel
def _pack_b_rows(b, tb, k0, k1, bpk):
    """Pack depth rows k0:k1 of op(b) into every panel: bpk[jp, k, c] = op(b)[k, jp*NR + c], zero-padded.

    op(b) = b.T when tb (b is (N, K)), else b (K, N); b 2-D C-contiguous, bpk (npanel, K, NR) C-contiguous.
    Row ranges let the packing run in parallel while each task reads whole cache lines of b.
    """
    npanel, _, nr = bpk.shape
    n = b.shape[0] if tb else b.shape[1]
    if tb:
        for jp in range(npanel):
            j0 = jp * nr
            cols = min(nr, n - j0)
            dst = bpk[jp]
            for c in range(cols):
                src = b[j0 + c]
                for k in range(k0, k1):
                    dst[k, c] = src[k]
            for c in range(cols, nr):
                for k in range(k0, k1):
                    dst[k, c] = 0
    else:
        for k in range(k0, k1):
            src = b[k]
            for jp in range(npanel):
                j0 = jp * nr
                cols = min(nr, n - j0)
                row = bpk[jp, k]
                for c in range(cols):
                    row[c] = src[j0 + c]
                for c in range(cols, nr):
                    row[c] = 0


@kernel
def _block(a, ta, bpk, out, i0, mc, jp0, jp1, accumulate, ap, ct):
    """out[i0:i0+mc, jp0*NR:jp1*NR] (+)= op(a)[i0:i0+mc] @ B for packed B panels bpk[jp0:jp1].

    ap (>= ceil(mc/MR), KC, MR) and ct (MR*NR,) are scratch of out's dtype; all C-contiguous.
    """
    n = out.shape[1]
    k_len = bpk.shape[1]
    nr = bpk.shape[2]
    nblk = (mc + MR - 1) // MR
    for p0 in range(0, k_len, KC):
        kc = min(KC, k_len - p0)
        _pack_a(a, ta, i0, mc, p0, kc, ap)
        overwrite = p0 == 0 and not accumulate
        for jp in range(jp0, jp1):
            bp = bpk[jp, p0 : p0 + kc]
            j0 = jp * nr
            cols = min(nr, n - j0)
            for ir in range(nblk):
                _ukernel(kc, ap[ir], bp, ct)
                r0 = i0 + ir * MR
                for r in range(min(MR, i0 + mc - r0)):
                    orow = out[r0 + r]
                    c0 = r * nr
                    if overwrite:
                        for c in range(cols):
                            orow[j0 + c] = ct[c0 + c]
                    else:
                        for c in range(cols):
                            orow[j0 + c] += ct[c0 + c]


@kernel
def plan(m, npanel, nthreads):
    """Split an (m, npanel*NR) output into work items: returns (mc, n_row_blocks, ppc, n_col_blocks).

    Row blocks are multiples of MR, at most MC_MAX tall, their count a multiple of nthreads (prange
    chunks statically); when that gives too few items, the NR-wide column panels are split too (ppc
    panels per column block).
    """
    want = BLOCKS_PER_THREAD * nthreads
    nblk = max((m + MC_MAX - 1) // MC_MAX, min(want, (m + MR - 1) // MR))
    nblk = (nblk + nthreads - 1) // nthreads * nthreads
    mc = ((m + nblk - 1) // nblk + MR - 1) // MR * MR
    nblk = (m + mc - 1) // mc
    ncb = 1
    if nblk < want:
        ncb = min(npanel, (want + nblk - 1) // nblk)
    ppc = (npanel + ncb - 1) // ncb
    return mc, nblk, ppc, (npanel + ppc - 1) // ppc


@kernel(parallel=True)
def gemm_packed(a, b, out, accumulate, ta, tb):
    """out (+)= op(a) @ op(b), op = transpose when ta / tb, via packed panels and the micro-kernel.

    a: (M, K), or (K, M) when ta; b: (K, N), or (N, K) when tb; out: (M, N). All 2-D C-contiguous,
    one float dtype, K >= 1. out is overwritten (accumulate False) or added to; a, b are read only.
    """
    m, n = out.shape
    k_len = a.shape[0] if ta else a.shape[1]
    nr = _nr(out)
    npanel = (n + nr - 1) // nr
    bpk = np.empty((npanel, k_len, nr), dtype=out.dtype)
    nkb = (k_len + KB_PACK - 1) // KB_PACK
    for t in prange(nkb):
        _pack_b_rows(b, tb, t * KB_PACK, min(k_len, (t + 1) * KB_PACK), bpk)
    mc, nblk, ppc, ncb = plan(m, npanel, _num_threads())
    for t in prange(nblk * ncb):
        ib = t // ncb
        jb = t - ib * ncb
        i0 = ib * mc
        jp0 = jb * ppc
        ap = np.empty(((mc + MR - 1) // MR, min(KC, k_len), MR), dtype=out.dtype)
        ct = np.empty(MR * nr, dtype=out.dtype)
        _block(a, ta, bpk, out, i0, min(mc, m - i0), jp0, min(npanel, jp0 + ppc), accumulate, ap, ct)


@kernel(fastmath={"contract", "nnan", "ninf", "nsz", "arcp"})
def small_nn(a, b, out, accumulate):
    """Serial out (+)= a @ b without packing (i-k-j order). a (M, K), b (K, N), out (M, N), C-contiguous."""
    for i in range(a.shape[0]):
        orow = out[i]
        if not accumulate:
            orow[:] = 0
        arow = a[i]
        for k in range(a.shape[1]):
            aik = arow[k]
            brow = b[k]
            for j in range(orow.shape[0]):
                orow[j] += aik * brow[j]


@kernel(fastmath={"contract", "nnan", "ninf", "nsz", "arcp"})
def small_tn(a, b, out, accumulate):
    """Serial out (+)= a.T @ b without packing. a (K, M), b (K, N), out (M, N), C-contiguous."""
    for i in range(a.shape[1]):
        orow = out[i]
        if not accumulate:
            orow[:] = 0
        for k in range(a.shape[0]):
            aki = a[k, i]
            brow = b[k]
            for j in range(orow.shape[0]):
                orow[j] += aki * brow[j]


@kernel(fastmath=True)
def small_nt(a, b, out, accumulate):
    """Serial out (+)= a @ b.T without packing (row dot products). a (M, K), b (N, K), out (M, N), C-contiguous,
    K >= 1. fastmath includes reassoc here so the k reductions vectorize; summation order differs from numpy's.
    """
    for i in range(a.shape[0]):
        arow = a[i]
        orow = out[i]
        for j in range(b.shape[0]):
            brow = b[j]
            acc = arow[0] * brow[0]
            for k in range(1, arow.shape[0]):
                acc += arow[k] * brow[k]
            if accumulate:
                orow[j] += acc
            else:
                orow[j] = acc
