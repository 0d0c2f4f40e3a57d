"""Loss kernels: per-sample Keras 3 loss values and their gradients with respect to ``y_pred``.

Formulas are Keras 3's; gradients follow the TensorFlow backend at the non-smooth points
(``clip_by_value`` passes the gradient on the closed interval, ``maximum(x, y)`` sends it to ``x``
when ``x >= y``, ``reduce_max`` splits it evenly between ties, ``abs`` has slope 0 at 0).
Arithmetic is float64 inside (``np.float64(x)``: Numba's ``float()`` keeps float32); clip bounds
are rounded to the input dtype first, as Keras clips in the input dtype (float32 ``1 - 1e-7`` is
``1 - 2**-23``). Kind ids: ``numdense.kernels.loss_kinds``.
"""

import math

import numpy as np
from numba import carray, types
from numba.extending import intrinsic

from .. import loss_kinds as K
from ...config import epsilon, floatx
from ._cabi import CKernel
from ._jit import kernel, same_dtype

DEFAULT_EPS = 1e-7
_LOG2 = math.log(2.0)


@kernel
def _sign(x):
    """Sign of a float64 ``x`` as float64, 0 at 0 (TensorFlow's ``abs`` gradient)."""
    if x > 0.0:
        return 1.0
    if x < 0.0:
        return -1.0
    return 0.0


@kernel
def _softplus(x):
    """``log(1 + exp(x))`` for a float64 ``x``, without overflow."""
    return max(x, 0.0) + math.log1p(math.exp(-abs(x)))


@kernel
def _sigmoid(x):
    """Logistic sigmoid of a float64 ``x``, without overflow."""
    if x >= 0.0:
        return 1.0 / (1.0 + math.exp(-x))
    e = math.exp(x)
    return e / (1.0 + e)


@kernel
def _pointwise(kind, t, p, g, w, grad, p0, lo, hi, flag):
    """Mean over one row of an elementwise loss (MSE ... BCE from logits).

    ``t``, ``p``, ``g``: 1-D rows of length k (y_true, y_pred, dy); returns the row's loss as
    float64 and, if ``grad``, writes ``g[j] = w * d loss / d p[j]``. ``lo``/``hi``: the clip
    bounds eps and 1 - eps in the input dtype; ``flag``: 1 to map 0/1 hinge labels to -1/+1.
    """
    k = p.shape[0]
    inv_k = 1.0 / k
    s = 0.0
    for j in range(k):
        tj = np.float64(t[j])
        pj = np.float64(p[j])
        d = 0.0
        if kind == K.MEAN_SQUARED_ERROR:
            e = pj - tj
            s += e * e
            d = 2.0 * e
        elif kind == K.MEAN_ABSOLUTE_ERROR:
            e = pj - tj
            s += abs(e)
            d = _sign(e)
        elif kind == K.MEAN_ABSOLUTE_PERCENTAGE_ERROR:
            den = max(abs(tj), lo)
            s += 100.0 * abs(tj - pj) / den
            d = 100.0 * _sign(pj - tj) / den
        elif kind == K.MEAN_SQUARED_LOGARITHMIC_ERROR:
            pc = max(pj, lo)
            e = math.log(pc + 1.0) - math.log(max(tj, lo) + 1.0)
            s += e * e
            if pj >= lo:
                d = 2.0 * e / (pc + 1.0)
        elif kind == K.HUBER:
            e = pj - tj
            if abs(e) <= p0:
                s += 0.5 * e * e
                d = e
            else:
                s += p0 * abs(e) - 0.5 * p0 * p0
                d = p0 * _sign(e)
        elif kind == K.LOG_COSH:
            e = pj - tj
            s += e + _softplus(-2.0 * e) - _LOG2
            d = math.tanh(e)
        elif kind == K.POISSON:
            s += pj - tj * math.log(pj + lo)
            d = 1.0 - tj / (pj + lo)
        elif kind == K.HINGE or kind == K.SQUARED_HINGE:
            if flag == 1:
                tj = 2.0 * tj - 1.0
            m = 1.0 - tj * pj
            h = max(m, 0.0)
            if kind == K.HINGE:
                s += h
                if m >= 0.0:
                    d = -tj
            else:
                s += h * h
                d = -2.0 * h * tj
        elif kind == K.BINARY_CROSSENTROPY:
            tj = tj * (1.0 - p0) + 0.5 * p0
            q = min(max(pj, lo), hi)
            s -= tj * math.log(q) + (1.0 - tj) * math.log(1.0 - q)
            if pj >= lo and pj <= hi:
                d = (1.0 - tj) / (1.0 - q) - tj / q
        else:  # BINARY_CROSSENTROPY_LOGITS
            tj = tj * (1.0 - p0) + 0.5 * p0
            s += max(pj, 0.0) - pj * tj + math.log1p(math.exp(-abs(pj)))
            d = _sigmoid(pj) - tj
        if grad:
            g[j] = w * d * inv_k
    return s * inv_k


