"""Packed (BLIS-style) and small (non-packing) GEMM building blocks behind ``matmul.py``.

``gemm_packed`` computes ``out (+)= op(a) @ op(b)`` with ``op`` = identity or transpose chosen by the
runtime flags ``ta``/``tb``: the transposes are absorbed by the packing routines, so all three public
variants share one compiled driver per dtype. The small kernels are serial and skip packing.
"""

import contextlib

import numba
import numpy as np
from llvmlite import ir
from numba import carray, prange, types
from numba.core.compiler_lock import global_compiler_lock
from numba.extending import intrinsic, overload
from numba.np.ufunc import parallel as _parallel

from ._gemm_ukernel import FASTMATH, ukernel_f32, ukernel_f32_wide, ukernel_f64, ukernel_f64_wide
from ._cabi import LazySymbol, emit_symbol_call
from ._isa import WIDE_VECTORS, prefer_wide_vectors
from ._jit import kernel
from ._vector_moves import move, transpose8x8, transpose_rows

MR = 6  # rows of the register block (both dtypes); _pack_a spells out six rows
# Columns of the register block: two vectors per row, ymm on AVX2, zmm with AVX-512 (_isa).
NR_F32, NR_F64 = (32, 16) if WIDE_VECTORS else (16, 8)
KC = 256  # depth of a packed slice: a KC x NR B micro-panel (16 KiB; 32 with zmm) stays in L1
MC_MAX = 72  # rows per parallel block: the MC x KC A block stays in L2
ONE_BLOCK_A_BYTES = 288 << 10  # up to this packed A slice (~half of L2) a wide product runs as one row block (plan)
ONE_BLOCK_MIN_PANELS = 8  # ... when each thread gets at least this many B panels
SMALL_FMAS = 1 << 17  # below this many multiply-adds (or with M < MR) use the serial small kernels
PARALLEL_FMAS = 1 << 19  # from here on run in parallel (an empty parallel region costs ~1.5 us); between the two, packed but serial
KB_PACK = 32  # depth rows per B-packing task
B_GROUP = 4  # B panels a lone row block packs at a time (a KC x NR panel: 16 KiB)
PACK_B_PARALLEL_MIN = 1 << 16  # packed B elements from which packing runs in its own parallel region
PACK_A_PARALLEL_MIN = 1 << 16  # the same for an A packed once for all column tasks (pack_a_all)
KSPLIT_MAX_M = 128  # up to this many rows (and a deep enough K) the parallel driver splits the depth
KSPLIT_MIN_K = 256  # depth per thread at least this for the depth split
KSPLIT_MAX_MN = 1 << 15  # and at most this many outputs (the partial sums stay in cache for the reduction)


def nr_for(out):
    """Register-block width NR for ``out``'s dtype (compile-time constant)."""


@overload(nr_for)
def _nr_for_impl(out):
    nr = NR_F32 if out.dtype == types.float32 else NR_F64
    return lambda out: nr


# The micro-kernels are called through C symbols, not as Numba callees: a Numba caller links its
# callees' LLVM IR and re-optimizes it, so every layer above (block, prange body, driver, cores, a
# user's compiled step) would re-run O3 over the unrolled kernel (seconds each, cold) and could
# recompile it without SLP. As cfuncs they are compiled once, under SLP, and cached; like the other
# C kernels (``_cabi``) on their first call, so a model that never multiplies a large matrix never
# compiles or loads them.
def _cukernel_f32(kc, ap, bp, ldb, ct):
    # Row k of B starts at bp + k*ldb: packed panels (ldb = NR) or B itself (ldb = N).
    ukernel_f32(kc, carray(ap, (kc, MR)), carray(bp, (kc, ldb)), carray(ct, (MR * 16,)))


def _cukernel_f64(kc, ap, bp, ldb, ct):
    ukernel_f64(kc, carray(ap, (kc, MR)), carray(bp, (kc, ldb)), carray(ct, (MR * 8,)))


