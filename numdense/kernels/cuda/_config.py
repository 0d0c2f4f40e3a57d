"""Launch configuration of the CUDA kernels: GEMM tile shape and threads per block.

The defaults suit real GPUs; under the CUDA simulator (one Python thread per CUDA thread) they are
tiny, so tests run in seconds and still cover several blocks and ragged edges. ``using(...)``
changes them temporarily (tests use it to force many blocks on small shapes).
"""

import contextlib
from typing import NamedTuple

from numba import config as _numba_config

SIMULATOR = bool(_numba_config.ENABLE_CUDASIM)


class Tiles(NamedTuple):
    """GEMM tiling: a block computes a (bm, bn) output tile, stepping K by bk; each of its
    (bm // tm) * (bn // tn) threads keeps a (tm, tn) register tile."""

    bm: int
    bn: int
    bk: int
    tm: int
    tn: int

    @property
    def threads(self):
        return (self.bn // self.tn, self.bm // self.tm)


GPU_TILES = Tiles(64, 64, 16, 4, 4)  # 16 x 16 threads, 16 outputs each
SIM_TILES = Tiles(8, 8, 4, 2, 2)  # 4 x 4 threads

_state = {
    "tiles": SIM_TILES if SIMULATOR else GPU_TILES,
    "tpb": 32 if SIMULATOR else 256,  # threads per block of the 1-D kernels (power of two)
}


def _check_tiles(t):
    t = Tiles(*(int(v) for v in t))
    if min(t) < 1 or t.bm % t.tm or t.bn % t.tn:
        raise ValueError(f"bad tile shape {t}: tm must divide bm and tn divide bn")
    tx, ty = t.threads
    if tx * ty > 1024:
        raise ValueError(f"tile shape {t} needs {tx * ty} threads per block (at most 1024)")
    return t


def tiles():
    """The GEMM ``Tiles`` used by the next launch."""
    return _state["tiles"]


def threads_per_block():
    """Threads per block of the element-wise, row-wise and reduction kernels."""
    return _state["tpb"]


def set_config(tiles=None, tpb=None):
    """Sets the GEMM tile shape (a ``Tiles`` or 5-tuple) and/or the 1-D threads per block."""
    if tiles is not None:
        _state["tiles"] = _check_tiles(tiles)
    if tpb is not None:
        tpb = int(tpb)
        if tpb < 1 or tpb > 1024 or tpb & (tpb - 1):
            raise ValueError(f"threads per block must be a power of two in [1, 1024], got {tpb}")
        _state["tpb"] = tpb


@contextlib.contextmanager
def using(tiles=None, tpb=None):
    """Context manager: ``with using(tiles=(8, 8, 4, 2, 2), tpb=8): ...``."""
    saved = dict(_state)
    set_config(tiles, tpb)
    try:
        yield
    finally:
        _state.update(saved)


def grid_1d(n, tpb=None):
    """(blocks, threads) covering ``n`` threads, at least one block."""
    tpb = tpb or _state["tpb"]
    return max(1, (n + tpb - 1) // tpb), tpb
