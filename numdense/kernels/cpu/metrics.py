"""Metric kernels: per-batch statistics that Keras 3 metrics accumulate.

Shapes are normalized by ``numdense.metrics`` before the call:

- match kernels write one 0/1 value per "element" into ``out`` of shape ``(n, m)``, where ``n`` is
  the batch and ``m`` the remaining value positions (1 for plain ``(n, k)`` classification);
  class scores come as ``(n, m, c)``;
- ``weighted_stats`` reduces such a value array with a sample-weight array ``w`` of shape
  ``(1 or n, 1 or m)`` (broadcast inside the kernel) the way ``keras.metrics.Mean`` and ``Sum`` do;
- confusion kernels add weighted TP/FP/TN/FN counts per threshold into ``(T, L)`` arrays.

Inputs are float32 (Keras casts to the metric dtype); sums are float64.
"""

import math

import numpy as np

from ._jit import kernel


@kernel
def _w(w, i, j):
    """``w[i, j]`` with size-1 axes broadcast."""
    return w[i if w.shape[0] > 1 else 0, j if w.shape[1] > 1 else 0]


@kernel
def _argmax(row):
    """Index of the first maximum of a 1-D row; a NaN counts as the maximum (as NumPy/JAX)."""
    best = 0
    for c in range(row.shape[0]):
        x = row[c]
        if math.isnan(x):
            return c
        if x > row[best]:
            best = c
    return best


@kernel
def weighted_stats(v, w):
    """Keras ``Mean``/``Sum`` statistics of values ``v`` ``(n, m)`` under weights ``w``.

    Returns ``(total, count, wsum)``: ``total = sum_i mean_j v*w``, ``count = sum_i mean_j w``
    (``Mean`` adds these) and ``wsum = sum_ij v*w`` (``Sum`` adds this).
    """
    n, m = v.shape
    total = 0.0
    count = 0.0
    wsum = 0.0
    for i in range(n):
        row_vw = 0.0
        row_w = 0.0
        for j in range(m):
            wij = float(_w(w, i, j))
            row_vw += float(v[i, j]) * wij
            row_w += wij
        total += row_vw / m
        count += row_w / m
        wsum += row_vw
    return total, count, wsum


@kernel
def accumulate_mean(v, w, total, count):
    """Adds ``Mean``'s batch statistics (see ``weighted_stats``) to the 0-d state arrays."""
    t, c, _ = weighted_stats(v, w)
    total[()] += t
    count[()] += c


@kernel
def accumulate_sum(v, w, total):
    """Adds ``Sum``'s batch statistic (see ``weighted_stats``) to the 0-d state array."""
    total[()] += weighted_stats(v, w)[2]


@kernel
def equal_matches(t, p, out):
    """``out = (t == p)`` for ``(n, m)`` arrays (``keras.metrics.accuracy``)."""
    n, m = t.shape
    for i in range(n):
        for j in range(m):
            out[i, j] = 1.0 if t[i, j] == p[i, j] else 0.0


@kernel
def binary_matches(t, p, threshold, out):
    """``out = (t == (p > threshold))`` for ``(n, m)`` arrays (``binary_accuracy``)."""
    n, m = t.shape
    for i in range(n):
        for j in range(m):
            pred = 1.0 if p[i, j] > threshold else 0.0
            out[i, j] = 1.0 if t[i, j] == pred else 0.0


@kernel
def argmax_last(x, out):
    """``out[i, j] = argmax(x[i, j, :])`` for ``x`` ``(n, m, c)``."""
    n, m, _ = x.shape
    for i in range(n):
        for j in range(m):
            out[i, j] = _argmax(x[i, j])


@kernel
def categorical_matches(t, p, out):
    """``out = argmax(t) == argmax(p)`` over the last axis of ``(n, m, c)`` arrays."""
    n, m, _ = p.shape
    for i in range(n):
        for j in range(m):
            out[i, j] = 1.0 if _argmax(t[i, j]) == _argmax(p[i, j]) else 0.0