# The wide wrappers carry the hint too: LLVM may inline the kernel into them.
def _cukernel_f32_wide(kc, ap, bp, ldb, ct):
    prefer_wide_vectors()
    ukernel_f32_wide(kc, carray(ap, (kc, MR)), carray(bp, (kc, ldb)), carray(ct, (MR * 32,)))


def _cukernel_f64_wide(kc, ap, bp, ldb, ct):
    prefer_wide_vectors()
    ukernel_f64_wide(kc, carray(ap, (kc, MR)), carray(bp, (kc, ldb)), carray(ct, (MR * 16,)))


_WRAPPERS = {(types.float32, 16): _cukernel_f32, (types.float64, 8): _cukernel_f64,
             (types.float32, 32): _cukernel_f32_wide, (types.float64, 16): _cukernel_f64_wide}


@contextlib.contextmanager
def _slp_vectorize():
    """LLVM's SLP vectorizer on while the micro-kernels compile.

    SLP is off by default in Numba (documented as occasionally miscompiling), so it is enabled only
    while these straight-line functions are compiled, under Numba's compiler lock so that no other
    compilation sees it; ``test_matmul.py`` checks results against NumPy.
    """
    with global_compiler_lock:
        old = numba.config.SLP_VECTORIZE
        numba.config.SLP_VECTORIZE = True
        try:
            yield
        finally:
            numba.config.SLP_VECTORIZE = old


# Module-level bodies, not closures: Numba keys a closure's cache entry on a pickle of its captured
# values, and a captured dispatcher pickles differently in every process, so the cfuncs were
# compiled again on every import (~0.5 s) and the cache grew by an entry each time.
UKERNEL = {
    t: LazySymbol(_WRAPPERS[t, nr], f"numdense_ukernel_{t}_{MR}x{nr}_v3",  # bump when the C signature changes
                  types.void(types.intp, types.CPointer(t), types.CPointer(t), types.intp,
                             types.CPointer(t)),
                  options={"fastmath": FASTMATH}, compiling=_slp_vectorize)
    for t, nr in ((types.float32, NR_F32), (types.float64, NR_F64))
}


def ensure_compiled():
    """Compile (or load from the cache) both micro-kernels now rather than on first use."""
    for symbol in UKERNEL.values():
        symbol.address()


@intrinsic
def _ukernel(typingctx, kc, a, aoff, b, boff, ldb, ct):
    """ct[:MR*NR] = A_panel.T @ B_panel (row-major) via the micro-kernel symbol for a's dtype.

    A_panel: the packed (>= kc, MR) micro-panel at a.flat[aoff:]; B_panel row k =
    b.flat[boff + k*ldb : ... + NR]; ct (>= MR*NR,). Arrays C-contiguous, one dtype; offsets and
    ldb in elements. Offsets rather than row views: a view costs a reference count per call.
    """
    symbol = UKERNEL[a.dtype]

    def codegen(context, builder, sig, args):
        kc_v, a_v, aoff_v, b_v, boff_v, ldb_v, ct_v = args
        ap, bp, ctp = (
            context.make_array(ty)(context, builder, value=v).data
            for ty, v in ((sig.args[1], a_v), (sig.args[3], b_v), (sig.args[6], ct_v))
        )
        emit_symbol_call(builder, symbol, [kc_v, builder.gep(ap, [aoff_v]), builder.gep(bp, [boff_v]), ldb_v, ctp])
        return context.get_dummy_value()

    return types.void(types.intp, a, types.intp, b, types.intp, types.intp, ct), codegen


