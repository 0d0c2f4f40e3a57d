"""Weight-penalty kernels: the L1/L2 penalty and its gradient, folded into an optimizer step.

Arrays of any rank are handled through a flat view (``reshape(size)``), so they must be
C-contiguous; ``float32`` and ``float64`` are both accepted.
"""

import numpy as np

from ._jit import kernel


@kernel
def l1l2_penalty(w, l1, l2):
    """``l1 * sum(|w|) + l2 * sum(w**2)`` as a float64, accumulated in float64.

    ``w``: C-contiguous float32/float64 array of any rank (read only). A term whose
    coefficient is 0 is skipped entirely, as Keras does, so it cannot turn inf/nan weights
    into a nan penalty.
    """
    flat = w.reshape(w.size)
    s1 = 0.0
    s2 = 0.0
    for i in range(flat.size):
        v = np.float64(flat[i])
        s1 += abs(v)
        s2 += v * v
    total = 0.0
    if l1 != 0.0:
        total += l1 * s1
    if l2 != 0.0:
        total += l2 * s2
    return total


@kernel
def l1l2_grad_into(w, g, l1, l2):
    """Adds the penalty's gradient to ``g`` in place: ``g += l1*sign(w) + 2*l2*w``.

    ``w``: C-contiguous float32/float64 array of any rank (read only). ``g``: C-contiguous
    float32/float64 array with ``g.size == w.size`` (same shape in practice), written in place.
    ``sign(0) = 0`` (TensorFlow's subgradient of ``|w|`` at 0). Arithmetic in ``g``'s precision.
    """
    wf = w.reshape(w.size)
    gf = g.reshape(g.size)
    a = gf.dtype.type(l1)
    b = gf.dtype.type(2.0 * l2)
    for i in range(wf.size):
        v = gf.dtype.type(wf[i])
        s = gf.dtype.type(0.0)
        if v > 0:
            s = gf.dtype.type(1.0)
        elif v < 0:
            s = gf.dtype.type(-1.0)
        elif v != v:
            s = v
        gf[i] += a * s + b * v
