"""Weight-constraint kernel, applied in place by the optimizer after each update.

Every constraint is a per-vector rescaling (or a clamp) of a 2-D (rows, cols) C-contiguous view
of the weight; ``numdense.constraints`` maps other ranks and ``axis`` values onto that view.
The kind ids below list the parameters each kind reads.
"""

import numpy as np

from ._jit import kernel

NONE = 0  # identity
MAX_NORM = 1  # p0 = max_value
NON_NEG = 2  # no parameters
UNIT_NORM = 3  # no parameters
MIN_MAX_NORM = 4  # p0 = min_value, p1 = max_value, p2 = rate

AXIS_COLUMNS = 0  # one norm per column (reduce over axis 0): Keras' default for (in, units)
AXIS_ROWS = 1  # one norm per row (reduce over axis 1)
AXIS_ALL = 2  # one norm for the whole array


@kernel
def _scale(norm, kind, p0, p1, p2, eps):
    if kind == MAX_NORM:
        desired = min(max(norm, 0.0), p0)
    elif kind == UNIT_NORM:
        desired = 1.0
    else:
        desired = p2 * min(max(norm, p0), p1) + (1.0 - p2) * norm
    return desired / (eps + norm)


@kernel
def constraint_apply_into(w, kind, p0, p1, p2, axis_mode, eps=1e-7):
    """Applies constraint ``kind`` to ``w`` in place.

    ``w``: 2-D (rows, cols) C-contiguous float32/float64 array, overwritten with the
    constrained weight. ``axis_mode``: 0 = one L2 norm per column, 1 = one per row, 2 = one for
    the whole array. Norms ``sqrt(sum(w**2))`` are accumulated in float64; each vector is
    multiplied by ``desired / (eps + norm)`` (MAX_NORM: ``desired = clip(norm, 0, p0)``;
    UNIT_NORM: ``1``; MIN_MAX_NORM: ``p2*clip(norm, p0, p1) + (1-p2)*norm``). NON_NEG sets
    negative entries to 0 (nan stays nan); NONE leaves ``w`` unchanged. ``eps`` is
    ``numdense.config.epsilon()`` (1e-7).
    """
    rows, cols = w.shape
    if kind == NONE:
        return
    if kind == NON_NEG:
        for r in range(rows):
            for c in range(cols):
                if w[r, c] < 0:
                    w[r, c] = 0
        return
    if axis_mode == AXIS_COLUMNS:
        acc = np.zeros(cols)
        for r in range(rows):
            for c in range(cols):
                v = np.float64(w[r, c])
                acc[c] += v * v
        for c in range(cols):
            acc[c] = _scale(np.sqrt(acc[c]), kind, p0, p1, p2, eps)
        for r in range(rows):
            for c in range(cols):
                w[r, c] = w[r, c] * acc[c]
    elif axis_mode == AXIS_ROWS:
        for r in range(rows):
            s = 0.0
            for c in range(cols):
                v = np.float64(w[r, c])
                s += v * v
            f = _scale(np.sqrt(s), kind, p0, p1, p2, eps)
            for c in range(cols):
                w[r, c] = w[r, c] * f
    else:
        s = 0.0
        for r in range(rows):
            for c in range(cols):
                v = np.float64(w[r, c])
                s += v * v
        f = _scale(np.sqrt(s), kind, p0, p1, p2, eps)
        for r in range(rows):
            for c in range(cols):
                w[r, c] = w[r, c] * f