@intrinsic
def _prefetch_write(typingctx, arr, off):
    """Hint the cache line of arr.flat[off] into L1 for writing (``llvm.prefetch``); arr C-contiguous."""
    def codegen(context, builder, sig, args):
        data = context.make_array(sig.args[0])(context, builder, value=args[0]).data
        ptr = builder.bitcast(builder.gep(data, [args[1]]), ir.IntType(8).as_pointer())
        i32 = ir.IntType(32)
        fnty = ir.FunctionType(ir.VoidType(), [ptr.type, i32, i32, i32])
        fn = builder.module.declare_intrinsic("llvm.prefetch", [ptr.type], fnty)
        builder.call(fn, [ptr, i32(1), i32(3), i32(1)])
        return context.get_dummy_value()

    return types.void(arr, types.intp), codegen


@intrinsic
def flag(typingctx, value):
    """``value`` typed as a plain (non-literal) bool.

    Passing a literal True/False to a kernel makes Numba compile a separate specialization for it
    (and for everything it calls); the shared drivers take their transpose flags through this.
    """
    if not isinstance(value, (types.Boolean, types.BooleanLiteral)):
        return None
    return types.boolean(value), lambda context, builder, sig, args: args[0]


# numba.get_num_threads() inside a kernel embeds a ctypes pointer, which disables caching; this
# intrinsic calls the same C symbol by name. It needs the thread pool's symbols registered first.
_parallel._launch_threads()
num_threads = _parallel._iget_num_threads


