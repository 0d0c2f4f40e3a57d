"""numdense.metrics against Keras 3 docstring values and NumPy re-implementations."""

import numpy as np
import pytest

from numdense import metrics

F32 = np.float32


def _batches(rng, n_batches=3, shape=(8,), high=2):
    for _ in range(n_batches):
        yield rng.integers(0, high, shape).astype(F32), rng.random(shape).astype(F32)


# --------------------------------------------------------------- Keras docstring examples
def test_keras_doc_values():
    m = metrics.Accuracy()
    m.update_state([[1], [2], [3], [4]], [[0], [2], [3], [4]])
    assert m.result() == pytest.approx(0.75)
    m.reset_state()
    m.update_state([[1], [2], [3], [4]], [[0], [2], [3], [4]], sample_weight=[1, 1, 0, 0])
    assert m.result() == pytest.approx(0.5)

    m = metrics.BinaryAccuracy()
    m.update_state([[1], [1], [0], [0]], [[0.98], [1], [0], [0.6]])
    assert m.result() == pytest.approx(0.75)
    m.reset_state()
    m.update_state([[1], [1], [0], [0]], [[0.98], [1], [0], [0.6]], sample_weight=[1, 0, 0, 1])
    assert m.result() == pytest.approx(0.5)

    y_true, y_pred = [[0, 0, 1], [0, 1, 0]], [[0.1, 0.9, 0.8], [0.05, 0.95, 0]]
    m = metrics.CategoricalAccuracy()
    m.update_state(y_true, y_pred)
    assert m.result() == pytest.approx(0.5)
    m.reset_state()
    m.update_state(y_true, y_pred, sample_weight=[0.7, 0.3])
    assert m.result() == pytest.approx(0.3)

    m = metrics.SparseCategoricalAccuracy()
    m.update_state([[2], [1]], [[0.1, 0.6, 0.3], [0.05, 0.95, 0]])
    assert m.result() == pytest.approx(0.5)
    m.reset_state()
    m.update_state([[2], [1]], [[0.1, 0.6, 0.3], [0.05, 0.95, 0]], sample_weight=[0.7, 0.3])
    assert m.result() == pytest.approx(0.3)

    m = metrics.TopKCategoricalAccuracy(k=1)
    m.update_state(y_true, y_pred)
    assert m.result() == pytest.approx(0.5)
    m = metrics.SparseTopKCategoricalAccuracy(k=1)
    m.update_state([2, 1], [[0.1, 0.9, 0.8], [0.05, 0.95, 0]])
    assert m.result() == pytest.approx(0.5)
    m = metrics.SparseTopKCategoricalAccuracy(k=1, from_sorted_ids=True)
    m.update_state([2, 1], [[1, 0, 3], [1, 2, 3]])
    assert m.result() == pytest.approx(0.5)

    m = metrics.MeanSquaredError()
    m.update_state([[0, 1], [0, 0]], [[1, 1], [0, 0]])
    assert m.result() == pytest.approx(0.25)
    m = metrics.MeanAbsoluteError()
    m.update_state([[0, 1], [0, 0]], [[1, 1], [0, 0]])
    assert m.result() == pytest.approx(0.25)
    m.reset_state()
    m.update_state([[0, 1], [0, 0]], [[1, 1], [0, 0]], sample_weight=[1, 0])
    assert m.result() == pytest.approx(0.5)
    m = metrics.RootMeanSquaredError()
    m.update_state([[0, 1], [0, 0]], [[1, 1], [0, 0]])
    assert m.result() == pytest.approx(0.5)
    m.reset_state()
    m.update_state([[0, 1], [0, 0]], [[1, 1], [0, 0]], sample_weight=[1, 0])
    assert m.result() == pytest.approx(0.70710677)


