"""The GEMM driver's parts: work split, B panel packing, the register transpose, layer shapes."""

import numpy as np
import pytest

from numdense.kernels.cpu import _gemm
from numdense.kernels.cpu._jit import kernel
from numdense.kernels.cpu._vector_moves import move, transpose8x8, transpose_rows
from numdense.kernels.cpu.matmul import matmul_into, matmul_nt_into, matmul_tn_into

MR = _gemm.MR


@kernel
def _transpose(src, s_off, s_ld, dst, d_off, d_ld):
    transpose8x8(src, s_off, s_ld, dst, d_off, d_ld)


@kernel
def _transpose6(src, s_off, s_ld, dst, d_off, d_ld):
    transpose_rows(src, s_off, s_ld, 6, dst, d_off, d_ld)


@kernel
def _move5(dst, d_off, src, s_off, add):
    move(dst, d_off, src, s_off, 5, add)


@kernel
def _pack_panel(b, tb, jp, k0, k1, dst):
    _gemm._pack_b_panel(b, tb, jp, k0, k1, dst)


@kernel
def _pack_panels(b, tb, jp0, jp1, k0, k1, dst, d0):
    _gemm._pack_b_panels(b, tb, jp0, jp1, k0, k1, dst, d0)


def _split(m, npanel, nthreads, k_len=256, dtype=np.float32):
    return _split_jit(m, npanel, k_len, nthreads, np.empty(0, dtype))


@kernel
def _split_jit(m, npanel, k_len, nthreads, like):
    mc, nblk, ncb = _gemm.plan(m, npanel, k_len, nthreads, like)
    rows = np.empty((nblk, 2), np.int64)
    for ib in range(nblk):
        rows[ib] = _gemm.row_range(ib, nblk, m)
    cols = np.empty((ncb, 2), np.int64)
    for jb in range(ncb):
        cols[jb] = _gemm.part_range(jb, ncb, npanel)
    return mc, rows, cols


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("transpose,nrows", [(_transpose, 8), (_transpose6, 6)])
def test_transpose_writes_its_block_only(transpose, nrows, dtype):
    src = np.arange(13 * 21, dtype=dtype).reshape(13, 21)
    dst = np.full((12, 11), -1, dtype)
    transpose(src, 2 * 21 + 5, 21, dst, 3 * 11 + 2, 11)
    want = np.full((12, 11), -1, dtype)
    want[3:11, 2:2 + nrows] = src[2:2 + nrows, 5:13].T  # eight columns of nrows rows
    np.testing.assert_array_equal(dst, want)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("add", [False, True])
def test_move_copies_or_adds_its_lanes(dtype, add):
    src = np.arange(1, 13, dtype=dtype)
    dst = np.full(12, 10, dtype)
    _move5(dst, 4, src, 2, add)
    want = np.full(12, 10, dtype)
    want[4:9] = src[2:7] + (10 if add else 0)
    np.testing.assert_array_equal(dst, want)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("tb", [False, True])
