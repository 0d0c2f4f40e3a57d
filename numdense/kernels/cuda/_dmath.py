"""Scalar device helpers used instead of the ``min`` / ``max`` builtins.

numba 0.68's built-in CUDA target fails to type ``max(x, y)`` on scalars ("Signature mismatch"),
so the kernels use these; NaN handling is that of Numba's CPU ``max`` / ``min`` (the first argument
is kept unless the second compares greater / smaller).
"""

from numba import cuda


@cuda.jit(device=True)
def fmax(a, b):
    """max(a, b) with Numba CPU semantics: b if b > a else a."""
    return b if b > a else a


@cuda.jit(device=True)
def fmin(a, b):
    """min(a, b) with Numba CPU semantics: b if b < a else a."""
    return b if b < a else a