def test_keras_doc_values_confusion():
    m = metrics.Precision()
    m.update_state([0, 1, 1, 1], [1, 0, 1, 1])
    assert m.result() == pytest.approx(0.6666667)
    m.reset_state()
    m.update_state([0, 1, 1, 1], [1, 0, 1, 1], sample_weight=[0, 0, 1, 0])
    assert m.result() == pytest.approx(1.0)
    m = metrics.Precision(top_k=2)
    m.update_state([0, 0, 1, 1], [1, 1, 1, 1])
    assert m.result() == pytest.approx(0.0)
    m = metrics.Precision(top_k=4)
    m.update_state([0, 0, 1, 1], [1, 1, 1, 1])
    assert m.result() == pytest.approx(0.5)

    m = metrics.Recall()
    m.update_state([0, 1, 1, 1], [1, 0, 1, 1])
    assert m.result() == pytest.approx(0.6666667)
    m.reset_state()
    m.update_state([0, 1, 1, 1], [1, 0, 1, 1], sample_weight=[0, 0, 1, 0])
    assert m.result() == pytest.approx(1.0)

    m = metrics.AUC(num_thresholds=3)
    m.update_state([0, 0, 1, 1], [0, 0.5, 0.3, 0.9])
    assert m.result() == pytest.approx(0.75)
    np.testing.assert_array_equal(m.true_positives, [2, 1, 0])
    np.testing.assert_array_equal(m.false_positives, [2, 0, 0])
    np.testing.assert_array_equal(m.false_negatives, [0, 1, 2])
    np.testing.assert_array_equal(m.true_negatives, [0, 2, 2])
    m.reset_state()
    m.update_state([0, 0, 1, 1], [0, 0.5, 0.3, 0.9], sample_weight=[1, 0, 0, 1])
    assert m.result() == pytest.approx(1.0)

    for cls, y_true, y_pred, w, expected in [
        (metrics.FalsePositives, [0, 1, 0, 0], [0, 0, 1, 1], [0, 0, 1, 0], (2.0, 1.0)),
        (metrics.FalseNegatives, [0, 1, 1, 1], [0, 1, 0, 0], [0, 0, 1, 0], (2.0, 1.0)),
        (metrics.TrueNegatives, [0, 1, 0, 0], [1, 1, 0, 0], [0, 0, 1, 0], (2.0, 1.0)),
        (metrics.TruePositives, [0, 1, 1, 1], [1, 0, 1, 1], [0, 0, 1, 0], (2.0, 1.0)),
    ]:
        m = cls()
        m.update_state(y_true, y_pred)
        assert m.result() == expected[0]
        m.reset_state()
        m.update_state(y_true, y_pred, sample_weight=w)
        assert m.result() == expected[1]


# --------------------------------------------------------------- streaming vs NumPy
def test_binary_accuracy_streaming_weighted(rng):
    m = metrics.BinaryAccuracy(threshold=0.3)
    total = count = 0.0
    for _ in range(4):
        t = rng.integers(0, 2, (10, 3)).astype(F32)
        p = rng.random((10, 3)).astype(F32)
        w = rng.random(10).astype(F32)
        m.update_state(t, p, sample_weight=w)
        total += ((t == (p > F32(0.3))).mean(1) * w).sum()
        count += w.sum()
    assert m.result() == pytest.approx(total / count, rel=1e-6)


def test_categorical_and_sparse_streaming(rng):
    cat, sparse = metrics.CategoricalAccuracy(), metrics.SparseCategoricalAccuracy()
    hits = n = 0
    for size in (5, 7, 1):
        labels = rng.integers(0, 4, size)
        p = rng.random((size, 4)).astype(F32)
        cat.update_state(np.eye(4)[labels], p)
        sparse.update_state(labels[:, None], p)
        hits += (np.argmax(p, -1) == labels).sum()
        n += size
    assert cat.result() == pytest.approx(hits / n, rel=1e-6)
    assert sparse.result() == pytest.approx(hits / n, rel=1e-6)