@kernel
def _kl_divergence(t, p, g, w, grad, lo):
    """KL divergence of one row (t, p clipped to [eps, 1]); writes ``g = w * d/dp`` if ``grad``."""
    s = 0.0
    for j in range(p.shape[0]):
        pj = np.float64(p[j])
        tc = min(max(np.float64(t[j]), lo), 1.0)
        pc = min(max(pj, lo), 1.0)
        s += tc * math.log(tc / pc)
        if grad:
            g[j] = -w * tc / pc if (pj >= lo and pj <= 1.0) else 0.0
    return s


@kernel
def _cosine_similarity(t, p, g, w, grad, eps):
    """Negative cosine similarity of one row; each vector is scaled by ``min(1/|x|, 1/eps)``
    (Keras 3.15 ``normalize``). Writes ``g = w * d/dp`` if ``grad``."""
    stt = 0.0
    spp = 0.0
    stp = 0.0
    for j in range(p.shape[0]):
        tj = np.float64(t[j])
        pj = np.float64(p[j])
        stt += tj * tj
        spp += pj * pj
        stp += tj * pj
    ct = min(1.0 / math.sqrt(stt), 1.0 / eps)
    rp = 1.0 / math.sqrt(spp)
    cp = min(rp, 1.0 / eps)
    if grad:
        # The norm term only has a gradient while 1/|p| is the smaller side of the minimum.
        cube = ct * stp * cp * cp * cp if rp <= 1.0 / eps else 0.0
        for j in range(p.shape[0]):
            g[j] = w * (cube * np.float64(p[j]) - ct * cp * np.float64(t[j]))
    return -ct * cp * stp


@kernel
def _categorical_hinge(t, p, g, w, grad):
    """``max(max((1-t)p) - sum(t p) + 1, 0)`` of one row; writes ``g = w * d/dp`` if ``grad``
    (the max's gradient is shared evenly by tied entries, as TensorFlow does)."""
    k = p.shape[0]
    pos = 0.0
    neg = -np.inf
    for j in range(k):
        tj = np.float64(t[j])
        pj = np.float64(p[j])
        pos += tj * pj
        neg = max(neg, (1.0 - tj) * pj)
    z = neg - pos + 1.0
    if grad:
        ties = 0
        for j in range(k):
            if (1.0 - np.float64(t[j])) * np.float64(p[j]) == neg:
                ties += 1
        for j in range(k):
            tj = np.float64(t[j])
            d = 0.0
            if z >= 0.0:
                d = -tj
                if (1.0 - tj) * np.float64(p[j]) == neg:
                    d += (1.0 - tj) / ties
            g[j] = w * d
    return max(z, 0.0)


@kernel
def _categorical_crossentropy(t, p, g, w, grad, ls, lo, hi):
    """Crossentropy of one row of probabilities: ``p / sum(p)`` clipped to [lo, hi], labels
    smoothed by ``ls``. Writes ``g = w * d/dp`` (through the renormalisation) if ``grad``."""
    k = p.shape[0]
    total = 0.0
    for j in range(k):
        total += np.float64(p[j])
    s = 0.0
    acc = 0.0  # sum_i dloss/dq_i * q_i, for the gradient of the division by the row sum
    for j in range(k):
        tj = np.float64(t[j]) * (1.0 - ls) + ls / k
        q = np.float64(p[j]) / total
        c = min(max(q, lo), hi)
        s -= tj * math.log(c)
        if q >= lo and q <= hi:
            acc -= tj * q / c
    if grad:
        for j in range(k):
            tj = np.float64(t[j]) * (1.0 - ls) + ls / k
            q = np.float64(p[j]) / total
            gq = -tj / q if (q >= lo and q <= hi) else 0.0
            g[j] = w * (gq - acc) / total
    return s