@kernel
def sparse_categorical_matches(labels, p, out):
    """``out = labels == argmax(p)``; ``labels`` ``(n, m)`` float, ``p`` ``(n, m, c)``."""
    n, m, _ = p.shape
    for i in range(n):
        for j in range(m):
            out[i, j] = 1.0 if labels[i, j] == float(_argmax(p[i, j])) else 0.0


@kernel
def in_top_k_matches(labels, p, k, out):
    """``out = 1`` where ``labels`` (int, ``(n, m)``) is among the top ``k`` of ``p`` ``(n, m, c)``.

    As Keras' ``in_top_k``: the rank of the label's score is 1 + the number of strictly larger
    scores (so ties at the boundary count as in), a NaN label score ranks last, and a label out
    of range never matches.
    """
    n, m, c = p.shape
    for i in range(n):
        for j in range(m):
            label = labels[i, j]
            if label < 0 or label >= c:
                out[i, j] = 0.0
                continue
            target = p[i, j, label]
            if math.isnan(target):
                target = -np.inf
            rank = 1
            for q in range(c):
                if p[i, j, q] > target:
                    rank += 1
            out[i, j] = 1.0 if rank <= k else 0.0


@kernel
def error_means(t, p, squared, out):
    """``out[i, j] = mean_l (t - p)**2`` (or ``|t - p|``) over the last axis of ``(n, m, k)``."""
    n, m, k = p.shape
    for i in range(n):
        for j in range(m):
            s = 0.0
            for q in range(k):
                e = float(t[i, j, q]) - float(p[i, j, q])
                s += e * e if squared else abs(e)
            out[i, j] = s / k


@kernel
def _finish_confusion(tp_b, fp_b, pos, neg, tp, fp, tn, fn):
    """Turns per-bucket positive/negative weights into cumulative counts added to the outputs.

    ``tp_b[b, l]`` holds the weight of positives whose prediction is above thresholds ``0..b``
    only; a reverse cumulative sum gives the positives above each threshold.
    """
    nt, nl = tp.shape
    for l in range(nl):
        acc_tp = 0.0
        acc_fp = 0.0
        for b in range(nt - 1, -1, -1):
            acc_tp += tp_b[b, l]
            acc_fp += fp_b[b, l]
            tp[b, l] += acc_tp
            fp[b, l] += acc_fp
            fn[b, l] += pos[l] - acc_tp
            tn[b, l] += neg[l] - acc_fp


@kernel
def confusion_even(t, p, w, lw, num_thresholds, with_epsilon, multi_label, tp, fp, tn, fn):
    """Adds TP/FP/TN/FN for evenly spaced thresholds ``i / (T - 1)``, as Keras' bucketed path.

    Args:
        t, p: ``(n, L)`` float32 labels (nonzero is positive) and predictions.
        w: float32 sample weights ``(1 or n, 1 or L)``.
        lw: float32 label weights ``(L,)`` (ones when unused).
        num_thresholds: T.
        with_epsilon: whether the end thresholds are ``-eps`` and ``1 + eps`` (then a prediction
            of exactly 0 is above the first threshold).
        multi_label: count each column separately (outputs ``(T, L)``) instead of pooling them
            (outputs ``(T, 1)``).
        tp, fp, tn, fn: float64 outputs, added to.
    """
    n, nl = p.shape
    nout = tp.shape[1]
    tp_b = np.zeros((num_thresholds, nout))
    fp_b = np.zeros((num_thresholds, nout))
    pos = np.zeros(nout)
    neg = np.zeros(nout)
    scale = np.float32(num_thresholds - 1)
    for i in range(n):
        for l in range(nl):
            col = l if multi_label else 0
            weight = float(np.float32(_w(w, i, l) * lw[l]))
            # Keras clips, scales and takes ceil(.) - 1 in float32; the same rounding keeps
            # predictions that sit exactly on a threshold in Keras' bucket.
            x = min(max(p[i, l], np.float32(0.0)), np.float32(1.0))
            bucket = math.ceil(x * scale) - 1
            if with_epsilon and bucket < 0:
                bucket = 0
            if t[i, l] != 0:
                pos[col] += weight
                if bucket >= 0:
                    tp_b[bucket, col] += weight
            else:
                neg[col] += weight
                if bucket >= 0:
                    fp_b[bucket, col] += weight
    _finish_confusion(tp_b, fp_b, pos, neg, tp, fp, tn, fn)