def test_per_element_weights_average_per_sample(rng):
    t = rng.integers(0, 2, (6, 4)).astype(F32)
    p = rng.random((6, 4)).astype(F32)
    w = rng.random((6, 4)).astype(F32)
    m = metrics.BinaryAccuracy()
    m.update_state(t, p, sample_weight=w)
    v = (t == (p > 0.5)).astype(np.float64)
    assert m.result() == pytest.approx((v * w).mean(1).sum() / w.mean(1).sum(), rel=1e-6)


def test_scalar_sample_weight_counts_batch_as_one_sample():
    # Keras reduces the values to a scalar when the weight is a scalar.
    m = metrics.Mean()
    m.update_state([1.0, 3.0], sample_weight=2.0)
    m.update_state([10.0, 10.0, 10.0, 10.0])
    assert m.result() == pytest.approx((2 * 2.0 + 40.0) / (2 + 4))


def test_mean_and_sum():
    m = metrics.Mean()
    m.update_state([1, 3, 5, 7])
    assert m.result() == 4.0
    m.reset_state()
    m.update_state([1, 3, 5, 7], sample_weight=[1, 1, 0, 0])
    assert m.result() == 2.0
    m.reset_state()
    assert m.result() == 0.0
    s = metrics.Sum()
    s.update_state([1, 3, 5, 7])
    assert s.result() == 16.0
    s.reset_state()
    s.update_state([1, 3, 5, 7], sample_weight=[1, 1, 0, 0])
    assert s.result() == 4.0
    s.update_state([[1, 2], [3, 4]], sample_weight=2.0)
    assert s.result() == 24.0


def test_regression_streaming(rng):
    mse, mae, rmse = (metrics.MeanSquaredError(), metrics.MeanAbsoluteError(),
                      metrics.RootMeanSquaredError())
    se = ae = sq = cnt = 0.0
    for size in (4, 9):
        t = rng.normal(size=(size, 3)).astype(F32)
        p = rng.normal(size=(size, 3)).astype(F32)
        w = rng.random(size).astype(F32)
        for m in (mse, mae, rmse):
            m.update_state(t, p, sample_weight=w)
        e = t.astype(np.float64) - p
        se += ((e ** 2).mean(1) * w).sum()
        ae += (np.abs(e).mean(1) * w).sum()
        cnt += w.sum()
    assert mse.result() == pytest.approx(se / cnt, rel=1e-6)
    assert mae.result() == pytest.approx(ae / cnt, rel=1e-6)
    assert rmse.result() == pytest.approx(np.sqrt(se / cnt), rel=1e-6)


def test_mse_on_rank_1_inputs_is_one_value_per_batch():
    # Keras' mean over the last axis turns a (n,) batch into one value.
    m = metrics.MeanSquaredError()
    m.update_state([0.0, 0.0], [1.0, 1.0])
    m.update_state([0.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0])
    assert m.result() == pytest.approx(0.5)
    r = metrics.RootMeanSquaredError()
    r.update_state([0.0, 0.0], [1.0, 1.0])
    r.update_state([0.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0])
    assert r.result() == pytest.approx(np.sqrt(2 / 6), rel=1e-6)


def test_top_k_streaming(rng):
    m = metrics.TopKCategoricalAccuracy(k=2)
    s = metrics.SparseTopKCategoricalAccuracy(k=2)
    hits = n = 0
    for size in (6, 3):
        labels = rng.integers(0, 5, size)
        p = rng.random((size, 5)).astype(F32)
        m.update_state(np.eye(5)[labels], p)
        s.update_state(labels, p)
        target = p[np.arange(size), labels]
        hits += ((p > target[:, None]).sum(1) < 2).sum()
        n += size
    assert m.result() == pytest.approx(hits / n, rel=1e-6)
    assert s.result() == pytest.approx(hits / n, rel=1e-6)


