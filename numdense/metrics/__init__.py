"""Keras 3 metrics: streaming ``Metric`` objects and stateless metric functions.

``get("mse")`` etc. resolve identifiers as ``keras.metrics.get``; ``"accuracy"``/``"acc"`` depend on
the data and are resolved by ``get_metric`` / ``resolve_accuracy`` (Keras' compile-time rule).
"""

from numdense.utils.naming import to_snake_case
from numdense.utils.serialization import deserialize_object, serialize_object

from .accuracy_metrics import (
    Accuracy, BinaryAccuracy, CategoricalAccuracy, SparseCategoricalAccuracy,
    SparseTopKCategoricalAccuracy, TopKCategoricalAccuracy, accuracy, binary_accuracy,
    categorical_accuracy, sparse_categorical_accuracy, sparse_top_k_categorical_accuracy,
    top_k_categorical_accuracy,
)
from .confusion_metrics import (
    AUC, FalseNegatives, FalsePositives, Precision, Recall, TrueNegatives, TruePositives,
)
from .metric import Metric
from .reduction_metrics import Mean, MeanMetricWrapper, Sum
from .regression_metrics import (
    MeanAbsoluteError, MeanSquaredError, RootMeanSquaredError, mean_absolute_error,
    mean_squared_error,
)

_MODULE = "keras.metrics"

ALL_OBJECTS = (
    Metric, Mean, Sum, MeanMetricWrapper,
    MeanSquaredError, RootMeanSquaredError, MeanAbsoluteError,
    AUC, FalseNegatives, FalsePositives, Precision, Recall, TrueNegatives, TruePositives,
    Accuracy, BinaryAccuracy, CategoricalAccuracy, SparseCategoricalAccuracy,
    TopKCategoricalAccuracy, SparseTopKCategoricalAccuracy,
)
ALL_OBJECTS_DICT = {cls.__name__: cls for cls in ALL_OBJECTS}
ALL_OBJECTS_DICT.update({to_snake_case(cls.__name__): cls for cls in ALL_OBJECTS})
ALL_OBJECTS_DICT.update({
    "mse": MeanSquaredError, "MSE": MeanSquaredError,
    "mae": MeanAbsoluteError, "MAE": MeanAbsoluteError,
    # Not a Keras 3 alias (Keras 3 only knows "root_mean_squared_error"); kept for convenience.
    "rmse": RootMeanSquaredError, "RMSE": RootMeanSquaredError,
})

FUNCTIONS = {
    fn.__name__: fn for fn in (
        accuracy, binary_accuracy, categorical_accuracy, sparse_categorical_accuracy,
        top_k_categorical_accuracy, sparse_top_k_categorical_accuracy, mean_squared_error,
        mean_absolute_error,
    )
}

_BINARY_LOSSES = ("binary_crossentropy", "binarycrossentropy", "bce")


def serialize_function(fn):
    """A metric function's name (numdense's own functions), for ``MeanMetricWrapper`` configs."""
    name = getattr(fn, "__name__", None)
    if FUNCTIONS.get(name) is fn:
        return name
    raise ValueError(f"Cannot serialize metric function {fn!r}: only numdense functions are.")


def deserialize_function(config, custom_objects=None):
    """The metric function named by ``config`` (a name, or a Keras function dict)."""
    if callable(config):
        return config
    name = config.get("config") if isinstance(config, dict) else config
    found = {**FUNCTIONS, **(custom_objects or {})}.get(name)
    if found is None:
        raise ValueError(f"Unknown metric function: {config!r}")
    return found


def serialize(metric):
    """Returns the Keras 3 dict of a metric (module ``"keras.metrics"``), or a function's name.

    Args:
        metric: a ``Metric`` instance or a numdense metric function.
    """
    if isinstance(metric, Metric):
        return serialize_object(metric, _MODULE)
    return serialize_function(metric)


def deserialize(config, custom_objects=None):
    """Builds a metric from a Keras config dict or a name.

    Args:
        config: a dict with ``class_name`` and ``config``, or a string name.
        custom_objects: optional dict of extra names to classes or functions.
    """
    if isinstance(config, str) and config in {**FUNCTIONS, **(custom_objects or {})} \
            and config not in ALL_OBJECTS_DICT:
        return deserialize_function(config, custom_objects)
    return deserialize_object(config, ALL_OBJECTS_DICT, "metric", custom_objects)