@kernel
def confusion_thresholds(t, p, w, lw, thresholds, order, multi_label, tp, fp, tn, fn):
    """Adds TP/FP/TN/FN for arbitrary thresholds: positive means ``p > threshold``.

    Args:
        t, p, w, lw, multi_label, tp, fp, tn, fn: as in ``confusion_even``.
        thresholds: float64 thresholds (already rounded to float32), in the caller's order.
        order: ``argsort(thresholds)``; the outputs keep the caller's order.
    """
    n, nl = p.shape
    nt = thresholds.shape[0]
    nout = tp.shape[1]
    sorted_t = np.empty(nt)
    for b in range(nt):
        sorted_t[b] = thresholds[order[b]]
    tp_b = np.zeros((nt, nout))
    fp_b = np.zeros((nt, nout))
    pos = np.zeros(nout)
    neg = np.zeros(nout)
    for i in range(n):
        for l in range(nl):
            col = l if multi_label else 0
            weight = float(np.float32(_w(w, i, l) * lw[l]))
            x = float(p[i, l])
            # Number of sorted thresholds strictly below x (0 for NaN): x is above exactly those.
            lo = 0
            hi = nt
            while lo < hi:
                mid = (lo + hi) // 2
                if sorted_t[mid] < x:
                    lo = mid + 1
                else:
                    hi = mid
            if t[i, l] != 0:
                pos[col] += weight
                if lo > 0:
                    tp_b[lo - 1, col] += weight
            else:
                neg[col] += weight
                if lo > 0:
                    fp_b[lo - 1, col] += weight
    s_tp = np.zeros((nt, nout))
    s_fp = np.zeros((nt, nout))
    s_tn = np.zeros((nt, nout))
    s_fn = np.zeros((nt, nout))
    _finish_confusion(tp_b, fp_b, pos, neg, s_tp, s_fp, s_tn, s_fn)
    for b in range(nt):
        dst = order[b]
        for c in range(nout):
            tp[dst, c] += s_tp[b, c]
            fp[dst, c] += s_fp[b, c]
            tn[dst, c] += s_tn[b, c]
            fn[dst, c] += s_fn[b, c]


@kernel
def filter_top_k(p, k, neg_inf, out):
    """Keeps the top ``k`` scores of each row of ``p`` ``(n, c)`` and sets the rest to ``neg_inf``.

    Ties go to the lower index, as ``top_k``.
    """
    n, c = p.shape
    kk = min(k, c)
    taken = np.zeros(c, dtype=np.bool_)
    for i in range(n):
        taken[:] = False
        for _ in range(kk):
            best = -1
            for q in range(c):
                if not taken[q] and (best < 0 or p[i, q] > p[i, best]):
                    best = q
            taken[best] = True
        for q in range(c):
            out[i, q] = p[i, q] if taken[q] else neg_inf


@kernel
def sorted_ids_matches(labels, ids, k, out):
    """``out[i] = 1`` if ``labels[i]`` is among the first ``k`` of ``ids[i, :]``."""
    n, r = ids.shape
    kk = min(k, r)
    for i in range(n):
        hit = 0.0
        for q in range(kk):
            if ids[i, q] == labels[i]:
                hit = 1.0
                break
        out[i] = hit


@kernel
def _dnn(a, b):
    """``a / b``, or 0 where ``b`` is 0 (Keras' ``divide_no_nan``)."""
    return 0.0 if b == 0.0 else a / b