@kernel
def _categorical_crossentropy_logits(t, z, g, w, grad, ls):
    """Crossentropy of one row of logits via log-sum-exp, labels smoothed by ``ls``. Writes
    ``g = w * (softmax(z) * sum(t) - t)`` if ``grad`` (TensorFlow drops the ``sum(t)`` factor,
    which is 1 for one-hot or smoothed labels)."""
    k = z.shape[0]
    m = -np.inf
    for j in range(k):
        m = max(m, np.float64(z[j]))
    se = 0.0
    for j in range(k):
        se += math.exp(np.float64(z[j]) - m)
    lse = m + math.log(se)
    s = 0.0
    tsum = 0.0
    for j in range(k):
        tj = np.float64(t[j]) * (1.0 - ls) + ls / k
        tsum += tj
        s += tj * (lse - np.float64(z[j]))
    if grad:
        for j in range(k):
            tj = np.float64(t[j]) * (1.0 - ls) + ls / k
            g[j] = w * (math.exp(np.float64(z[j]) - m) / se * tsum - tj)
    return s


@kernel
def _sparse_categorical_crossentropy(label, p, g, w, grad, logits, lo, hi):
    """Crossentropy of one row against the class ``label`` (a float holding an integer).

    Probabilities take the TensorFlow-backend path: clip to [lo, hi], log, then log-softmax
    (so the row is renormalised only after clipping). A label outside [0, k) reads nothing and
    gives NaN (value and gradient row). Writes ``g = w * d/dp`` if ``grad``.
    """
    k = p.shape[0]
    if not (label >= 0.0 and label < k):
        if grad:
            for j in range(k):
                g[j] = np.nan
        return np.nan
    c = int(label)
    if logits:
        m = -np.inf
        for j in range(k):
            m = max(m, np.float64(p[j]))
        se = 0.0
        for j in range(k):
            se += math.exp(np.float64(p[j]) - m)
        if grad:
            for j in range(k):
                d = math.exp(np.float64(p[j]) - m) / se
                if j == c:
                    d -= 1.0
                g[j] = w * d
        return m + math.log(se) - np.float64(p[c])
    sq = 0.0
    for j in range(k):
        sq += min(max(np.float64(p[j]), lo), hi)
    qc = min(max(np.float64(p[c]), lo), hi)
    if grad:
        for j in range(k):
            pj = np.float64(p[j])
            d = 0.0
            if pj >= lo and pj <= hi:
                d = 1.0 / sq
                if j == c:
                    d -= 1.0 / qc
            g[j] = w * d
    return math.log(sq) - math.log(qc)


@kernel
def _row(kind, t, p, g, w, grad, p0, eps, lo, hi, flag):
    """One row's loss (float64) for any kind; writes ``g = w * d/dp`` if ``grad``.

    ``t``: 1-D row of y_true (length k, or length 1 holding the label for sparse kinds);
    ``p``, ``g``: 1-D rows of y_pred and dy (length k). An unknown kind gives NaN.
    """
    if kind == K.KL_DIVERGENCE:
        return _kl_divergence(t, p, g, w, grad, lo)
    elif kind == K.COSINE_SIMILARITY:
        return _cosine_similarity(t, p, g, w, grad, eps)
    elif kind == K.CATEGORICAL_HINGE:
        return _categorical_hinge(t, p, g, w, grad)
    elif kind == K.CATEGORICAL_CROSSENTROPY:
        return _categorical_crossentropy(t, p, g, w, grad, p0, lo, hi)
    elif kind == K.CATEGORICAL_CROSSENTROPY_LOGITS:
        return _categorical_crossentropy_logits(t, p, g, w, grad, p0)
    elif kind == K.SPARSE_CATEGORICAL_CROSSENTROPY:
        return _sparse_categorical_crossentropy(np.float64(t[0]), p, g, w, grad, False, lo, hi)
    elif kind == K.SPARSE_CATEGORICAL_CROSSENTROPY_LOGITS:
        return _sparse_categorical_crossentropy(np.float64(t[0]), p, g, w, grad, True, lo, hi)
    elif kind >= 0 and kind <= K.BINARY_CROSSENTROPY_LOGITS:
        return _pointwise(kind, t, p, g, w, grad, p0, lo, hi, flag)
    if grad:
        for j in range(p.shape[0]):
            g[j] = np.nan
    return np.nan


