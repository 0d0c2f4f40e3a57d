"""CUDA weight-penalty kernels: the L1/L2 penalty (a device reduction) and its gradient.

Arrays of any rank are handled through a flat view, so they must be C-contiguous.
"""

import functools

import numpy as np
from numba import cuda

from . import _config
from ._reduce import reduce_into, scalar_buffer

__all__ = ["l1l2_grad_into", "l1l2_penalty"]


@functools.lru_cache(maxsize=None)
def _grad_kernel(dtype):
    T = np.dtype(dtype).type
    ZERO, ONE = T(0.0), T(1.0)

    @cuda.jit
    def grad(w, g, a, b):
        """g[i] += a*sign(w[i]) + b*w[i] on flat arrays (sign(0) = 0, nan propagates)."""
        for i in range(cuda.grid(1), g.shape[0], cuda.gridsize(1)):
            v = T(w[i])
            s = ONE if v > ZERO else (-ONE if v < ZERO else v)
            g[i] += a * s + b * v

    return grad


def l1l2_penalty(w, l1, l2):
    """``l1 * sum(|w|) + l2 * sum(w**2)`` as a Python float, reduced in float64 on the device.

    w: C-contiguous float32/float64 device array of any rank (read only). A zero coefficient
    skips its term, as Keras does. Copying the result to the host synchronizes.
    """
    buf = scalar_buffer()
    reduce_into("l1l2", w.dtype, w.reshape(w.size), float(l1), float(l2), buf, 0)
    return float(buf.copy_to_host()[0])


def l1l2_grad_into(w, g, l1, l2):
    """Adds the penalty's gradient to ``g`` in place: ``g += l1*sign(w) + 2*l2*w``.

    w: C-contiguous float32/float64 device array of any rank (read only); g: C-contiguous device
    array of w's size, written in place; arithmetic in g's precision.
    """
    if g.size:
        T = np.dtype(g.dtype).type
        blocks, tpb = _config.grid_1d(g.size)
        _grad_kernel(np.dtype(g.dtype))[min(blocks, 65535), tpb](w.reshape(w.size), g.reshape(g.size), T(l1), T(2.0 * l2))
