"""One row's loss and gradient as device functions (float64 math), mirroring
``numdense.kernels.cpu.losses`` formula for formula (Keras 3, TensorFlow-backend gradients).

Rows are addressed as (array, r): ``t`` is y_true (rows, k) or labels (rows, 1), ``p`` y_pred,
``g`` dy. Each function returns the row's loss and, when ``grad``, writes ``g[r] = w * d/dp``.
"""

import math

import numpy as np
from numba import cuda

from .. import loss_kinds as K
from ._dmath import fmax, fmin

_LOG2 = math.log(2.0)
NAN = math.nan
NEG_INF = -math.inf


@cuda.jit(device=True)
def _sign(x):
    return 1.0 if x > 0.0 else (-1.0 if x < 0.0 else 0.0)


@cuda.jit(device=True)
def _softplus(x):
    return fmax(x, 0.0) + math.log1p(math.exp(-abs(x)))


@cuda.jit(device=True)
def _sigmoid(x):
    if x >= 0.0:
        return 1.0 / (1.0 + math.exp(-x))
    e = math.exp(x)
    return e / (1.0 + e)


@cuda.jit(device=True)
def _pointwise(kind, t, p, g, r, w, grad, p0, lo, hi, flag):
    k = p.shape[1]
    inv_k = 1.0 / k
    s = 0.0
    for j in range(k):
        tj = np.float64(t[r, j])
        pj = np.float64(p[r, j])
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
            den = fmax(abs(tj), lo)
            s += 100.0 * abs(tj - pj) / den
            d = 100.0 * _sign(pj - tj) / den
        elif kind == K.MEAN_SQUARED_LOGARITHMIC_ERROR:
            pc = fmax(pj, lo)
            e = math.log(pc + 1.0) - math.log(fmax(tj, lo) + 1.0)
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
            h = fmax(m, 0.0)
            if kind == K.HINGE:
                s += h
                if m >= 0.0:
                    d = -tj
            else:
                s += h * h
                d = -2.0 * h * tj
        elif kind == K.BINARY_CROSSENTROPY:
            tj = tj * (1.0 - p0) + 0.5 * p0
            q = fmin(fmax(pj, lo), hi)
            s -= tj * math.log(q) + (1.0 - tj) * math.log(1.0 - q)
            if pj >= lo and pj <= hi:
                d = (1.0 - tj) / (1.0 - q) - tj / q
        else:  # BINARY_CROSSENTROPY_LOGITS
            tj = tj * (1.0 - p0) + 0.5 * p0
            s += fmax(pj, 0.0) - pj * tj + math.log1p(math.exp(-abs(pj)))
            d = _sigmoid(pj) - tj
        if grad:
            g[r, j] = w * d * inv_k
    return s * inv_k


@cuda.jit(device=True)
def _kl_divergence(t, p, g, r, w, grad, lo):
    s = 0.0
    for j in range(p.shape[1]):
        pj = np.float64(p[r, j])
        tc = fmin(fmax(np.float64(t[r, j]), lo), 1.0)
        pc = fmin(fmax(pj, lo), 1.0)
        s += tc * math.log(tc / pc)
        if grad:
            g[r, j] = -w * tc / pc if (pj >= lo and pj <= 1.0) else 0.0
    return s


@cuda.jit(device=True)
def _cosine_similarity(t, p, g, r, w, grad, eps):
    stt = 0.0
    spp = 0.0
    stp = 0.0
    for j in range(p.shape[1]):
        tj = np.float64(t[r, j])
        pj = np.float64(p[r, j])
        stt += tj * tj
        spp += pj * pj
        stp += tj * pj
    ct = fmin(1.0 / math.sqrt(stt), 1.0 / eps)
    rp = 1.0 / math.sqrt(spp)
    cp = fmin(rp, 1.0 / eps)
    if grad:
        # The norm term only has a gradient while 1/|p| is the smaller side of the minimum.
        cube = ct * stp * cp * cp * cp if rp <= 1.0 / eps else 0.0
        for j in range(p.shape[1]):
            g[r, j] = w * (cube * np.float64(p[r, j]) - ct * cp * np.float64(t[r, j]))
    return -ct * cp * stp


@cuda.jit(device=True)
def _categorical_hinge(t, p, g, r, w, grad):
    k = p.shape[1]
    pos = 0.0
    neg = NEG_INF
    for j in range(k):
        tj = np.float64(t[r, j])
        pj = np.float64(p[r, j])
        pos += tj * pj
        neg = fmax(neg, (1.0 - tj) * pj)
    z = neg - pos + 1.0
    if grad:
        ties = 0
        for j in range(k):
            if (1.0 - np.float64(t[r, j])) * np.float64(p[r, j]) == neg:
                ties += 1
        for j in range(k):
            tj = np.float64(t[r, j])
            d = 0.0
            if z >= 0.0:
                d = -tj
                if (1.0 - tj) * np.float64(p[r, j]) == neg:
                    d += (1.0 - tj) / ties
            g[r, j] = w * d
    return fmax(z, 0.0)


