"""``Sum``, ``Mean`` and ``MeanMetricWrapper`` (Keras 3 ``reduction_metrics``)."""

import numpy as np

from numdense.kernels.cpu import metrics as _k

from ._shapes import rows, sample_weight_rows
from .metric import Metric


def _values(values, dtype):
    v = np.ascontiguousarray(np.asarray(values, dtype=dtype))
    return v, v.reshape(rows(v.shape))


class Sum(Metric):
    """Computes the (weighted) sum of the given values.

    Args:
        name: name of the metric instance.
        dtype: dtype of the result.
    """

    def __init__(self, name="sum", dtype=None):
        super().__init__(name=name, dtype=dtype)
        self.total = self.add_variable(shape=(), name="total")

    def update_state(self, values, sample_weight=None):
        """Adds ``sum(values * sample_weight)``.

        Args:
            values: array of values.
            sample_weight: optional weights broadcastable to ``values``.
        """
        v, v2 = _values(values, self.dtype)
        w = sample_weight_rows(v.shape, sample_weight, self.dtype, scalar_is_one_sample=False)
        _k.accumulate_sum(v2, w, self.total)

    def result(self):
        return float(self.total)


class Mean(Metric):
    """Computes the (weighted) mean of the given values.

    Values of rank > 1 are first averaged per sample; without weights each sample counts 1, with
    weights the count is the sum of the (per-sample averaged) weights. A scalar weight makes the
    whole batch one sample, as in Keras.

    Args:
        name: name of the metric instance.
        dtype: dtype of the result.
    """

    def __init__(self, name="mean", dtype=None):
        super().__init__(name=name, dtype=dtype)
        self.total = self.add_variable(shape=(), name="total")
        self.count = self.add_variable(shape=(), name="count")

    def update_state(self, values, sample_weight=None):
        """Accumulates the weighted sum of ``values`` and the sum of weights.

        Args:
            values: array of values.
            sample_weight: optional weights broadcastable to ``values``.
        """
        v, v2 = _values(values, self.dtype)
        w = sample_weight_rows(v.shape, sample_weight, self.dtype)
        _k.accumulate_mean(v2, w, self.total, self.count)

    def result(self):
        return float(self.total / self.count) if self.count != 0 else 0.0


class MeanMetricWrapper(Mean):
    """Wraps a stateless metric function ``fn(y_true, y_pred, **kwargs)`` with ``Mean``.

    Args:
        fn: function returning per-sample values.
        name: name of the metric instance.
        dtype: dtype of the result.
        **kwargs: keyword arguments passed to ``fn``.
    """

    def __init__(self, fn, name=None, dtype=None, **kwargs):
        if not callable(fn):
            raise TypeError(f"`fn` must be callable. Received: fn={fn!r}")
        super().__init__(name=name or getattr(fn, "__name__", None) or "mean", dtype=dtype)
        self._fn = fn
        self._fn_kwargs = kwargs

    def update_state(self, y_true, y_pred, sample_weight=None):
        """Averages ``fn(y_true, y_pred)`` into the state.

        Args:
            y_true: ground truth values.
            y_pred: predicted values.
            sample_weight: optional per-sample (or per-value) weights.
        """
        values = self._fn(y_true, y_pred, **self._fn_kwargs)
        super().update_state(values, sample_weight=sample_weight)

    def get_config(self):
        from . import serialize_function

        return {**super().get_config(), "fn": serialize_function(self._fn), **self._fn_kwargs}

    @classmethod
    def from_config(cls, config):
        from . import deserialize_function

        config = dict(config)
        if "fn" in config:
            config["fn"] = deserialize_function(config["fn"])
        return cls(**config)
