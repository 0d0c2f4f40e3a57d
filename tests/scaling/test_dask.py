"""``predict`` / ``evaluate`` on dask arrays: lazy, chunk by chunk, equal to NumPy input."""

import numpy as np
import pytest

import numdense as nd
from numdense.layers import Dense

dask = pytest.importorskip("dask")
da = pytest.importorskip("dask.array")


def _data(n=400, features=6, classes=3, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, features)).astype("float32")
    labels = rng.integers(0, classes, size=n).astype("float32")
    weights = rng.random(n).astype("float32")
    return x, labels, weights


def _classifier(functional=False):
    if functional:
        inp = nd.Input((6,), name="features")
        out = Dense(3, activation="softmax", name="probs")(
            Dense(4, activation="relu", name="hidden")(inp))
        model = nd.Model(inp, out)
    else:
        model = nd.Sequential([nd.Input((6,)), Dense(4, activation="relu"),
                               Dense(3, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy",
                  metrics=["accuracy", nd.metrics.AUC(name="auc", multi_label=True)],
                  weighted_metrics=[nd.metrics.SparseCategoricalAccuracy(name="w_acc")])
    return model


def _model_key_count(array, model):
    graph = dict(array.__dask_graph__())
    return [k for k, v in graph.items() if getattr(v, "value", None) is model]


@pytest.mark.parametrize("functional", [False, True])
def test_predict_is_lazy_and_equals_numpy(functional):
    x, _, _ = _data()
    model = _classifier(functional)
    made = []

    def rows(i):
        made.append(i)
        return x[i * 100:(i + 1) * 100]

    parts = [da.from_delayed(dask.delayed(rows)(i), (100, 6), dtype="float32") for i in range(4)]
    xd = da.concatenate(parts).rechunk({1: 2})  # feature chunks are merged back
    out = model.predict(xd)
    assert isinstance(out, da.Array) and made == []
    assert out.shape == (400, 3) and out.dtype == np.float32
    assert out.chunks == ((100,) * 4, (3,))
    with dask.config.set(scheduler="threads"):
        got = out.compute()
    assert sorted(made) == [0, 1, 2, 3]
    np.testing.assert_array_equal(got, model.predict(x, verbose=0))


def test_model_enters_the_graph_once_and_weights_change_its_key():
    x, _, _ = _data()
    model = _classifier()
    out = model.predict(da.from_array(x, chunks=50), batch_size=16)
    keys = _model_key_count(out, model)
    assert len(keys) == 1 and out.npartitions == 8
    graph = dict(out.__dask_graph__())
    predict_tasks = [v for k, v in graph.items() if k[0] == out.name]
    assert len(predict_tasks) == 8 and all(keys[0] in t.dependencies for t in predict_tasks)
    model.set_weights([w + 1 for w in model.get_weights()])
    again = model.predict(da.from_array(x, chunks=50), batch_size=16)
    assert _model_key_count(again, model) != keys and again.name != out.name


def test_predict_builds_an_unbuilt_sequential_and_checks_shapes():
    x, _, _ = _data()
    model = nd.Sequential([Dense(2, activation="tanh")])
    out = model.predict(da.from_array(x, chunks=(128, 6)), steps=3, batch_size=32)
    assert model.built and out.shape == (96, 2)
    np.testing.assert_array_equal(out.compute(), model.predict(x[:96], verbose=0))
    with pytest.raises(ValueError, match=r"expects inputs of shape \(None, 6\)"):
        model.predict(da.ones((10, 5), chunks=5))


def test_multi_input_functional_predict_is_not_implemented():
    a, b = nd.Input((2,), name="a"), nd.Input((2,), name="b")
    model = nd.Model([a, b], Dense(1)(nd.layers.Concatenate()([a, b])))
    with pytest.raises(NotImplementedError, match="one input and one output"):
        model.predict([da.ones((4, 2), chunks=2), da.ones((4, 2), chunks=2)])
    model.compile(optimizer="sgd", loss="mse")
    with pytest.raises(NotImplementedError, match="one input and one output"):
        model.evaluate([da.ones((4, 2), chunks=2), np.ones((4, 2))], np.ones((4, 1)))


@pytest.mark.parametrize("functional", [False, True])
def test_evaluate_equals_numpy(functional):
    x, labels, weights = _data()
    model = _classifier(functional)
    expected = model.evaluate(x, labels, sample_weight=weights, verbose=0, return_dict=True)
    xd = da.from_array(x, chunks=(70, 3))
    got = model.evaluate(xd, da.from_array(labels, chunks=90), sample_weight=weights,
                         verbose=0, return_dict=True)
    assert list(got) == list(expected) == ["loss", "accuracy", "auc", "w_acc"]
    np.testing.assert_allclose(list(got.values()), list(expected.values()), rtol=1e-6)
    # The model's metric objects hold the combined state, as after a NumPy evaluate.
    assert model.metrics[1].result() == got["auc"]


def test_evaluate_by_batches_equals_numpy():
    """``steps`` and activity regularizers weigh each batch's loss by its size (as NumPy);
    the dask chunks are cut at batch boundaries for that."""
    x, _, weights = _data()
    y = x[:, :1] * 2 - x[:, 1:2]
    model = nd.Sequential([nd.Input((6,)), Dense(3, activity_regularizer="l2"),
                           Dense(1, kernel_regularizer="l1")])
    model.compile(optimizer="sgd", loss="mae", metrics=["mse"])
    expected = model.evaluate(x, y, batch_size=24, steps=13, verbose=0)
    got = model.evaluate(da.from_array(x, chunks=50), y, batch_size=24, steps=13, verbose=0)
    np.testing.assert_allclose(got, expected, rtol=1e-6)


@pytest.fixture(scope="module")
def dask_client():
    """A two-process local cluster (slow to start: one per module, used by one test)."""
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client:
        yield client


def test_distributed_cluster_predicts_and_evaluates_like_numpy(dask_client):
    """The model travels to the worker processes by pickle (config + weights)."""
    x, labels, weights = _data()
    model = _classifier()
    expected_pred = model.predict(x, verbose=0)
    expected = model.evaluate(x, labels, sample_weight=weights, verbose=0)
    xd = da.from_array(x, chunks=100)
    pred = dask_client.compute(model.predict(xd)).result()
    got = model.evaluate(xd, da.from_array(labels, chunks=100),
                         sample_weight=da.from_array(weights, chunks=100), verbose=0)
    assert len(dask_client.run(lambda: 1)) == 2
    np.testing.assert_array_equal(pred, expected_pred)
    np.testing.assert_allclose(got, expected, rtol=1e-6)