@cuda.jit(device=True)
def _categorical_crossentropy(t, p, g, r, w, grad, ls, lo, hi):
    k = p.shape[1]
    total = 0.0
    for j in range(k):
        total += np.float64(p[r, j])
    s = 0.0
    acc = 0.0  # sum_i dloss/dq_i * q_i, for the gradient of the division by the row sum
    for j in range(k):
        tj = np.float64(t[r, j]) * (1.0 - ls) + ls / k
        q = np.float64(p[r, j]) / total
        c = fmin(fmax(q, lo), hi)
        s -= tj * math.log(c)
        if q >= lo and q <= hi:
            acc -= tj * q / c
    if grad:
        for j in range(k):
            tj = np.float64(t[r, j]) * (1.0 - ls) + ls / k
            q = np.float64(p[r, j]) / total
            gq = -tj / q if (q >= lo and q <= hi) else 0.0
            g[r, j] = w * (gq - acc) / total
    return s


@cuda.jit(device=True)
def _categorical_crossentropy_logits(t, z, g, r, w, grad, ls):
    k = z.shape[1]
    m = NEG_INF
    for j in range(k):
        m = fmax(m, np.float64(z[r, j]))
    se = 0.0
    for j in range(k):
        se += math.exp(np.float64(z[r, j]) - m)
    lse = m + math.log(se)
    s = 0.0
    tsum = 0.0
    for j in range(k):
        tj = np.float64(t[r, j]) * (1.0 - ls) + ls / k
        tsum += tj
        s += tj * (lse - np.float64(z[r, j]))
    if grad:
        for j in range(k):
            tj = np.float64(t[r, j]) * (1.0 - ls) + ls / k
            g[r, j] = w * (math.exp(np.float64(z[r, j]) - m) / se * tsum - tj)
    return s


@cuda.jit(device=True)
def _sparse_categorical_crossentropy(label, p, g, r, w, grad, logits, lo, hi):
    k = p.shape[1]
    if not (label >= 0.0 and label < k):
        if grad:
            for j in range(k):
                g[r, j] = NAN
        return NAN
    c = int(label)
    if logits:
        m = NEG_INF
        for j in range(k):
            m = fmax(m, np.float64(p[r, j]))
        se = 0.0
        for j in range(k):
            se += math.exp(np.float64(p[r, j]) - m)
        if grad:
            for j in range(k):
                d = math.exp(np.float64(p[r, j]) - m) / se
                if j == c:
                    d -= 1.0
                g[r, j] = w * d
        return m + math.log(se) - np.float64(p[r, c])
    sq = 0.0
    for j in range(k):
        sq += fmin(fmax(np.float64(p[r, j]), lo), hi)
    qc = fmin(fmax(np.float64(p[r, c]), lo), hi)
    if grad:
        for j in range(k):
            pj = np.float64(p[r, j])
            d = 0.0
            if pj >= lo and pj <= hi:
                d = 1.0 / sq
                if j == c:
                    d -= 1.0 / qc
            g[r, j] = w * d
    return math.log(sq) - math.log(qc)


@cuda.jit(device=True)
def row_loss(kind, t, p, g, r, w, grad, p0, eps, lo, hi, flag):
    """Row r's loss (float64) for any kind; writes ``g[r] = w * d/dp[r]`` if ``grad``."""
    if kind == K.KL_DIVERGENCE:
        return _kl_divergence(t, p, g, r, w, grad, lo)
    if kind == K.COSINE_SIMILARITY:
        return _cosine_similarity(t, p, g, r, w, grad, eps)
    if kind == K.CATEGORICAL_HINGE:
        return _categorical_hinge(t, p, g, r, w, grad)
    if kind == K.CATEGORICAL_CROSSENTROPY:
        return _categorical_crossentropy(t, p, g, r, w, grad, p0, lo, hi)
    if kind == K.CATEGORICAL_CROSSENTROPY_LOGITS:
        return _categorical_crossentropy_logits(t, p, g, r, w, grad, p0)
    if kind == K.SPARSE_CATEGORICAL_CROSSENTROPY:
        return _sparse_categorical_crossentropy(np.float64(t[r, 0]), p, g, r, w, grad, False, lo, hi)
    if kind == K.SPARSE_CATEGORICAL_CROSSENTROPY_LOGITS:
        return _sparse_categorical_crossentropy(np.float64(t[r, 0]), p, g, r, w, grad, True, lo, hi)
    return _pointwise(kind, t, p, g, r, w, grad, p0, lo, hi, flag)
