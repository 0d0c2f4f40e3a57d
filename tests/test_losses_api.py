"""numdense.losses: Keras 3 API, reductions, sample weights, gradients, identifiers."""

import numpy as np
import pytest

from numdense import losses
from tests.reference import FORWARD_TOL, case_id, cases, load

CLASSES = {
    "mean_squared_error": losses.MeanSquaredError,
    "mean_absolute_error": losses.MeanAbsoluteError,
    "mean_absolute_percentage_error": losses.MeanAbsolutePercentageError,
    "mean_squared_logarithmic_error": losses.MeanSquaredLogarithmicError,
    "huber": losses.Huber,
    "log_cosh": losses.LogCosh,
    "poisson": losses.Poisson,
    "kl_divergence": losses.KLDivergence,
    "cosine_similarity": losses.CosineSimilarity,
    "hinge": losses.Hinge,
    "squared_hinge": losses.SquaredHinge,
    "categorical_hinge": losses.CategoricalHinge,
    "binary_crossentropy": losses.BinaryCrossentropy,
    "categorical_crossentropy": losses.CategoricalCrossentropy,
    "sparse_categorical_crossentropy": losses.SparseCategoricalCrossentropy,
}


def _make(case):
    cls = CLASSES[case["loss"]]
    return cls(from_logits=True) if case["from_logits"] else cls()


@pytest.mark.parametrize("case", cases("loss"), ids=case_id)
def test_keras_reference(case):
    d = load(case)
    loss = _make(case)
    value = loss(d["y_true"], d["y_pred"])
    assert value.dtype == np.float32 and np.ndim(value) == 0
    np.testing.assert_allclose(value, d["loss"], **FORWARD_TOL)
    np.testing.assert_allclose(loss.grad(d["y_true"], d["y_pred"]), d["dy_pred"], **FORWARD_TOL)
    # The function of the same name gives the per-sample values.
    fn = getattr(losses, case["loss"])
    kwargs = {"from_logits": True} if case["from_logits"] else {}
    np.testing.assert_allclose(np.mean(fn(d["y_true"], d["y_pred"], **kwargs)), d["loss"], **FORWARD_TOL)


def test_keras_doc_values():
    t = [[0, 1, 0], [0, 0, 1]]
    p = [[0.05, 0.95, 0], [0.1, 0.8, 0.1]]
    np.testing.assert_allclose(losses.categorical_crossentropy(t, p), [0.05129331, 2.3025851], rtol=1e-6)
    # The quoted values come from the JAX backend (renormalise, then clip); the TF path clips the
    # 0 to 1e-7 first and renormalises after, which adds ~1e-7 to the first value.
    np.testing.assert_allclose(losses.sparse_categorical_crossentropy([1, 2], p), [0.05129331, 2.3025851], rtol=1e-5)
    np.testing.assert_allclose(losses.CategoricalCrossentropy()(t, p), 1.1769392, rtol=1e-6)
    np.testing.assert_allclose(losses.MeanSquaredError()([[0, 1], [0, 0]], [[1, 1], [1, 0]]), 0.5)
    np.testing.assert_allclose(
        losses.BinaryCrossentropy()([[0, 1], [0, 0]], [[0.6, 0.4], [0.4, 0.6]]), 0.8149245, rtol=1e-6
    )


def test_defaults_and_names():
    assert losses.Huber().name == "huber_loss" and losses.Huber().get_config()["delta"] == 1.0
    bce = losses.BinaryCrossentropy()
    assert (bce.from_logits, bce.label_smoothing, bce.axis, bce.reduction) == (False, 0.0, -1, "sum_over_batch_size")
    assert losses.SparseCategoricalCrossentropy().get_config() == {
        "name": "sparse_categorical_crossentropy",
        "reduction": "sum_over_batch_size",
        "from_logits": False,
        "ignore_class": None,
        "axis": -1,
    }
    assert losses.CosineSimilarity(axis=1).get_config() == {
        "name": "cosine_similarity",
        "reduction": "sum_over_batch_size",
        "axis": 1,
    }
    assert losses.Loss().dtype == "float32" and losses.MeanSquaredError(dtype="float64").dtype == "float64"

    class MyCustomLoss(losses.Loss):
        pass

    assert MyCustomLoss().name == "my_custom_loss"


Y_TRUE = np.array([[0.0, 1.0], [1.0, 1.0], [0.5, 0.0]])
Y_PRED = np.array([[0.3, 0.6], [0.8, 0.1], [0.2, 0.9]])
PER_SAMPLE = ((Y_TRUE - Y_PRED) ** 2).mean(-1)