def test_functions_shapes():
    assert metrics.binary_accuracy([[1], [0]], [[0.7], [0.2]]).shape == (2, 1)
    assert metrics.categorical_accuracy(np.eye(3), np.eye(3)).shape == (3,)
    assert metrics.sparse_categorical_accuracy([[0], [1]], np.eye(2)).shape == (2,)
    assert metrics.top_k_categorical_accuracy(np.eye(3), np.eye(3), k=1).tolist() == [1, 1, 1]
    assert metrics.sparse_top_k_categorical_accuracy([[0], [1]], np.eye(2), k=1).shape == (2, 1)
    assert metrics.mean_squared_error([[1.0, 2.0]], [[1.0, 4.0]]).tolist() == [2.0]


# --------------------------------------------------------------- confusion vs NumPy
def _counts(t, p, w, thresholds):
    pos = t != 0
    above = p[None, :] > np.asarray(thresholds, F32)[:, None]
    return [((a & b) * w).sum(1) for a, b in
            ((above, pos), (above, ~pos), (~above, ~pos), (~above, pos))]


def _auc_ref(t, p, w, num_thresholds, curve="ROC", method="interpolation"):
    th = [-1e-7] + [(i + 1) / (num_thresholds - 1) for i in range(num_thresholds - 2)] + [1 + 1e-7]
    tp, fp, tn, fn = _counts(t, p, w, th)

    def dnn(a, b):
        return np.where(b == 0, 0.0, a / np.where(b == 0, 1, b))

    if curve == "PR" and method == "interpolation":
        dtp = tp[:-1] - tp[1:]
        pp = tp + fp
        dp = pp[:-1] - pp[1:]
        slope = dnn(dtp, np.maximum(dp, 0))
        intercept = tp[1:] - slope * pp[1:]
        ratio = np.where((pp[:-1] > 0) & (pp[1:] > 0), dnn(pp[:-1], np.maximum(pp[1:], 0)), 1.0)
        return np.sum(dnn(slope * (dtp + intercept * np.log(ratio)),
                          np.maximum(tp[1:] + fn[1:], 0)))
    recall = dnn(tp, tp + fn)
    if curve == "ROC":
        x, y = dnn(fp, fp + tn), recall
    else:
        x, y = recall, dnn(tp, tp + fp)
    heights = {"interpolation": (y[:-1] + y[1:]) / 2, "minoring": np.minimum(y[:-1], y[1:]),
               "majoring": np.maximum(y[:-1], y[1:])}[method]
    return np.sum((x[:-1] - x[1:]) * heights)


@pytest.mark.parametrize("curve,method", [("ROC", "interpolation"), ("ROC", "minoring"),
                                          ("ROC", "majoring"), ("PR", "interpolation"),
                                          ("PR", "majoring")])
def test_auc_streaming_matches_numpy(rng, curve, method):
    m = metrics.AUC(num_thresholds=50, curve=curve, summation_method=method)
    ts, ps, ws = [], [], []
    for size in (30, 17, 40):
        t = rng.integers(0, 2, size).astype(F32)
        p = np.clip(rng.random(size) * 0.6 + t * 0.3, 0, 1).astype(F32)
        w = rng.random(size).astype(F32)
        m.update_state(t, p, sample_weight=w)
        ts.append(t), ps.append(p), ws.append(w)
    ref = _auc_ref(np.concatenate(ts), np.concatenate(ps), np.concatenate(ws).astype(np.float64),
                   50, curve, method)
    assert m.result() == pytest.approx(ref, rel=1e-5)


def test_auc_default_close_to_exact_roc(rng):
    t = rng.integers(0, 2, 2000)
    p = np.clip(rng.normal(0.4 + 0.2 * t, 0.2), 0, 1).astype(F32)
    m = metrics.AUC()
    m.update_state(t, p)
    pos, neg = p[t == 1], p[t == 0]
    exact = ((pos[:, None] > neg[None, :]).mean() + 0.5 * (pos[:, None] == neg[None, :]).mean())
    assert m.result() == pytest.approx(exact, abs=5e-3)


