"""Single-block float64 reductions used by losses, regularizers, optimizers and constraints.

Each kernel runs as one block of ``threads_per_block()`` threads: a strided pass accumulates
per-thread float64 partials, a shared-memory tree adds them, and thread 0 writes ``out[slot]``.
The result stays on the device (``out`` is a float64 device array), so callers can feed it to
the next kernel without a host round trip.
"""

import functools

import numpy as np
from numba import cuda

from . import _config


@functools.lru_cache(maxsize=None)
def _kernels(dtype, nthreads):
    T = np.dtype(dtype).type
    ZERO = T(0.0)
    ONE = T(1.0)

    @cuda.jit(device=True)
    def tree(sh):
        tid = cuda.threadIdx.x
        s = nthreads // 2
        while s > 0:
            # Partials of the previous level must be written before they are read.
            cuda.syncthreads()
            if tid < s:
                sh[tid] += sh[tid + s]
            s //= 2

    @cuda.jit(device=True)
    def sign(x):
        return ONE if x > ZERO else (-ONE if x < ZERO else x)

    @cuda.jit
    def sum_sq(x, out, slot):
        """out[slot] = sum(float64(x)**2) for 1-D x."""
        sh = cuda.shared.array(nthreads, np.float64)
        tid = cuda.threadIdx.x
        s = 0.0
        for i in range(tid, x.shape[0], nthreads):
            v = np.float64(x[i])
            s += v * v
        sh[tid] = s
        tree(sh)
        if tid == 0:
            out[slot] = sh[0]

    @cuda.jit
    def sum_sq_reg(w, g, l1, l2x2, out, slot):
        """out[slot] = sum(float64(g + l1*sign(w) + l2x2*w)**2), the regularized g formed in
        g's dtype (terms with a zero coefficient skipped); w, g 1-D of one size."""
        sh = cuda.shared.array(nthreads, np.float64)
        tid = cuda.threadIdx.x
        s = 0.0
        for i in range(tid, g.shape[0], nthreads):
            x = g[i]
            if l1 != ZERO:
                x += l1 * sign(w[i])
            if l2x2 != ZERO:
                x += l2x2 * w[i]
            y = np.float64(x)
            s += y * y
        sh[tid] = s
        tree(sh)
        if tid == 0:
            out[slot] = sh[0]

    @cuda.jit
    def l1l2(w, l1, l2, out, slot):
        """out[slot] = l1*sum|w| + l2*sum w**2 in float64 (a zero coefficient skips its term)."""
        sh1 = cuda.shared.array(nthreads, np.float64)
        sh2 = cuda.shared.array(nthreads, np.float64)
        tid = cuda.threadIdx.x
        s1 = 0.0
        s2 = 0.0
        for i in range(tid, w.shape[0], nthreads):
            v = np.float64(w[i])
            s1 += abs(v)
            s2 += v * v
        sh1[tid] = s1
        sh2[tid] = s2
        tree(sh1)
        tree(sh2)
        if tid == 0:
            total = 0.0
            if l1 != 0.0:
                total += l1 * sh1[0]
            if l2 != 0.0:
                total += l2 * sh2[0]
            out[slot] = total

    @cuda.jit
    def total(v, out, slot):
        """out[slot] = sum(v) for a 1-D float64 v."""
        sh = cuda.shared.array(nthreads, np.float64)
        tid = cuda.threadIdx.x
        s = 0.0
        for i in range(tid, v.shape[0], nthreads):
            s += v[i]
        sh[tid] = s
        tree(sh)
        if tid == 0:
            out[slot] = sh[0]

    return {"sum_sq": sum_sq, "sum_sq_reg": sum_sq_reg, "l1l2": l1l2, "total": total}


def reduce_into(name, dtype, *args):
    """Launches reduction ``name`` (sum_sq, sum_sq_reg, l1l2, total) as one block."""
    n = _config.threads_per_block()
    _kernels(np.dtype(dtype), n)[name][1, n](*args)


def scalar_buffer(size=1):
    """A float64 device array for reduction results."""
    return cuda.device_array(size, dtype=np.float64)