@kernel
def divide_no_nan(a, b, out):
    """Elementwise ``out = a / b`` with 0 where ``b == 0``."""
    for i in range(a.shape[0]):
        out[i] = _dnn(float(a[i]), float(b[i]))


@kernel
def _pr_auc_interpolated(tp, fp, fn, l):
    """Davis & Goadrich interpolated PR-AUC of column ``l`` (Keras' ``interpolate_pr_auc``)."""
    nt = tp.shape[0]
    auc = 0.0
    for b in range(nt - 1):
        tp_a = float(tp[b, l])
        tp_b = float(tp[b + 1, l])
        p_a = tp_a + float(fp[b, l])
        p_b = tp_b + float(fp[b + 1, l])
        dtp = tp_a - tp_b
        slope = _dnn(dtp, max(p_a - p_b, 0.0))
        intercept = tp_b - slope * p_b
        ratio = _dnn(p_a, max(p_b, 0.0)) if (p_a > 0.0 and p_b > 0.0) else 1.0
        auc += _dnn(slope * (dtp + intercept * math.log(ratio)),
                    max(tp_b + float(fn[b + 1, l]), 0.0))
    return auc


@kernel
def _curve_point(tp, fp, tn, fn, b, l, curve):
    """``(x, y)`` of the curve at threshold ``b``: ROC (0), PR (1) or PR-gain (2)."""
    t_p = float(tp[b, l])
    f_p = float(fp[b, l])
    t_n = float(tn[b, l])
    f_n = float(fn[b, l])
    if curve == 0:
        return _dnn(f_p, f_p + t_n), _dnn(t_p, t_p + f_n)
    if curve == 1:
        return _dnn(t_p, t_p + f_n), _dnn(t_p, t_p + f_p)
    scaling = _dnn(t_p + f_n, t_n + f_p)
    if t_p == 0.0:
        return 0.0, 1.0
    recall_gain = max(1.0 - scaling * _dnn(f_n, t_p), 0.0)
    precision_gain = 1.0 - scaling * _dnn(f_p, t_p)
    return recall_gain, precision_gain


@kernel
def auc_result(tp, fp, tn, fn, curve, method, label_weights, weighted):
    """Keras ``AUC.result()`` from ``(T, L)`` confusion counts.

    Args:
        curve: 0 ROC, 1 PR, 2 PRGAIN.
        method: 0 interpolation, 1 minoring, 2 majoring.
        label_weights: ``(L,)``; used when ``weighted`` and ``L > 1``.

    Returns:
        The AUC, averaged over columns (weighted if asked) when there are several.
    """
    nt, nl = tp.shape
    total = 0.0
    wsum = 0.0
    for l in range(nl):
        if curve == 1 and method == 0:
            auc = _pr_auc_interpolated(tp, fp, fn, l)
        else:
            auc = 0.0
            x0, y0 = _curve_point(tp, fp, tn, fn, 0, l, curve)
            for b in range(1, nt):
                x1, y1 = _curve_point(tp, fp, tn, fn, b, l, curve)
                if method == 0:
                    h = (y0 + y1) / 2.0
                elif method == 1:
                    h = min(y0, y1)
                else:
                    h = max(y0, y1)
                auc += (x0 - x1) * h
                x0 = x1
                y0 = y1
        lw = float(label_weights[l]) if weighted else 1.0
        total += auc * lw
        wsum += lw
    if weighted:
        return _dnn(total, wsum)
    return total / nl


@kernel
def sigmoid(x, out):
    """``out = 1 / (1 + exp(-x))`` elementwise on 1-D arrays, without overflow."""
    for i in range(x.shape[0]):
        v = float(x[i])
        if v >= 0.0:
            out[i] = 1.0 / (1.0 + math.exp(-v))
        else:
            e = math.exp(v)
            out[i] = e / (1.0 + e)