def test_auc_multi_label_and_label_weights(rng):
    t = rng.integers(0, 2, (60, 3)).astype(F32)
    p = rng.random((60, 3)).astype(F32)
    m = metrics.AUC(num_thresholds=20, multi_label=True)
    m.update_state(t, p)
    per_label = [_auc_ref(t[:, j], p[:, j], np.ones(60), 20) for j in range(3)]
    assert m.result() == pytest.approx(np.mean(per_label), rel=1e-5)
    m = metrics.AUC(num_thresholds=20, multi_label=True, label_weights=[1, 2, 0])
    m.update_state(t, p)
    assert m.result() == pytest.approx((per_label[0] + 2 * per_label[1]) / 3, rel=1e-5)
    pooled = metrics.AUC(num_thresholds=20)
    pooled.update_state(t, p)
    assert pooled.result() == pytest.approx(_auc_ref(t.ravel(), p.ravel(), np.ones(180), 20),
                                            rel=1e-5)


def test_auc_from_logits_and_explicit_thresholds(rng):
    t = rng.integers(0, 2, 50).astype(F32)
    z = rng.normal(size=50).astype(F32)
    a = metrics.AUC(num_thresholds=30, from_logits=True)
    a.update_state(t, z)
    b = metrics.AUC(num_thresholds=30)
    b.update_state(t, 1 / (1 + np.exp(-z)))
    assert a.result() == pytest.approx(b.result(), rel=1e-6)
    c = metrics.AUC(thresholds=[0.3, 0.7, 0.5])
    assert c.num_thresholds == 5
    assert c.thresholds[1:-1] == [0.3, 0.5, 0.7]
    assert c.get_config()["thresholds"] == [0.3, 0.5, 0.7]


def test_precision_recall_thresholds_class_id(rng):
    t = rng.integers(0, 2, (25, 3)).astype(F32)
    p = rng.random((25, 3)).astype(F32)
    w = rng.random(25).astype(F32)
    prec = metrics.Precision(thresholds=[0.2, 0.6], class_id=1)
    rec = metrics.Recall(thresholds=[0.2, 0.6], class_id=1)
    prec.update_state(t, p, sample_weight=w)
    rec.update_state(t, p, sample_weight=w)
    tp, fp, tn, fn = _counts(t[:, 1], p[:, 1], w.astype(np.float64), [0.2, 0.6])
    np.testing.assert_allclose(prec.result(), tp / (tp + fp), rtol=1e-6)
    np.testing.assert_allclose(rec.result(), tp / (tp + fn), rtol=1e-6)


def test_precision_top_k_rows(rng):
    t = np.array([[0, 1, 1, 0], [1, 0, 0, 0]], F32)
    p = np.array([[0.9, 0.8, 0.1, 0.2], [0.3, 0.2, 0.5, 0.1]], F32)
    m = metrics.Precision(top_k=2)
    m.update_state(t, p)
    assert m.result() == pytest.approx(2 / 4)
    r = metrics.Recall(top_k=1)
    r.update_state(t, p)
    assert r.result() == pytest.approx(0.0)


# --------------------------------------------------------------- API
def test_validation_errors():
    with pytest.raises(ValueError, match="num_thresholds"):
        metrics.AUC(num_thresholds=1)
    with pytest.raises(ValueError, match="curve"):
        metrics.AUC(curve="XYZ")
    with pytest.raises(ValueError, match="summation method"):
        metrics.AUC(summation_method="middle")
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        metrics.Precision(thresholds=[1.5])
    with pytest.raises(ValueError, match="num_labels"):
        metrics.AUC(num_labels=3)
    with pytest.raises(ValueError, match="k"):
        metrics.TopKCategoricalAccuracy(k=0)
    with pytest.raises(ValueError, match="class_id"):
        metrics.Precision(class_id=0).update_state([1, 0], [0.4, 0.6])