def get(identifier):
    """Resolves a metric identifier as ``keras.metrics.get``.

    Args:
        identifier: ``None``; a class or snake-case name (``"BinaryAccuracy"``,
            ``"binary_accuracy"``, ``"auc"``, ``"precision"``, ...) or alias (``"mse"``, ``"mae"``,
            ``"rmse"``); a config dict; a ``Metric`` class or instance; or a callable
            ``fn(y_true, y_pred)``. ``"accuracy"`` gives ``Accuracy``; use ``get_metric`` for
            Keras' compile-time choice.

    Returns:
        A ``Metric`` instance, a function, or ``None``.
    """
    if identifier is None:
        return None
    if isinstance(identifier, dict):
        obj = deserialize(identifier)
    elif isinstance(identifier, str):
        obj = ALL_OBJECTS_DICT.get(identifier)
    else:
        obj = identifier
    if callable(obj):
        return obj() if isinstance(obj, type) else obj
    raise ValueError(f"Could not interpret metric identifier: {identifier}")


def _shape(x):
    return tuple(getattr(x, "shape", x))


def resolve_accuracy(y_true_shape, y_pred_shape, loss_name=None):
    """Which accuracy class ``"accuracy"``/``"acc"`` means for these shapes (Keras compile rule).

    Binary if ``y_pred``'s last axis is 1; sparse categorical if ``y_true`` has fewer axes than
    ``y_pred``, or a last axis of 1 against ``y_pred``'s k > 1; categorical otherwise. As in
    Keras 2, a binary crossentropy ``loss_name`` also selects binary (Keras 3 ignores the loss;
    pass ``None`` for its exact rule).

    Args:
        y_true_shape: shape (tuple or array) of the targets.
        y_pred_shape: shape (tuple or array) of the model output.
        loss_name: optional loss identifier (string, or object with a name).

    Returns:
        ``BinaryAccuracy``, ``SparseCategoricalAccuracy`` or ``CategoricalAccuracy`` (a class).
    """
    t, p = _shape(y_true_shape), _shape(y_pred_shape)
    t_last = t[-1] if t else None
    p_last = p[-1] if p else None
    loss = loss_name if isinstance(loss_name, str) else (
        getattr(loss_name, "name", None) or getattr(loss_name, "__name__", None)
        or (type(loss_name).__name__ if loss_name is not None else None))
    is_binary_loss = loss is not None and to_snake_case(loss).replace("_", "") in {
        n.replace("_", "") for n in _BINARY_LOSSES}
    if p_last == 1 or is_binary_loss:
        return BinaryAccuracy
    if len(t) < len(p) or (t_last == 1 and p_last is not None and p_last > 1):
        return SparseCategoricalAccuracy
    return CategoricalAccuracy


def get_metric(identifier, y_true_shape, y_pred_shape, loss_name=None):
    """The metric object ``compile(metrics=[identifier])`` uses, named as Keras names it.

    ``"accuracy"``/``"acc"`` become the class from ``resolve_accuracy`` named after the string;
    other strings go through ``get`` and keep the string as name (``"mse"`` reports as ``mse``);
    plain functions are wrapped in ``MeanMetricWrapper``.

    Args:
        identifier: metric identifier.
        y_true_shape: shape of the targets.
        y_pred_shape: shape of the model output.
        loss_name: optional loss identifier (see ``resolve_accuracy``).

    Returns:
        A ``Metric`` instance.
    """
    if identifier is None:
        raise ValueError("Expected metric, received `None`")
    if isinstance(identifier, str) and identifier.lower() in ("accuracy", "acc"):
        metric = resolve_accuracy(y_true_shape, y_pred_shape, loss_name)(name=identifier)
    else:
        metric = get(identifier)
    if isinstance(identifier, str):
        name = identifier
    elif hasattr(metric, "name"):
        name = metric.name
    else:
        name = to_snake_case(getattr(metric, "__name__", type(metric).__name__))
    if not isinstance(metric, Metric):
        metric = MeanMetricWrapper(metric, name=name)
    metric.name = name
    return metric


__all__ = sorted(
    [cls.__name__ for cls in ALL_OBJECTS] + list(FUNCTIONS) + [
        "get", "serialize", "deserialize", "resolve_accuracy", "get_metric",
    ]
)
