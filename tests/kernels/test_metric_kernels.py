"""Metric kernels against NumPy formulas."""

import numpy as np
import pytest

from numdense.kernels.cpu import metrics as K

F32 = np.float32


def test_weighted_stats_no_weight(rng):
    v = rng.random((7, 3)).astype(F32)
    total, count, wsum = K.weighted_stats(v, np.ones((1, 1), F32))
    np.testing.assert_allclose(total, v.mean(axis=1).sum(), rtol=1e-6)
    assert count == 7
    np.testing.assert_allclose(wsum, v.sum(), rtol=1e-6)


@pytest.mark.parametrize("wshape", [(7, 1), (1, 3), (7, 3), (1, 1)])
def test_weighted_stats_broadcast(rng, wshape):
    v = rng.random((7, 3)).astype(F32)
    w = rng.random(wshape).astype(F32)
    full = np.broadcast_to(w, v.shape).astype(np.float64)
    total, count, wsum = K.weighted_stats(v, w)
    np.testing.assert_allclose(total, (v * full).mean(axis=1).sum(), rtol=1e-6)
    np.testing.assert_allclose(count, full.mean(axis=1).sum(), rtol=1e-6)
    np.testing.assert_allclose(wsum, (v * full).sum(), rtol=1e-6)


def test_binary_and_equal_matches(rng):
    t = rng.integers(0, 2, (9, 4)).astype(F32)
    p = rng.random((9, 4)).astype(F32)
    p[0, 0] = 0.5  # not above the threshold
    out = np.empty((9, 4), F32)
    K.binary_matches(t, p, 0.5, out)
    np.testing.assert_array_equal(out, (t == (p > 0.5)).astype(F32))
    K.equal_matches(t, np.round(p), out)
    np.testing.assert_array_equal(out, (t == np.round(p)).astype(F32))


def test_argmax_matches_first_max_and_nan(rng):
    p = rng.random((5, 2, 4)).astype(F32)
    p[0, 0] = [0.2, 0.7, 0.7, 0.1]  # tie: first index wins
    p[1, 1] = [0.2, np.nan, 0.9, 0.1]  # NaN counts as the maximum (NumPy)
    idx = np.empty((5, 2), np.int64)
    K.argmax_last(p, idx)
    np.testing.assert_array_equal(idx, np.argmax(p, axis=-1))
    onehot = np.eye(4, dtype=F32)[rng.integers(0, 4, (5, 2))]
    out = np.empty((5, 2), F32)
    K.categorical_matches(onehot, p, out)
    np.testing.assert_array_equal(out, np.argmax(onehot, -1) == np.argmax(p, -1))
    labels = np.argmax(onehot, -1).astype(F32)
    K.sparse_categorical_matches(labels, p, out)
    np.testing.assert_array_equal(out, labels == np.argmax(p, -1))


def _in_top_k_ref(labels, p, k):
    target = np.take_along_axis(p, labels[..., None], axis=-1)
    target = np.where(np.isnan(target), -np.inf, target)
    return (1 + (p > target).sum(-1)) <= k


@pytest.mark.parametrize("k", [1, 2, 5])
def test_in_top_k_matches(rng, k):
    p = rng.integers(0, 4, (20, 1, 6)).astype(F32)  # many ties
    labels = rng.integers(0, 6, (20, 1))
    out = np.empty((20, 1), F32)
    K.in_top_k_matches(labels, p, k, out)
    np.testing.assert_array_equal(out, _in_top_k_ref(labels, p, k))


def test_in_top_k_out_of_range_label_misses():
    p = np.ones((1, 1, 3), F32)
    out = np.empty((1, 1), F32)
    K.in_top_k_matches(np.array([[3]]), p, 5, out)
    assert out[0, 0] == 0


@pytest.mark.parametrize("squared", [True, False])
def test_error_means(rng, squared):
    t = rng.normal(size=(4, 3, 5)).astype(F32)
    p = rng.normal(size=(4, 3, 5)).astype(F32)
    out = np.empty((4, 3), F32)
    K.error_means(t, p, squared, out)
    e = t.astype(np.float64) - p
    ref = (e * e if squared else np.abs(e)).mean(-1)
    np.testing.assert_allclose(out, ref, rtol=1e-6)