def test_get_and_names():
    assert isinstance(metrics.get("mse"), metrics.MeanSquaredError)
    assert isinstance(metrics.get("MAE"), metrics.MeanAbsoluteError)
    assert isinstance(metrics.get("rmse"), metrics.RootMeanSquaredError)
    assert isinstance(metrics.get("auc"), metrics.AUC)
    assert isinstance(metrics.get("precision"), metrics.Precision)
    assert isinstance(metrics.get("recall"), metrics.Recall)
    assert isinstance(metrics.get("binary_accuracy"), metrics.BinaryAccuracy)
    assert isinstance(metrics.get("SparseCategoricalAccuracy"),
                      metrics.SparseCategoricalAccuracy)
    assert metrics.get(None) is None
    assert metrics.get(metrics.binary_accuracy) is metrics.binary_accuracy
    with pytest.raises(ValueError, match="Could not interpret metric identifier"):
        metrics.get("nope")
    assert metrics.MeanSquaredError().name == "mean_squared_error"
    assert metrics.BinaryAccuracy().get_config() == {
        "name": "binary_accuracy", "dtype": "float32", "threshold": 0.5}


@pytest.mark.parametrize("t_shape,p_shape,loss,expected", [
    ((8, 1), (8, 1), None, metrics.BinaryAccuracy),
    ((8,), (8, 1), None, metrics.BinaryAccuracy),
    ((8,), (8, 5), None, metrics.SparseCategoricalAccuracy),
    ((8, 1), (8, 5), None, metrics.SparseCategoricalAccuracy),
    ((8, 5), (8, 5), None, metrics.CategoricalAccuracy),
    ((8, 5), (8, 5), "binary_crossentropy", metrics.BinaryAccuracy),
    ((8, 5), (8, 5), "categorical_crossentropy", metrics.CategoricalAccuracy),
])
def test_resolve_accuracy(t_shape, p_shape, loss, expected):
    assert metrics.resolve_accuracy(t_shape, p_shape, loss) is expected


def test_get_metric_names_as_compile():
    m = metrics.get_metric("acc", (4,), (4, 3))
    assert isinstance(m, metrics.SparseCategoricalAccuracy) and m.name == "acc"
    assert metrics.get_metric("mse", (4, 1), (4, 1)).name == "mse"
    assert metrics.get_metric(metrics.AUC(name="my_auc"), (4, 1), (4, 1)).name == "my_auc"
    wrapped = metrics.get_metric(metrics.binary_accuracy, (4, 1), (4, 1))
    assert isinstance(wrapped, metrics.MeanMetricWrapper) and wrapped.name == "binary_accuracy"


@pytest.mark.parametrize("metric", [
    metrics.BinaryAccuracy(threshold=0.3), metrics.CategoricalAccuracy(name="ca"),
    metrics.TopKCategoricalAccuracy(k=3), metrics.SparseTopKCategoricalAccuracy(k=2),
    metrics.MeanSquaredError(), metrics.RootMeanSquaredError(), metrics.Mean(name="m"),
    metrics.Sum(), metrics.AUC(curve="PR", num_thresholds=7), metrics.Precision(thresholds=0.4),
    metrics.Recall(top_k=2), metrics.AUC(thresholds=[0.2, 0.4]),
    metrics.MeanMetricWrapper(metrics.binary_accuracy, name="w", threshold=0.1),
])
def test_serialize_round_trip(metric):
    config = metrics.serialize(metric)
    assert config["module"] == "keras.metrics"
    assert config["class_name"] == type(metric).__name__
    clone = metrics.deserialize(config)
    assert type(clone) is type(metric)
    assert clone.get_config() == metric.get_config()


def test_call_and_float_results():
    m = metrics.BinaryAccuracy()
    value = m([1, 0], [0.9, 0.8])
    assert isinstance(value, float) and value == 0.5
    assert isinstance(metrics.AUC()([0, 1], [0.2, 0.7]), float)