@pytest.mark.parametrize("n", [3 * 16 + 5, 48])  # a partial last panel, and none
@pytest.mark.parametrize("k0,k1", [(0, 37), (5, 29), (8, 24), (3, 4)])  # tails past multiples of 8
def test_pack_b_panel_matches_slices(dtype, tb, n, k0, k1):
    rng = np.random.default_rng(0)
    k_len = 40
    op_b = rng.standard_normal((k_len, n)).astype(dtype)
    b = np.ascontiguousarray(op_b.T) if tb else op_b
    nr = _gemm.NR_F32 if dtype == np.float32 else _gemm.NR_F64
    for jp in range((n + nr - 1) // nr):
        dst = np.full((k1 - k0 + 2, nr), np.nan, dtype)
        _pack_panel(b, tb, jp, k0, k1, dst)
        want = np.zeros((k1 - k0, nr), dtype)
        cols = op_b[k0:k1, jp * nr:(jp + 1) * nr]
        want[:, :cols.shape[1]] = cols
        np.testing.assert_array_equal(dst[:k1 - k0], want)
        assert np.isnan(dst[k1 - k0:]).all()  # nothing written past the range


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("tb", [False, True])
@pytest.mark.parametrize("n", [4 * 16 + 3, 1024])  # a partial last panel; rows 4 KiB apart
@pytest.mark.parametrize("jp0,jp1", [(0, 4), (1, 3), (3, 5)])
def test_pack_b_panels_matches_slices(dtype, tb, n, jp0, jp1):
    rng = np.random.default_rng(2)
    k_len, k0, k1, d0 = 45, 3, 42, 2
    op_b = rng.standard_normal((k_len, n)).astype(dtype)
    b = np.ascontiguousarray(op_b.T) if tb else op_b
    nr = _gemm.NR_F32 if dtype == np.float32 else _gemm.NR_F64
    jp1 = min(jp1, -(-n // nr))
    dst = np.full((jp1 - jp0 + 1, d0 + k1 - k0 + 1, nr), np.nan, dtype)
    _pack_panels(b, tb, jp0, jp1, k0, k1, dst, d0)
    for jp in range(jp0, jp1):
        want = np.zeros((k1 - k0, nr), dtype)
        cols = op_b[k0:k1, jp * nr:(jp + 1) * nr]
        want[:, :cols.shape[1]] = cols
        np.testing.assert_array_equal(dst[jp - jp0, d0:d0 + k1 - k0], want)
    written = np.zeros(dst.shape, bool)
    written[:jp1 - jp0, d0:d0 + k1 - k0] = True
    assert np.isnan(dst[~written]).all()  # nothing else touched


@pytest.mark.parametrize("nthreads", [1, 2, 3, 4, 8])
def test_plan_covers_rows_once_in_balanced_thread_shares(nthreads):
    for m in list(range(1, 200)) + [256, 511, 784, 1000, 1024, 4096]:
        npanel = 8
        mc, rows, cols = _split(m, npanel, nthreads)
        assert rows[0, 0] == 0 and rows[-1, 1] == m
        assert (rows[1:, 0] == rows[:-1, 1]).all()  # contiguous, no overlap
        assert (rows[:, 0] % MR == 0).all()  # blocks start on micro-panel boundaries
        heights = rows[:, 1] - rows[:, 0]
        assert heights.min() > 0 and heights.max() <= mc
        assert mc <= max(_gemm.MC_MAX, MR) or len(rows) == 1 and mc == -(-m // MR) * MR
        assert cols[0, 0] == 0 and cols[-1, 1] == npanel and (cols[1:, 0] == cols[:-1, 1]).all()
        tasks = len(rows) * len(cols)
        if tasks % nthreads == 0 and len(cols) == 1:
            # prange gives each thread an equal run of tasks: their rows differ by at most one panel
            per = tasks // nthreads
            shares = [rows[(t + 1) * per - 1, 1] - rows[t * per, 0] for t in range(nthreads)]
            assert max(shares) - min(shares) <= MR, (m, shares)


def test_plan_splits_256_rows_evenly_over_two_threads():
    mc, rows, cols = _split(256, 8, 2)
    assert len(cols) == 1 and len(rows) % 2 == 0
    half = len(rows) // 2
    assert rows[half - 1, 1] - rows[0, 0] in (126, 130)  # 21 or 22 micro-panels each, not 144 / 112


@pytest.mark.parametrize("m,npanel,k_len,dtype,one_block", [
    (256, 64, 1024, np.float32, True),  # 258 (43 panels) x 256 x 4 B of A per slice: one block
    (256, 64, 1024, np.float64, False),  # twice the bytes: rows split
    (294, 64, 1024, np.float32, False),  # 294 x 256 x 4 B > 288 KiB
    (256, 15, 1024, np.float32, False),  # too few panels for 8 a thread
    (128, 16, 784, np.float32, True),
    (72, 2, 784, np.float64, True),  # up to MC_MAX rows always
])
def test_plan_one_row_block_for_wide_products(m, npanel, k_len, dtype, one_block):
    mc, rows, cols = _split(m, npanel, 2, k_len, dtype)
    assert (len(rows) == 1) == one_block
    if one_block:
        assert mc >= m and len(cols) == min(npanel, 2)


# The products of a 784 -> 128 Dense layer at batch 32 and 256: forward (depth split at 32
# rows), weight gradient, input gradient (B transposed: packed per panel group at 32 rows,
# shared and packed up front at 256); and of a 1024 -> 1024 one (rows 4 KiB apart).
LAYER = [(matmul_into, (32, 784), (784, 128), False, False),
         (matmul_into, (256, 784), (784, 128), False, False),
         (matmul_tn_into, (32, 784), (32, 128), True, False),
         (matmul_tn_into, (256, 784), (256, 128), True, False),
         (matmul_nt_into, (32, 128), (784, 128), False, True),
         (matmul_nt_into, (256, 128), (784, 128), False, True),
         (matmul_into, (32, 1024), (1024, 1024), False, False),
         (matmul_into, (100, 1024), (1024, 1024), False, False),
         (matmul_nt_into, (32, 1024), (1024, 1024), False, True),
         (matmul_tn_into, (300, 250), (300, 1024), True, False)]  # one row block, A packed in parallel


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("core,a_shape,b_shape,ta,tb", LAYER)
def test_layer_products_match_numpy(core, a_shape, b_shape, ta, tb, dtype):
    rng = np.random.default_rng(1)
    a = rng.standard_normal(a_shape).astype(dtype)
    b = rng.standard_normal(b_shape).astype(dtype)
    op_a = a.T if ta else a
    op_b = b.T if tb else b
    want = op_a.astype(np.float64) @ op_b.astype(np.float64)
    tol = 8 * op_a.shape[1] * np.finfo(dtype).eps * (np.abs(op_a) @ np.abs(op_b))
    out = np.full(want.shape, np.nan, dtype)
    core(a, b, out, False)
    assert (np.abs(out - want) <= tol).all()
    core(a, b, out, True)
    assert (np.abs(out - 2 * want) <= 2 * tol).all()