@kernel
def _pack_a(a, ta, i0, mc, p0, kc, ap):
    """Pack rows i0:i0+mc, depth p0:p0+kc of op(a) into ap (nblk, >= kc, MR), zero-padding rows.

    op(a) = a.T when ta (a is (K, M)), else a (M, K); a 2-D C-contiguous, ap C-contiguous 3-D.
    """
    nfull = mc // MR
    if ta:  # k outer: one contiguous read of row k's mc elements, MR-groups out with literal indices
        for k in range(kc):
            src = a[p0 + k, i0:]
            row0 = (p0 + k) * a.shape[1] + i0
            for ir in range(nfull):
                move(ap, (ir * ap.shape[1] + k) * MR, a, row0 + ir * MR, MR, False)
            if nfull * MR < mc:
                dst = ap[nfull, k]
                for r in range(MR):
                    dst[r] = src[nfull * MR + r] if nfull * MR + r < mc else 0
        return
    for ir in range((mc + MR - 1) // MR):
        r0 = i0 + ir * MR
        rows = min(MR, i0 + mc - r0)
        blk = ap[ir]
        if rows == MR:  # eight depth steps at a time transposed in registers, then the tail
            k8 = kc // 8 * 8
            lda = a.shape[1]
            for k in range(0, k8, 8):
                transpose_rows(a, r0 * lda + p0 + k, lda, MR, blk, k * MR, MR)
            s0, s1, s2, s3, s4, s5 = a[r0, p0:], a[r0 + 1, p0:], a[r0 + 2, p0:], a[r0 + 3, p0:], a[r0 + 4, p0:], a[r0 + 5, p0:]
            for k in range(k8, kc):
                dst = blk[k]
                dst[0], dst[1], dst[2], dst[3], dst[4], dst[5] = s0[k], s1[k], s2[k], s3[k], s4[k], s5[k]
        else:
            for r in range(rows):
                src = a[r0 + r]
                for k in range(kc):
                    blk[k, r] = src[p0 + k]
            for r in range(rows, MR):
                for k in range(kc):
                    blk[k, r] = 0


@kernel
def _pack_b_panel(b, tb, jp, k0, k1, dst):
    """dst[k - k0, c] = op(b)[k, jp*NR + c] for depth rows k0:k1 of panel jp; columns past N are 0.

    op(b) = b.T when tb (b is (N, K)), else b (K, N); b 2-D C-contiguous, dst (>= k1 - k0, NR)
    C-contiguous, written.
    """
    nr = nr_for(dst)  # a constant, so full panels copy with unrolled vector moves
    n = b.shape[0] if tb else b.shape[1]
    j0 = jp * nr
    cols = min(nr, n - j0)
    k_rest = k0
    if tb and cols == nr:  # 8 x 8 blocks of b transposed in registers, the depth's tail below
        k_len = b.shape[1]
        k8 = k0 + (k1 - k0) // 8 * 8
        for k in range(k0, k8, 8):
            for c in range(0, nr, 8):
                transpose8x8(b, (j0 + c) * k_len + k, k_len, dst, (k - k0) * nr + c, nr)
        k_rest = k8
    for k in range(k_rest, k1):
        row = dst[k - k0]
        if cols == nr:
            if tb:
                for c in range(nr):
                    row[c] = b[j0 + c, k]
            else:
                move_nr(dst, (k - k0) * nr, b, k * n + j0, False)
        else:
            for c in range(nr):
                row[c] = 0
            for c in range(cols):
                row[c] = b[j0 + c, k] if tb else b[k, j0 + c]


def move_nr(dst, d_off, src, s_off, add):
    """dst.flat[d_off:d_off+NR] = (or += when add) src.flat[s_off:s_off+NR], NR of the dtype,
    as one vector move (``_vector_moves.move``)."""


@overload(move_nr, inline="always")
def _move_nr_impl(dst, d_off, src, s_off, add):
    if dst.dtype == types.float32:
        return lambda dst, d_off, src, s_off, add: move(dst, d_off, src, s_off, NR_F32, add)
    return lambda dst, d_off, src, s_off, add: move(dst, d_off, src, s_off, NR_F64, add)


@kernel
def _pack_b_panels(b, tb, jp0, jp1, k0, k1, dst, d0):
    """Panels jp0:jp1, depth rows k0:k1, of op(b) into dst[jp - jp0, d0:d0 + k1 - k0] (panels, rows, NR).

    op(b) = b: full panels row by row across all of them, so each row of b is read as adjacent
    lines (panel by panel, a b whose rows are 4 KiB apart put every line in one L1 set, and the
    packing took 2.3x longer). op(b) = b.T: panel by panel (``_pack_b_panel``). b 2-D
    C-contiguous, dst C-contiguous; columns past N are zero.
    """
    nr = nr_for(dst)
    n = b.shape[0] if tb else b.shape[1]
    jp_rest = jp0
    if not tb:
        jp_rest = max(jp0, min(jp1, n // nr))  # panels below this are full width
        for k in range(k0, k1):
            for jp in range(jp0, jp_rest):
                move_nr(dst, ((jp - jp0) * dst.shape[1] + d0 + k - k0) * nr, b, k * n + jp * nr, False)
    for jp in range(jp_rest, jp1):
        _pack_b_panel(b, tb, jp, k0, k1, dst[jp - jp0, d0:])


@kernel(inline="always")
def _store_tile_row(orow, j0, ct, c0, count, overwrite):
    """orow[j0:j0+count] = (or +=) ct[c0:c0+count]: one row of a micro-kernel tile written back."""
    if overwrite:
        for c in range(count):
            orow[j0 + c] = ct[c0 + c]
    else:
        for c in range(count):
            orow[j0 + c] += ct[c0 + c]


@kernel
def block(a, ta, b, tb, bpk, b_local, out, i0, mc, jp0, jp1, k0, k1, accumulate, ap, a_ready, ct):
    """out[i0:i0+mc, jp0*NR:jp1*NR] (+)= op(a)[i0:i0+mc, k0:k1] @ op(b)[k0:k1, jp0*NR:jp1*NR].

    B comes from the panels bpk (npanel, K, NR) packed beforehand (``shared_b``), or with
    ``b_local`` from scratch for B_GROUP panels (B_GROUP, >= depth step, NR) that block fills
    right before their micro-kernel calls: for a block that is the only user of its B panels,
    which then stay in L1 / L2.
    ap (slices, >= ceil(mc/MR), depth step, MR): packed A, one buffer reused per depth slice, or
    when ``a_ready`` all slices packed beforehand by ``pack_a_all`` (shared by column tasks).
    Depth rows k0:k1 of B are read (bpk holds all K rows, only k0:k1 are used).
    ct (MR*NR,) is scratch; all C-contiguous, one dtype.
    """
    n = out.shape[1]
    k_len = bpk.shape[1]
    nr = nr_for(out)
    nblk = (mc + MR - 1) // MR
    kstep = depth_step(k1 - k0)
    a_panel = ap.shape[2] * MR  # elements of one packed A micro-panel
    for p0 in range(k0, k1, kstep):
        kc = min(kstep, k1 - p0)
        if a_ready:
            aps = ap[(p0 - k0) // kstep]
        else:
            aps = ap[0]
            _pack_a(a, ta, i0, mc, p0, kc, aps)
        overwrite = p0 == k0 and not accumulate
        for jp in range(jp0, jp1):
            j0 = jp * nr
            cols = min(nr, n - j0)
            g = (jp - jp0) % B_GROUP
            if b_local and g == 0:
                _pack_b_panels(b, tb, jp, min(jp1, jp + B_GROUP), p0, p0 + kc, bpk, 0)
            for ir in range(nblk):
                # The output tile is read after the micro-kernel: start its (likely cache-missing)
                # rows now, so the misses overlap the kernel's ~1,500 cycles instead of following.
                r0 = i0 + ir * MR
                for r in range(min(MR, i0 + mc - r0)):
                    _prefetch_write(out, (r0 + r) * n + j0)
                    _prefetch_write(out, (r0 + r) * n + j0 + cols - 1)  # a row may straddle two lines
                if b_local:
                    _ukernel(kc, aps, ir * a_panel, bpk, g * k_len * nr, nr, ct)
                else:
                    _ukernel(kc, aps, ir * a_panel, bpk, (jp * k_len + p0) * nr, nr, ct)
                for r in range(min(MR, i0 + mc - r0)):
                    if cols == nr:
                        move_nr(out, (r0 + r) * n + j0, ct, r * nr, not overwrite)
                    else:
                        _store_tile_row(out[r0 + r], j0, ct, r * nr, cols, overwrite)


@kernel
def plan(m, npanel, k_len, nthreads, like):
    """Split an (m, npanel*NR) output of depth k_len into row x column blocks: (mc, nblk, ncb).

    One row block, its columns split over the threads, when m <= MC_MAX, or when the packed A
    of one depth slice fits ONE_BLOCK_A_BYTES and each thread gets ONE_BLOCK_MIN_PANELS column
    panels: every B panel then serves all rows, and is packed by its one user into L1 / L2
    instead of all of B going out to L3 and back (``shared_b``). Otherwise rows: prange hands
    each thread one contiguous run of tasks, of equal count, so the rows are cut into whole
    MR-row micro-panels shared evenly by the threads, each thread's share into blocks of at
    most MC_MAX rows (``row_range``; mc is the tallest); with fewer blocks than threads the
    columns are split as well (``part_range``). ``like``: an array of the product's dtype.
    """
    panels = (m + MR - 1) // MR
    a_bytes = panels * MR * depth_step(k_len) * like.itemsize
    if m <= MC_MAX or a_bytes <= ONE_BLOCK_A_BYTES and npanel >= ONE_BLOCK_MIN_PANELS * nthreads:
        return panels * MR, 1, min(npanel, nthreads)
    per_thread = (panels + nthreads - 1) // nthreads
    nblk = min(panels, nthreads * ((per_thread * MR + MC_MAX - 1) // MC_MAX))
    ncb = 1
    if nblk < nthreads:
        ncb = min(npanel, (nthreads + nblk - 1) // nblk)
    return (panels + nblk - 1) // nblk * MR, nblk, ncb


@kernel(inline="always")
def part_range(i, parts, total):
    """Part i of ``total`` items cut into ``parts`` near-equal contiguous parts: (start, stop)."""
    return i * total // parts, (i + 1) * total // parts


@kernel(inline="always")
def row_range(ib, nblk, m):
    """Rows (start, stop) of row block ib of ``plan``: whole MR-row micro-panels, the last clipped to m."""
    p0, p1 = part_range(ib, nblk, (m + MR - 1) // MR)
    return p0 * MR, min(m, p1 * MR)


@kernel(parallel=True)
def gemm_packed(a, b, out, accumulate, ta, tb):
    """out (+)= op(a) @ op(b), op = transpose when ta / tb, via packed panels and the micro-kernel.

    a: (M, K), or (K, M) when ta; b: (K, N), or (N, K) when tb; out: (M, N). All 2-D C-contiguous,
    one float dtype, K >= 1. out is overwritten (accumulate False) or added to; a, b are read only.
    """
    m, n = out.shape
    k_len = a.shape[0] if ta else a.shape[1]
    nr = nr_for(out)
    npanel = (n + nr - 1) // nr
    nt = num_threads()
    if use_ksplit(m, n, k_len, nt):
        parts = np.empty((nt - 1, m, n), dtype=out.dtype)
        for t in prange(nt):
            if t == 0:
                ksplit_part(a, ta, b, tb, out, 0, nt, accumulate)
            else:
                ksplit_part(a, ta, b, tb, parts[t - 1], t, nt, flag(False))
        add_parts(out, parts)
        return
    mc, nblk, ncb = plan(m, npanel, k_len, nt, out)
    shared = nblk == 1  # column tasks share one packed A, and each B panel has one user
    bpk = shared_b(b, tb, k_len, npanel, not shared, out)
    ap_all = pack_a_all(a, ta, m if shared else 0, k_len)
    for t in prange(nblk * ncb):
        ib = t // ncb
        i0, i1 = row_range(ib, nblk, m)
        jp0, jp1 = part_range(t - ib * ncb, ncb, npanel)
        ap, bt, ct = task_buffers(shared, ap_all, bpk, mc, k_len, nr, out)
        block(a, ta, b, tb, bt, shared, out, i0, i1 - i0, jp0, jp1, 0, k_len, accumulate, ap, shared, ct)


@kernel
def shared_b(b, tb, k_len, npanel, needed, like):
    """All of op(b) packed up front for row blocks that share it (``pack_b``), or an empty
    stand-in when not ``needed`` (blocks pack their own)."""
    nr = nr_for(like)
    if not needed:
        return np.empty((0, k_len, nr), dtype=like.dtype)
    bpk = np.empty((npanel, k_len, nr), dtype=like.dtype)
    pack_b(b, tb, bpk)
    return bpk


@kernel(parallel=True)
def pack_b(b, tb, bpk):
    """Pack op(b) into NR-wide panels bpk (npanel, K, NR), in parallel over depth ranges.

    op(b) = b.T when tb (b is (N, K)), else b (K, N); b 2-D C-contiguous, bpk C-contiguous, written.
    """
    npanel, k_len = bpk.shape[0], bpk.shape[1]
    # A parallel region costs more than packing a small B (e.g. dz for a weight gradient) serially.
    if bpk.size < PACK_B_PARALLEL_MIN:
        _pack_b_panels(b, tb, 0, npanel, 0, k_len, bpk, 0)
        return
    for t in prange((k_len + KB_PACK - 1) // KB_PACK):
        k0 = t * KB_PACK
        _pack_b_panels(b, tb, 0, npanel, k0, min(k_len, k0 + KB_PACK), bpk, k0)


@kernel
def use_ksplit(m, n, k_len, nthreads):
    """Split the depth across the threads (each computes a full partial product, summed after): for
    few rows and a deep K, where row or column splits leave tasks too small or share packed A/B."""
    return nthreads > 1 and m <= KSPLIT_MAX_M and m * n <= KSPLIT_MAX_MN and k_len >= KSPLIT_MIN_K * nthreads


@kernel
def ksplit_part(a, ta, b, tb, dst, t, nt, accumulate):
    """dst (+)= op(a)[:, k0:k1] @ op(b)[k0:k1] for depth part t of nt, packing its own A and B panels."""
    m, n = dst.shape
    nr = nr_for(dst)
    k0, k1 = part_range(t, nt, a.shape[0] if ta else a.shape[1])
    ap, ct = scratch(m, k1 - k0, nr, dst)
    bpk = panel_scratch(k1 - k0, nr, dst)
    block(a, ta, b, tb, bpk, flag(True), dst, 0, m, 0, (n + nr - 1) // nr, k0, k1, accumulate, ap, flag(False), ct)


@kernel
def add_parts(out, parts):
    """out += parts.sum(0), row by row (parts (P, M, N), out (M, N), C-contiguous)."""
    for p in range(parts.shape[0]):
        for i in range(out.shape[0]):
            orow = out[i]
            prow = parts[p, i]
            for j in range(orow.shape[0]):
                orow[j] += prow[j]


@kernel
def depth_step(k_len):
    """Depth of the packed slices: equal slices of at most KC (no short tail slice)."""
    nk = (k_len + KC - 1) // KC
    return (k_len + nk - 1) // nk


@kernel
def a_scratch(mc, k_len, like):
    """One packed A slice for ``block`` to fill: (1, ceil(mc/MR), depth step, MR)."""
    return np.empty((1, (mc + MR - 1) // MR, depth_step(k_len), MR), dtype=like.dtype)


@kernel
def scratch(mc, k_len, nr, like):
    """Per-task buffers for ``block``: one packed A slice (``a_scratch``) and ct (MR*NR,)."""
    return a_scratch(mc, k_len, like), np.empty(MR * nr, dtype=like.dtype)


@kernel
def task_buffers(shared, ap_all, bpk, mc, k_len, nr, like):
    """(ap, bpk, ct) for one task of a ``plan``: with ``shared`` (one row block) the A packed
    for all tasks and a B panel scratch (``b_local``); else an A slice to fill and the B packed
    for all row blocks."""
    ct = np.empty(MR * nr, dtype=like.dtype)
    if shared:
        return ap_all, panel_scratch(k_len, nr, like), ct
    return a_scratch(mc, k_len, like), bpk, ct


@kernel
def panel_scratch(k_len, nr, like):
    """B panels' buffer for ``block`` with ``b_local``: (B_GROUP, depth step of k_len, nr)."""
    return np.empty((B_GROUP, depth_step(k_len), nr), dtype=like.dtype)


@kernel(parallel=True)
def pack_a_all(a, ta, m, k_len):
    """Pack all of op(a) (m rows) for ``block`` with a_ready: (slices, ceil(m/MR), step, MR);
    large ones on all threads, each a range of row panels of each slice."""
    kstep = depth_step(k_len)
    ap = np.empty(((k_len + kstep - 1) // kstep, (m + MR - 1) // MR, kstep, MR), dtype=a.dtype)
    nslice, panels = ap.shape[0], ap.shape[1]
    if m * k_len < PACK_A_PARALLEL_MIN:
        for s in range(nslice):
            _pack_a(a, ta, 0, m, s * kstep, min(kstep, k_len - s * kstep), ap[s])
        return ap
    parts = num_threads()
    for t in prange(nslice * parts):
        s = t // parts
        q0, q1 = part_range(t - s * parts, parts, panels)
        if q1 > q0:
            _pack_a(a, ta, q0 * MR, min(m, q1 * MR) - q0 * MR, s * kstep, min(kstep, k_len - s * kstep), ap[s, q0:])
    return ap


@kernel
def gemm_serial(a, b, out, accumulate, ta, tb):
    """Serial twin of ``gemm_packed`` (same arguments) for products too small to repay a parallel region."""
    m, n = out.shape
    k_len = a.shape[0] if ta else a.shape[1]
    nr = nr_for(out)
    npanel = (n + nr - 1) // nr
    local = m <= MC_MAX  # one row block: each B panel packed right before its only use
    bpk = panel_scratch(k_len, nr, out) if local else shared_b(b, tb, k_len, npanel, flag(True), out)
    mc = min(m, MC_MAX)
    ap, ct = scratch(mc, k_len, nr, out)
    for i0 in range(0, m, mc):
        block(a, ta, b, tb, bpk, local, out, i0, min(mc, m - i0), 0, npanel, 0, k_len, accumulate, ap, flag(False), ct)


@kernel
def use_parallel(m, n, k_len):
    """True when an (m, n, k) product is big enough for the parallel packed driver."""
    return m * n * k_len >= PARALLEL_FMAS


@kernel
def use_small(m, n, k_len):
    """True when an (m, n, k) product should take the serial non-packing path."""
    return m < MR or m * n * k_len < SMALL_FMAS


@kernel(fastmath={"contract", "nnan", "ninf", "nsz", "arcp"})
def small_nn(a, b, out, accumulate):
    """Serial out (+)= a @ b without packing (i-k-j order). a (M, K), b (K, N), out (M, N), C-contiguous."""
    small_nn_depth(a, b, out, 0, a.shape[1], accumulate)


@kernel(fastmath={"contract", "nnan", "ninf", "nsz", "arcp"})
def small_nn_depth(a, b, out, k0, k1, accumulate):
    """Serial out (+)= a[:, k0:k1] @ b[k0:k1] in ``small_nn``'s order. a (M, K), b (K, N), out (M, N),
    C-contiguous; 0 <= k0 <= k1 <= K."""
    # Slices first: indices counted from 0 in the loops compile without the negative-index fix-up,
    # which with a run-time k0 cost 15 % of a one-row product.
    bd = b[k0:k1]
    k_len = bd.shape[0]
    k4 = k_len - k_len % 4
    for i in range(a.shape[0]):
        orow = out[i]
        if not accumulate:
            orow[:] = 0
        arow = a[i, k0:k1]
        # Four depth rows per pass over orow: a quarter of the loads/stores of orow, and the same
        # sequence of fused multiply-adds per element as one row at a time.
        for k in range(0, k4, 4):
            a0, a1, a2, a3 = arow[k], arow[k + 1], arow[k + 2], arow[k + 3]
            b0, b1, b2, b3 = bd[k], bd[k + 1], bd[k + 2], bd[k + 3]
            for j in range(orow.shape[0]):
                orow[j] = orow[j] + a0 * b0[j] + a1 * b1[j] + a2 * b2[j] + a3 * b3[j]
        for k in range(k4, k_len):
            aik = arow[k]
            brow = bd[k]
            for j in range(orow.shape[0]):
                orow[j] += aik * brow[j]


@kernel(fastmath={"contract", "nnan", "ninf", "nsz", "arcp"})
def small_tn(a, b, out, accumulate):
    """Serial out (+)= a.T @ b without packing. a (K, M), b (K, N), out (M, N), C-contiguous."""
    k_len = a.shape[0]
    k4 = k_len - k_len % 4
    for i in range(a.shape[1]):
        orow = out[i]
        if not accumulate:
            orow[:] = 0
        for k in range(0, k4, 4):  # four depth rows per pass, as in small_nn
            a0, a1, a2, a3 = a[k, i], a[k + 1, i], a[k + 2, i], a[k + 3, i]
            b0, b1, b2, b3 = b[k], b[k + 1], b[k + 2], b[k + 3]
            for j in range(orow.shape[0]):
                orow[j] = orow[j] + a0 * b0[j] + a1 * b1[j] + a2 * b2[j] + a3 * b3[j]
        for k in range(k4, k_len):
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
