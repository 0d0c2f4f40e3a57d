"""Row gathers: a training batch copied out of the data set in the epoch's sample order."""

from numba import carray, prange
from numba.extending import intrinsic

from ._cabi import CKernel
from ._gemm import num_threads
from ._jit import kernel

# From this many elements a batch is gathered on all threads: an MLP batch of 128 MNIST rows
# (100,352 floats from scattered rows) took ~43 us serially, ~23 us on two threads.
GATHER_PARALLEL_MIN = 1 << 15


@kernel(inline="always")
def gather_rows_into(src, rows, dst):
    """dst[i] = src[rows[i]] for every i.

    src: (n, d), dst: (len(rows), d), 2-D arrays of one dtype (C-contiguous is fastest);
    rows: 1-D int64 indices into src, each in range (not checked). Only dst is written.
    """
    for i in range(rows.shape[0]):
        r = rows[i]
        for j in range(src.shape[1]):
            dst[i, j] = src[r, j]


@kernel(parallel=True)
def gather_rows_parallel_into(src, rows, dst):
    """``gather_rows_into`` with the rows split evenly over Numba's threads (same arguments)."""
    parts = num_threads()
    step = (rows.shape[0] + parts - 1) // parts
    for c in prange(parts):
        a = min(rows.shape[0], c * step)
        b = min(rows.shape[0], a + step)
        gather_rows_into(src, rows[a:b], dst[a:b])


def _gather_parallel_c(sp, s0, s1, rp, r0, dp, d0, d1):
    gather_rows_parallel_into(carray(sp, (s0, s1)), carray(rp, (r0,)), carray(dp, (d0, d1)))


_GATHER_PARALLEL = CKernel(_gather_parallel_c, "gather_rows_parallel", "ala", 1)


@intrinsic
def _gather_parallel_call(typingctx, src, rows, dst):
    return _GATHER_PARALLEL.call(src, rows, dst)


@kernel(inline="always")
def gather_batch_into(src, rows, dst):
    """``gather_rows_into`` for a batch of a compiled loop: C-contiguous src and dst, contiguous
    rows; big batches go through the parallel gather's C symbol (the loop links a call, not a
    parallel region)."""
    if rows.shape[0] * src.shape[1] >= GATHER_PARALLEL_MIN:
        _gather_parallel_call(src, rows, dst)
    else:
        gather_rows_into(src, rows, dst)