def _confusion_ref(t, p, w, thresholds):
    pos = (t != 0)
    above = p[None, :] > np.asarray(thresholds, F32)[:, None]
    tp = (above & pos).astype(np.float64) @ w
    fp = (above & ~pos).astype(np.float64) @ w
    fn = (~above & pos).astype(np.float64) @ w
    tn = (~above & ~pos).astype(np.float64) @ w
    return tp, fp, tn, fn


def test_confusion_thresholds_matches_direct_count(rng):
    t = rng.integers(0, 2, 50).astype(F32)
    p = rng.random(50).astype(F32)
    p[:3] = [0.5, 0.25, np.nan]
    w = rng.random(50).astype(F32)
    th = np.array([0.5, 0.1, 0.25, 0.9])
    outs = [np.zeros((4, 1)) for _ in range(4)]
    K.confusion_thresholds(t[:, None], p[:, None], w[:, None], np.ones(1, F32), th,
                           np.argsort(th), False, *outs)
    for got, ref in zip(outs, _confusion_ref(t, p, w.astype(np.float64), th)):
        np.testing.assert_allclose(got[:, 0], ref, rtol=1e-6, atol=1e-9)


def test_confusion_even_matches_direct_count(rng):
    t = rng.integers(0, 2, (40, 3)).astype(F32)
    p = rng.random((40, 3)).astype(F32)
    p[0, :] = [0.0, 1.0, 0.5]
    num = 11
    th = [0.0 - 1e-7] + [(i + 1) / (num - 1) for i in range(num - 2)] + [1.0 + 1e-7]
    outs = [np.zeros((num, 3)) for _ in range(4)]
    K.confusion_even(t, p, np.ones((1, 1), F32), np.ones(3, F32), num, True, True, *outs)
    for col in range(3):
        refs = _confusion_ref(t[:, col], p[:, col], np.ones(40), th)
        for got, ref in zip(outs, refs):
            np.testing.assert_allclose(got[:, col], ref)
    pooled = [np.zeros((num, 1)) for _ in range(4)]
    K.confusion_even(t, p, np.ones((1, 1), F32), np.ones(3, F32), num, True, False, *pooled)
    for got, multi in zip(pooled, outs):
        np.testing.assert_allclose(got[:, 0], multi.sum(1))


def test_filter_top_k():
    p = np.array([[0.1, 0.5, 0.5, 0.2], [4, 3, 2, 1]], F32)
    out = np.empty_like(p)
    K.filter_top_k(p, 2, F32(-1e10), out)
    np.testing.assert_array_equal(out, [[-1e10, 0.5, 0.5, -1e10], [4, 3, -1e10, -1e10]])


def test_auc_result_roc_trapezoid():
    tp = np.array([[2.0], [1.0], [0.0]])
    fp = np.array([[2.0], [0.0], [0.0]])
    tn = np.array([[0.0], [2.0], [2.0]])
    fn = np.array([[0.0], [1.0], [2.0]])
    assert K.auc_result(tp, fp, tn, fn, 0, 0, np.ones(1), False) == pytest.approx(0.75)
    assert K.auc_result(tp, fp, tn, fn, 0, 1, np.ones(1), False) == pytest.approx(0.5)
    assert K.auc_result(tp, fp, tn, fn, 0, 2, np.ones(1), False) == pytest.approx(1.0)


def test_sigmoid_and_divide_no_nan():
    x = np.array([-800.0, -1.0, 0.0, 2.0, 800.0], F32)
    out = np.empty_like(x)
    K.sigmoid(x, out)
    with np.errstate(over="ignore"):
        ref = 1 / (1 + np.exp(-x.astype(np.float64)))
    np.testing.assert_allclose(out, ref, rtol=1e-6)
    a = np.array([1.0, 2.0], F32)
    b = np.array([0.0, 4.0], F32)
    r = np.empty_like(a)
    K.divide_no_nan(a, b, r)
    np.testing.assert_array_equal(r, [0.0, 0.5])