@kernel(inline="always")
def _mean_squared_error_rows(t2, y_pred, weights, out, dy, values, grad):
    """``_run`` for mean squared error, the commonest loss, without the per-row and per-element
    dispatch on the kind (which costs more than the arithmetic for narrow outputs). Same
    arguments, results and float64 accumulation as the generic loop (``_pointwise``)."""
    n, k = y_pred.shape
    inv_k = 1.0 / k
    total = 0.0
    for r in range(n):
        w = np.float64(weights[r]) if grad else 1.0
        s = 0.0
        for j in range(k):
            e = np.float64(y_pred[r, j]) - np.float64(t2[r, j])
            s += e * e
            if grad:
                dy[r, j] = w * (2.0 * e) * inv_k
        v = s * inv_k
        if values:
            out[r] = v
        total += w * v
    return total


@kernel(inline="always")
def _check_shapes(t2, y_pred, weights, out, dy, kind, values, grad):
    """Raises ValueError unless the arrays of ``_run`` agree in shape."""
    n, k = y_pred.shape
    sparse = kind == K.SPARSE_CATEGORICAL_CROSSENTROPY or kind == K.SPARSE_CATEGORICAL_CROSSENTROPY_LOGITS
    if t2.shape[0] != n or t2.shape[1] != (1 if sparse else k):
        raise ValueError("loss kernel: y_true does not match y_pred")
    if (values and out.shape[0] != n) or (grad and (dy.shape[0] != n or dy.shape[1] != k)):
        raise ValueError("loss kernel: output shape does not match y_pred")
    if grad and weights.shape[0] != n:
        raise ValueError("loss kernel: weights shape does not match y_pred")


@kernel
def _run(t2, y_pred, weights, out, dy, kind, p0, eps, values, grad):
    """Shared loop of the public kernels; returns ``sum_r weights[r] * loss_r`` (float64).

    ``t2``: (rows, k) y_true, or (rows, 1) labels for the sparse kinds; ``y_pred``/``dy``:
    (rows, k); ``weights``/``out``: (rows,). Writes ``out[r] = loss_r`` if ``values`` and
    ``dy[r] = weights[r] * d loss_r / d y_pred[r]`` if ``grad``. Raises on mismatched shapes.
    """
    n, k = y_pred.shape
    _check_shapes(t2, y_pred, weights, out, dy, kind, values, grad)
    # Clip bounds in the input dtype (float32 rounds 1 - 1e-7 to 1 - 2**-23).
    T = y_pred.dtype.type
    lo = np.float64(T(eps))
    hi = np.float64(T(1.0 - eps))
    flag = 0
    if kind == K.HINGE or kind == K.SQUARED_HINGE:
        # Keras converts 0/1 labels only when every label of the batch is 0 or 1.
        flag = 1
        for r in range(n):
            for j in range(k):
                if t2[r, j] != 0 and t2[r, j] != 1:
                    flag = 0
    if kind == K.MEAN_SQUARED_ERROR:
        return _mean_squared_error_rows(t2, y_pred, weights, out, dy, values, grad)
    total = 0.0
    for r in range(n):
        w = np.float64(weights[r]) if grad else 1.0
        v = _row(kind, t2[r], y_pred[r], dy[r], w, grad, p0, eps, lo, hi, flag)
        if values:
            out[r] = v
        total += w * v
    return total


