"""The one place where numdense's CPU kernels get their Numba options.

``cache=True`` (compiled code reused by the next process) unless ``NUMDENSE_CACHE=0``;
``nogil=True`` so kernels can run from several Python threads; ``error_model="numpy"`` so
division by zero gives inf/nan as in NumPy instead of raising (and without the check's cost).
"""

import os

import numba

from . import _threading  # noqa: F401  (threading-layer policy must be set before first prange)

CACHE = os.environ.get("NUMDENSE_CACHE", "1").strip().lower() not in ("0", "false", "no", "off")


def kernel(fn=None, **options):
    """``numba.njit`` with numdense's defaults; usable as ``@kernel`` or ``@kernel(parallel=True)``."""
    options.setdefault("cache", CACHE)
    options.setdefault("nogil", True)
    options.setdefault("error_model", "numpy")
    if fn is None:
        return lambda f: numba.njit(**options)(f)
    return numba.njit(**options)(fn)


def same_dtype(*arrays):
    """True if every array has one dtype; in compiled code, a constant of the argument types."""
    return len({a.dtype for a in arrays}) <= 1


@numba.extending.overload(same_dtype)
def _same_dtype_typed(*arrays):
    same = len({a.dtype for a in arrays}) <= 1
    return lambda *arrays: same