@pytest.mark.parametrize(
    "reduction, sample_weight, expected",
    [
        ("sum_over_batch_size", None, PER_SAMPLE.mean()),
        ("mean", None, PER_SAMPLE.mean()),
        ("sum", None, PER_SAMPLE.sum()),
        (None, None, PER_SAMPLE),
        ("none", None, PER_SAMPLE),
        ("mean_with_sample_weight", None, PER_SAMPLE.mean()),
        ("sum_over_batch_size", [1.0, 2.0, 0.0], (PER_SAMPLE * [1, 2, 0]).sum() / 3),
        ("sum_over_batch_size", [[1.0], [2.0], [0.0]], (PER_SAMPLE * [1, 2, 0]).sum() / 3),
        ("sum_over_batch_size", 2.0, 2 * PER_SAMPLE.mean()),
        ("sum", [1.0, 2.0, 0.0], (PER_SAMPLE * [1, 2, 0]).sum()),
        ("mean_with_sample_weight", [1.0, 2.0, 0.0], (PER_SAMPLE * [1, 2, 0]).sum() / 3),
        ("mean_with_sample_weight", [0.5, 0.5, 0.0], (PER_SAMPLE * [0.5, 0.5, 0]).sum() / 1),
        ("mean_with_sample_weight", [0.0, 0.0, 0.0], 0.0),
        ("none", [1.0, 2.0, 0.0], PER_SAMPLE * [1, 2, 0]),
    ],
)
def test_reductions_and_sample_weights(reduction, sample_weight, expected):
    loss = losses.MeanSquaredError(reduction=reduction, dtype="float64")
    np.testing.assert_allclose(loss(Y_TRUE, Y_PRED, sample_weight=sample_weight), expected, rtol=1e-12)
    # Kernel gradient == finite differences of the reduced loss (the custom-loss fallback).
    numerical = loss._numerical_grad(Y_TRUE, Y_PRED, sample_weight)
    np.testing.assert_allclose(loss.grad(Y_TRUE, Y_PRED, sample_weight), numerical, rtol=1e-6, atol=1e-9)


def test_invalid_reduction():
    with pytest.raises(ValueError, match="Expected one of .*sum_over_batch_size.*Received: reduction=avg"):
        losses.MeanSquaredError(reduction="avg")


def test_sparse_labels_are_validated():
    p = [[0.5, 0.5], [0.2, 0.8]]
    with pytest.raises(ValueError, match="label value of 2 .*\\[0, 2\\)"):
        losses.SparseCategoricalCrossentropy()([0, 2], p)
    with pytest.raises(ValueError, match="label value of -1"):
        losses.sparse_categorical_crossentropy(np.array([[-1], [0]]), p)
    with pytest.raises(ValueError, match="axis=-1"):
        losses.sparse_categorical_crossentropy([0, 1], p, axis=0)


def test_sparse_ignore_class():
    p = np.array([[0.1, 0.8, 0.1], [0.3, 0.3, 0.4], [0.2, 0.2, 0.6]])
    labels = np.array([1, -1, 2])
    np.testing.assert_allclose(
        losses.sparse_categorical_crossentropy(labels, p, ignore_class=-1), [-np.log(0.8), 0.0, -np.log(0.6)], rtol=1e-6
    )
    loss = losses.SparseCategoricalCrossentropy(ignore_class=-1, dtype="float64")
    np.testing.assert_allclose(loss(labels, p), -(np.log(0.8) + np.log(0.6)) / 2, rtol=1e-12)
    g = loss.grad(labels, p)
    np.testing.assert_array_equal(g[1], 0.0)
    np.testing.assert_allclose(g, loss._numerical_grad(labels, p, None), rtol=1e-6, atol=1e-9)
    assert loss.kernel_spec() is None


def test_label_smoothing_and_axis():
    rng = np.random.default_rng(0)
    t = np.eye(3)[[0, 2, 1, 1]]
    z = rng.standard_normal((4, 3))
    smooth = losses.categorical_crossentropy(t, z, from_logits=True, label_smoothing=0.3)
    plain = losses.categorical_crossentropy(t * 0.7 + 0.1, z, from_logits=True)
    np.testing.assert_allclose(smooth, plain, rtol=1e-12)
    bce = losses.binary_crossentropy(t, z, from_logits=True, label_smoothing=0.2)
    np.testing.assert_allclose(bce, losses.binary_crossentropy(t * 0.8 + 0.1, z, from_logits=True), rtol=1e-12)
    # A class axis other than the last one.
    np.testing.assert_allclose(
        losses.categorical_crossentropy(t.T, z.T, from_logits=True, axis=0),
        losses.categorical_crossentropy(t, z, from_logits=True),
        rtol=1e-12,
    )
    cos = losses.CosineSimilarity(axis=0, dtype="float64")
    assert cos.kernel_spec() is None
    np.testing.assert_allclose(cos(t.T, z.T), losses.CosineSimilarity(dtype="float64")(t, z), rtol=1e-12)
    np.testing.assert_allclose(cos.grad(t.T, z.T), cos._numerical_grad(t.T, z.T, None), rtol=1e-6, atol=1e-9)
    with pytest.warns(SyntaxWarning):
        losses.categorical_crossentropy([[1.0]], [[1.0]])


