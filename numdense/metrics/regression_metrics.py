"""Regression metrics: ``MeanSquaredError``, ``MeanAbsoluteError``, ``RootMeanSquaredError``."""

import numpy as np

from numdense.kernels.cpu import metrics as _k

from ._shapes import as_float, broadcast_pair, rows, squeeze_or_expand_to_same_rank
from .reduction_metrics import Mean, MeanMetricWrapper


def _error_means(y_true, y_pred, squared, last_axis):
    p = as_float(y_pred, np.float32)
    t = as_float(y_true, np.float32)
    t, p = broadcast_pair(*squeeze_or_expand_to_same_rank(t, p))
    if last_axis and p.ndim == 0:
        raise ValueError("`y_true` and `y_pred` must have at least one axis.")
    shape = p.shape[:-1] if last_axis else p.shape
    k = p.shape[-1] if last_axis else 1
    out = np.empty(rows(shape), dtype=np.float32)
    _k.error_means(t.reshape(out.shape + (k,)), p.reshape(out.shape + (k,)), squared, out)
    return out.reshape(shape)


def mean_squared_error(y_true, y_pred):
    """``mean(square(y_true - y_pred), axis=-1)``.

    Args:
        y_true: ground truth values.
        y_pred: predicted values.
    """
    return _error_means(y_true, y_pred, True, True)


def mean_absolute_error(y_true, y_pred):
    """``mean(abs(y_true - y_pred), axis=-1)``.

    Args:
        y_true: ground truth values.
        y_pred: predicted values.
    """
    return _error_means(y_true, y_pred, False, True)


class MeanSquaredError(MeanMetricWrapper):
    """Computes the mean squared error between ``y_true`` and ``y_pred``.

    Args:
        name: name of the metric instance.
        dtype: dtype of the result.
    """

    def __init__(self, name="mean_squared_error", dtype=None):
        super().__init__(fn=mean_squared_error, name=name, dtype=dtype)
        self._direction = "down"

    def get_config(self):
        return {"name": self.name, "dtype": self.dtype}


class MeanAbsoluteError(MeanMetricWrapper):
    """Computes the mean absolute error between ``y_true`` and ``y_pred``.

    Args:
        name: name of the metric instance.
        dtype: dtype of the result.
    """

    def __init__(self, name="mean_absolute_error", dtype=None):
        super().__init__(fn=mean_absolute_error, name=name, dtype=dtype)
        self._direction = "down"

    def get_config(self):
        return {"name": self.name, "dtype": self.dtype}


class RootMeanSquaredError(Mean):
    """Computes ``sqrt(mean((y_pred - y_true) ** 2))`` over all batches seen.

    Args:
        name: name of the metric instance.
        dtype: dtype of the result.
    """

    def __init__(self, name="root_mean_squared_error", dtype=None):
        super().__init__(name=name, dtype=dtype)
        self._direction = "down"

    def update_state(self, y_true, y_pred, sample_weight=None):
        """Accumulates squared errors (elementwise, averaged per sample).

        Args:
            y_true: ground truth values.
            y_pred: predicted values.
            sample_weight: optional weights broadcastable to the values.
        """
        error_sq = _error_means(y_true, y_pred, True, False)
        super().update_state(error_sq, sample_weight=sample_weight)

    def result(self):
        return float(np.sqrt(np.float32(super().result())))