@kernel
def loss_values_into(y_true, y_pred, out, kind, p0, eps=DEFAULT_EPS):
    """Per-sample loss values, written in place.

    y_true: (rows, k), or (rows,) float class labels for the sparse kinds; y_pred: (rows, k);
    out: (rows,). All C-contiguous, same float dtype (float32 or float64). ``kind``: an id from
    ``loss_kinds``; ``p0``: its parameter (0.0 if none); ``eps``: the fuzz factor.
    Writes ``out[r]`` = the Keras per-sample loss of row r (reduced over the last axis).
    """
    n = y_pred.shape[0]
    if n == 0:
        return
    t2 = y_true.reshape((n, y_true.size // n))
    # Empty stand-ins for the unused dy, and out for the unused weights.
    _run(t2, y_pred, out, out, np.empty((n, 0), y_pred.dtype), kind, p0, eps, True, False)


@kernel
def loss_grad_into(y_true, y_pred, weights, dy, kind, p0, eps=DEFAULT_EPS):
    """Gradient of a weighted sum of per-sample losses, written in place.

    y_true: (rows, k), or (rows,) float class labels for the sparse kinds; y_pred, dy: (rows, k);
    weights: (rows,). All C-contiguous, same float dtype. Writes
    ``dy = d/dy_pred sum_r weights[r] * loss_r`` (weights carry sample weights and the 1/N of
    ``sum_over_batch_size``). ``kind``, ``p0``, ``eps`` as in ``loss_values_into``.
    """
    n = y_pred.shape[0]
    if n == 0:
        return
    t2 = y_true.reshape((n, y_true.size // n))
    _run(t2, y_pred, weights, weights, dy, kind, p0, eps, False, True)  # weights: unused out


@kernel(inline="always")
def loss_value_and_grad_into(y_true, y_pred, weights, dy, kind, p0, eps=DEFAULT_EPS):
    """Fused single pass: returns ``sum_r weights[r] * loss_r`` (float64) and writes ``dy`` as
    ``loss_grad_into`` does. Shapes, dtype and layout as in ``loss_grad_into``."""
    if not same_dtype(y_true, y_pred, weights, dy):
        raise TypeError("loss_value_and_grad_into: y_true, y_pred, weights and dy must share one "
                        "dtype")
    n = y_pred.shape[0]
    if n == 0:
        return 0.0
    t2 = y_true.reshape((n, y_true.size // n))
    # weights doubles as the unused per-sample output (values=False: never written).
    _check_shapes(t2, y_pred, weights, weights, dy, kind, False, True)
    if kind == K.MEAN_SQUARED_ERROR:  # inlined into the caller: the commonest loss, no call
        return _mean_squared_error_rows(t2, y_pred, weights, weights, dy, False, True)
    return _loss_value_and_grad_any(t2, y_pred, weights, dy, kind, p0, eps)


def _loss_value_and_grad_c(tp, t0, t1, pp, p0_, p1_, wp, wn, dp, d0, d1, kind, p0, eps):
    weights = carray(wp, (wn,))
    return _run(carray(tp, (t0, t1)), carray(pp, (p0_, p1_)), weights, weights,
                carray(dp, (d0, d1)), kind, p0, eps, False, True)


# Every other kind is a call to a C symbol (see ``_cabi``): a compiled caller, such as a training
# loop, links one call instead of the code of every kind, and that code is compiled only when a
# model first uses a loss other than mean squared error.
_LOSS_VALUE_AND_GRAD = CKernel(_loss_value_and_grad_c, "loss_value_and_grad", "aavaiff", 1,
                               returns=types.float64)


@intrinsic
def _loss_value_and_grad_any(typingctx, t2, y_pred, weights, dy, kind, p0, eps):
    """``_run(t2, y_pred, weights, weights, dy, kind, p0, eps, False, True)`` through its C
    symbol; shapes already checked."""
    return _LOSS_VALUE_AND_GRAD.call(t2, y_pred, weights, dy, kind, p0, eps)


def _c_array(a, dtype):
    """``a`` as a writable C-contiguous array of ``dtype`` (one compiled variant per dtype)."""
    return np.require(a, dtype=dtype, requirements=("C", "W"))


def _float_dtype(a):
    return a.dtype if a.dtype in (np.float32, np.float64) else np.dtype(floatx())


def check_labels(labels, num_classes):
    """Integer class labels (truncated like TensorFlow's cast) as an int64 array.

    Raises:
        ValueError: naming the first label that is not finite or not in ``[0, num_classes)``.
    """
    labels = np.asarray(labels)
    if labels.dtype.kind == "f":
        bad = ~np.isfinite(labels)
        if bad.any():
            raise ValueError(f"Received a label value of {labels[bad].flat[0]} which is not a finite number.")
    if labels.dtype.kind not in "fiub":
        raise ValueError(f"Sparse labels must be numbers. Received dtype: {labels.dtype}")
    ints = labels.astype(np.int64)
    bad = (ints < 0) | (ints >= num_classes)
    if bad.any():
        value = labels[bad].flat[0]
        if float(value).is_integer():
            value = int(value)  # labels arrive as floats through Loss.__call__
        raise ValueError(
            f"Received a label value of {value} which is outside the valid range "
            f"of [0, {num_classes})."
        )
    return ints


def _prepare(kind, y_true, y_pred):
    """(y_true 2-D or 1-D labels, y_pred 2-D, leading shape), C-contiguous in one float dtype."""
    if kind not in K.NAMES:
        raise ValueError(f"Unknown loss kind: {kind!r}. Expected one of {sorted(K.NAMES)}.")
    y_pred = np.asarray(y_pred)
    dtype = _float_dtype(y_pred)
    if y_pred.ndim == 0:
        raise ValueError("y_pred must have at least one dimension (the class/feature axis).")
    lead = y_pred.shape[:-1]
    n = int(np.prod(lead, dtype=np.int64))
    k = y_pred.shape[-1]
    p2 = _c_array(y_pred, dtype).reshape(n, k)
    y_true = np.asarray(y_true)
    if kind in K.SPARSE:
        if y_true.shape == lead + (1,):
            y_true = y_true.reshape(lead)
        if y_true.shape != lead:
            raise ValueError(
                f"Sparse labels must have shape {lead} or {lead + (1,)}. Received: {y_true.shape}"
            )
        t = _c_array(check_labels(y_true, k).reshape(n), dtype)
    else:
        if y_true.shape != y_pred.shape:
            raise ValueError(
                f"y_true and y_pred must have the same shape. Received: {y_true.shape} and {y_pred.shape}"
            )
        t = _c_array(y_true, dtype).reshape(n, k)
    return t, p2, lead


def loss_values(kind, y_true, y_pred, p0=0.0, eps=None):
    """Per-sample losses of any-rank inputs (leading dims flattened), shape ``y_pred.shape[:-1]``.

    Float32/float64 ``y_pred`` keeps its dtype, anything else becomes ``floatx()``; ``y_true`` is
    cast to it. Sparse kinds take integer or float labels of shape ``y_pred.shape[:-1]`` (or with a
    trailing 1) and raise ValueError for a label outside ``[0, k)``. ``eps`` defaults to
    ``config.epsilon()``.
    """
    t, p, lead = _prepare(kind, y_true, y_pred)
    out = np.empty(p.shape[0], dtype=p.dtype)
    loss_values_into(t, p, out, kind, float(p0), epsilon() if eps is None else float(eps))
    return out.reshape(lead)


def loss_grad(kind, y_true, y_pred, weights=None, p0=0.0, eps=None):
    """Gradient of ``sum(weights * loss_values(...))`` with respect to ``y_pred`` (its shape).

    ``weights``: per-sample weights broadcastable to ``y_pred.shape[:-1]``; None means all ones.
    Conversions as in ``loss_values``.
    """
    t, p, lead = _prepare(kind, y_true, y_pred)
    if weights is None:
        w = np.ones(p.shape[0], dtype=p.dtype)
    else:
        w = _c_array(np.broadcast_to(weights, lead), p.dtype).reshape(-1)
    dy = np.empty_like(p)
    loss_grad_into(t, p, w, dy, kind, float(p0), epsilon() if eps is None else float(eps))
    return dy.reshape(np.shape(y_pred))
