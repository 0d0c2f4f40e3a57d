"""Accuracy metrics and functions (Keras 3 ``accuracy_metrics``).

Each function returns per-sample matches (float32 0/1) with Keras' output shape; each class is a
``MeanMetricWrapper`` around its function.
"""

import numpy as np

from numdense.kernels.cpu import metrics as _k

from ._shapes import as_float, broadcast_pair, rows, squeeze_or_expand_to_same_rank
from .reduction_metrics import MeanMetricWrapper

_F32 = np.float32


def _out(shape):
    return np.empty(rows(shape), dtype=_F32)


def _scores(y_pred):
    """``y_pred`` as float32 ``(n, m, c)`` plus the value shape ``y_pred.shape[:-1]``."""
    p = as_float(y_pred, _F32)
    if p.ndim == 0:
        raise ValueError("`y_pred` must have at least one axis (the classes).")
    shape = p.shape[:-1]
    return p.reshape(rows(shape) + (p.shape[-1],)), shape


def accuracy(y_true, y_pred):
    """How often ``y_pred`` equals ``y_true``, per element.

    Args:
        y_true: ground truth values.
        y_pred: predicted values.
    """
    p = as_float(y_pred, _F32)
    t = as_float(y_true, _F32)
    t, p = broadcast_pair(*squeeze_or_expand_to_same_rank(t, p))
    out = _out(p.shape)
    _k.equal_matches(t.reshape(out.shape), p.reshape(out.shape), out)
    return out.reshape(p.shape)


def binary_accuracy(y_true, y_pred, threshold=0.5):
    """How often ``y_pred > threshold`` matches the 0/1 ``y_true``, per element.

    Args:
        y_true: ground truth 0/1 values.
        y_pred: predicted probabilities (or logits with ``threshold=0``).
        threshold: decision threshold (compared in float32).
    """
    p = as_float(y_pred, _F32)
    t = as_float(y_true, _F32)
    t, p = broadcast_pair(*squeeze_or_expand_to_same_rank(t, p))
    out = _out(p.shape)
    _k.binary_matches(t.reshape(out.shape), p.reshape(out.shape), float(_F32(threshold)), out)
    return out.reshape(p.shape)


def categorical_accuracy(y_true, y_pred):
    """How often ``argmax(y_pred)`` equals ``argmax(y_true)`` (one-hot labels), per sample.

    Args:
        y_true: one-hot (or probability) labels, same shape as ``y_pred``.
        y_pred: class scores (probabilities or logits).
    """
    p3, shape = _scores(y_pred)
    t = as_float(y_true, _F32)
    if t.shape != p3.shape and t.shape != shape + (p3.shape[-1],):
        raise ValueError(
            f"`y_true` and `y_pred` must have the same shape for categorical accuracy. "
            f"Received: {t.shape} and {shape + (p3.shape[-1],)}"
        )
    out = _out(shape)
    _k.categorical_matches(t.reshape(p3.shape), p3, out)
    return out.reshape(shape)


def sparse_categorical_accuracy(y_true, y_pred):
    """How often ``argmax(y_pred)`` equals the integer label ``y_true``, per sample.

    Args:
        y_true: integer labels of shape ``y_pred.shape[:-1]`` (or with a trailing 1).
        y_pred: class scores.
    """
    p3, shape = _scores(y_pred)
    t = as_float(y_true, _F32)
    if t.ndim == len(shape) + 1 and t.shape[-1] == 1:
        t = t[..., 0]
    t = np.ascontiguousarray(np.broadcast_to(t, shape)) if t.shape != shape else t
    out = _out(shape)
    _k.sparse_categorical_matches(t.reshape(out.shape), p3, out)
    return out.reshape(shape)


def _top_k(labels, p3, shape, k):
    out = _out(shape)
    _k.in_top_k_matches(labels.reshape(out.shape), p3, int(k), out)
    return out.reshape(shape)


def top_k_categorical_accuracy(y_true, y_pred, k=5):
    """How often the one-hot target is in the top ``k`` predictions, per sample.

    Args:
        y_true: one-hot labels, same shape as ``y_pred``.
        y_pred: class scores.
        k: number of top elements to look at.
    """
    p3, shape = _scores(y_pred)
    t = as_float(y_true, _F32)
    if t.shape != shape + (p3.shape[-1],):
        raise ValueError(
            f"`y_true` and `y_pred` must have the same shape for top-k categorical accuracy. "
            f"Received: {t.shape} and {shape + (p3.shape[-1],)}"
        )
    labels = np.empty(rows(shape), dtype=np.int64)
    _k.argmax_last(t.reshape(p3.shape), labels)
    return _top_k(labels, p3, shape, k)


