"""Row gathers (a batch in the epoch's sample order) as a CUDA kernel."""

import functools

import numpy as np
from numba import cuda

from . import _config

__all__ = ["gather_rows_into"]


@functools.lru_cache(maxsize=None)
def _kernel(dtype):
    @cuda.jit
    def gather(src, rows, dst):
        """dst[i, j] = src[rows[i], j]; consecutive threads copy consecutive columns of a row."""
        d = src.shape[1]
        for e in range(cuda.grid(1), dst.size, cuda.gridsize(1)):
            i = e // d
            j = e - i * d
            dst[i, j] = src[rows[i], j]

    return gather


def gather_rows_into(src, rows, dst):
    """dst[i] = src[rows[i]] for every i.

    src: (n, d), dst: (len(rows), d), C-contiguous device arrays of one float dtype; rows: 1-D
    int64 device array of indices into src, each in range (not checked). Only dst is written.
    """
    if dst.size:
        blocks, tpb = _config.grid_1d(dst.size)
        _kernel(np.dtype(dst.dtype))[min(blocks, 65535), tpb](src, rows, dst)