def test_rank_matching_like_keras():
    # y_true (N,) against y_pred (N, 1): expanded, not broadcast to (N, N).
    v = losses.MeanSquaredError(reduction=None)([1.0, 2.0], [[1.5], [2.0]])
    np.testing.assert_allclose(v, [0.25, 0.0])
    g = losses.MeanSquaredError().grad([1.0, 2.0], [[1.5], [2.0]])
    assert g.shape == (2, 1)
    np.testing.assert_allclose(g, [[0.5], [0.0]])


def test_kernel_spec_and_custom_losses():
    assert losses.Huber(delta=2.5).kernel_spec() == (4, 2.5)
    assert losses.BinaryCrossentropy(from_logits=True, label_smoothing=0.1).kernel_spec() == (13, 0.1)
    assert losses.SparseCategoricalCrossentropy().kernel_spec() == (16, 0.0)
    assert losses.LossFunctionWrapper(losses.mean_squared_error).kernel_spec() == (0, 0.0)

    class Cubic(losses.Loss):
        def call(self, y_true, y_pred):
            return np.mean((y_pred - y_true) ** 3, axis=-1)

    loss = Cubic(dtype="float64")
    assert loss.kernel_spec() is None
    np.testing.assert_allclose(loss.grad(Y_TRUE, Y_PRED), 3 * (Y_PRED - Y_TRUE) ** 2 / 6, rtol=1e-6)
    wrapped = losses.LossFunctionWrapper(lambda t, p: np.sum(np.abs(p - t) ** 3, axis=-1), dtype="float64")
    assert wrapped.kernel_spec() is None
    np.testing.assert_allclose(wrapped.grad(Y_TRUE, Y_PRED, [1, 1, 2]), 3 * (Y_PRED - Y_TRUE) * np.abs(Y_PRED - Y_TRUE) * [[1], [1], [2]] / 3, rtol=1e-6)
    with pytest.raises(NotImplementedError):
        losses.Loss()(Y_TRUE, Y_PRED)


@pytest.mark.parametrize("cls", sorted(CLASSES.values(), key=lambda c: c.__name__), ids=lambda c: c.__name__)
def test_class_serialization_round_trip(cls):
    loss = cls(reduction="sum", name="custom_name")
    config = losses.serialize(loss)
    assert config["module"] == "keras.losses" and config["class_name"] == cls.__name__
    assert config["registered_name"] is None
    again = losses.deserialize(config)
    assert type(again) is cls and again.get_config() == loss.get_config()
    assert type(losses.get(config)) is cls
    assert type(losses.get(cls.__name__)) is cls
    assert type(losses.get(cls)) is cls
    assert cls.from_config(loss.get_config()).get_config() == loss.get_config()


def test_non_default_arguments_survive_serialization():
    for loss in (
        losses.Huber(delta=2.0),
        losses.CosineSimilarity(axis=0),
        losses.SparseCategoricalCrossentropy(from_logits=True, ignore_class=3),
        losses.CategoricalCrossentropy(from_logits=True, label_smoothing=0.2),
        losses.BinaryCrossentropy(label_smoothing=0.1),
    ):
        assert losses.deserialize(losses.serialize(loss)).get_config() == loss.get_config()


@pytest.mark.parametrize(
    "name, fn",
    [
        ("mse", losses.mean_squared_error),
        ("MSE", losses.mean_squared_error),
        ("mae", losses.mean_absolute_error),
        ("MAE", losses.mean_absolute_error),
        ("mape", losses.mean_absolute_percentage_error),
        ("MAPE", losses.mean_absolute_percentage_error),
        ("msle", losses.mean_squared_logarithmic_error),
        ("MSLE", losses.mean_squared_logarithmic_error),
        ("kld", losses.kl_divergence),
        ("KLD", losses.kl_divergence),
        ("bce", losses.binary_crossentropy),
        ("BCE", losses.binary_crossentropy),
        ("categorical_crossentropy", losses.categorical_crossentropy),
        ("huber", losses.huber),
        ("categorical_hinge", losses.categorical_hinge),
    ],
)
def test_function_identifiers(name, fn):
    assert losses.get(name) is fn
    config = losses.serialize(fn)
    assert config == {
        "module": "keras.losses",
        "class_name": "function",
        "config": fn.__name__,
        "registered_name": fn.__name__,
    }
    assert losses.deserialize(config) is fn and losses.get(config) is fn


def test_get_other_identifiers_and_errors():
    assert losses.get(None) is None
    mse = losses.MeanSquaredError()
    assert losses.get(mse) is mse
    custom = lambda t, p: 0.0  # noqa: E731
    assert losses.get(custom) is custom
    loss = losses.get({"class_name": "CategoricalCrossentropy", "config": {"from_logits": True}})
    assert loss.from_logits is True
    for bad in ("not_a_loss", 42, {"config": {}}):
        with pytest.raises(ValueError, match="Could not interpret loss identifier"):
            losses.get(bad)
    wrapper = losses.LossFunctionWrapper(losses.huber, name="h", delta=3.0)
    again = losses.deserialize(losses.serialize(wrapper))
    assert again.fn is losses.huber and again.get_config() == wrapper.get_config()