def sparse_top_k_categorical_accuracy(y_true, y_pred, k=5, from_sorted_ids=False):
    """How often the integer target is in the top ``k`` predictions, per sample.

    Args:
        y_true: integer labels (any shape with as many elements as ``y_pred`` has rows).
        y_pred: class scores, or with ``from_sorted_ids`` the category ids sorted by score.
        k: number of top elements to look at.
        from_sorted_ids: whether ``y_pred`` holds sorted ids instead of scores.
    """
    p = as_float(y_pred, _F32)
    if p.ndim == 0:
        raise ValueError("`y_pred` must have at least one axis (the classes).")
    t = np.asarray(y_true)
    shape = t.shape
    p2 = p.reshape(-1, p.shape[-1])
    if t.size != p2.shape[0]:
        raise ValueError(
            f"`y_true` must have one label per row of `y_pred`. Received: {t.shape} and {p.shape}"
        )
    if from_sorted_ids:
        out = np.empty(p2.shape[0], dtype=_F32)
        _k.sorted_ids_matches(as_float(t, _F32).reshape(-1), p2, int(k), out)
        return out.reshape(shape)
    labels = np.ascontiguousarray(t.astype(np.int32).astype(np.int64)).reshape(-1, 1)
    return _top_k(labels, p2.reshape(-1, 1, p.shape[-1]), shape, k)


class Accuracy(MeanMetricWrapper):
    """Calculates how often predictions equal labels.

    Args:
        name: name of the metric instance.
        dtype: dtype of the result.
    """

    def __init__(self, name="accuracy", dtype=None):
        super().__init__(fn=accuracy, name=name, dtype=dtype)
        self._direction = "up"

    def get_config(self):
        return {"name": self.name, "dtype": self.dtype}


class BinaryAccuracy(MeanMetricWrapper):
    """Calculates how often predictions match binary labels.

    Args:
        name: name of the metric instance.
        dtype: dtype of the result.
        threshold: a prediction above it counts as 1.
    """

    def __init__(self, name="binary_accuracy", dtype=None, threshold=0.5):
        if threshold is None or not isinstance(threshold, (int, float, np.number)):
            raise ValueError(f"`threshold` must be a number. Received: threshold={threshold!r}")
        super().__init__(fn=binary_accuracy, name=name, dtype=dtype, threshold=threshold)
        self.threshold = threshold
        self._direction = "up"

    def get_config(self):
        return {"name": self.name, "dtype": self.dtype, "threshold": self.threshold}


class CategoricalAccuracy(MeanMetricWrapper):
    """Calculates how often predictions match one-hot labels.

    Args:
        name: name of the metric instance.
        dtype: dtype of the result.
    """

    def __init__(self, name="categorical_accuracy", dtype=None):
        super().__init__(fn=categorical_accuracy, name=name, dtype=dtype)
        self._direction = "up"

    def get_config(self):
        return {"name": self.name, "dtype": self.dtype}


class SparseCategoricalAccuracy(MeanMetricWrapper):
    """Calculates how often predictions match integer labels.

    Args:
        name: name of the metric instance.
        dtype: dtype of the result.
    """

    def __init__(self, name="sparse_categorical_accuracy", dtype=None):
        super().__init__(fn=sparse_categorical_accuracy, name=name, dtype=dtype)
        self._direction = "up"

    def get_config(self):
        return {"name": self.name, "dtype": self.dtype}


def _check_k(k):
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise ValueError(f"`k` must be a positive integer. Received: k={k!r}")
    return int(k)


class TopKCategoricalAccuracy(MeanMetricWrapper):
    """Computes how often one-hot targets are in the top ``k`` predictions.

    Args:
        k: number of top elements to look at.
        name: name of the metric instance.
        dtype: dtype of the result.
    """

    def __init__(self, k=5, name="top_k_categorical_accuracy", dtype=None):
        k = _check_k(k)
        super().__init__(fn=top_k_categorical_accuracy, name=name, dtype=dtype, k=k)
        self.k = k
        self._direction = "up"

    def get_config(self):
        return {"name": self.name, "dtype": self.dtype, "k": self.k}


class SparseTopKCategoricalAccuracy(MeanMetricWrapper):
    """Computes how often integer targets are in the top ``k`` predictions.

    Args:
        k: number of top elements to look at.
        name: name of the metric instance.
        dtype: dtype of the result.
        from_sorted_ids: ``y_pred`` holds category ids sorted by score instead of scores.
    """

    def __init__(self, k=5, name="sparse_top_k_categorical_accuracy", dtype=None,
                 from_sorted_ids=False):
        k = _check_k(k)
        super().__init__(fn=sparse_top_k_categorical_accuracy, name=name, dtype=dtype, k=k,
                         from_sorted_ids=from_sorted_ids)
        self.k = k
        self.from_sorted_ids = from_sorted_ids
        self._direction = "up"

    def get_config(self):
        config = {"name": self.name, "dtype": self.dtype, "k": self.k}
        if self.from_sorted_ids:
            config["from_sorted_ids"] = True
        return config
