"""Thresholded confusion metrics: ``Precision``, ``Recall``, ``AUC`` and the raw counts.

Counts follow Keras' ``update_confusion_matrix_variables``: a prediction is positive at a
threshold when ``y_pred > threshold``; evenly spaced threshold lists take Keras' bucketed path
(predictions clipped to [0, 1]).
"""

import numpy as np

from numdense.config import epsilon
from numdense.kernels.cpu import metrics as _k

from ._shapes import as_float, confusion_weight_rows, squeeze_or_expand_to_same_rank
from .metric import Metric

NEG_INF = -1e10
_F32 = np.float32
_CURVES = {"ROC": 0, "PR": 1, "PRGAIN": 2}
_METHODS = {"interpolation": 0, "minoring": 1, "majoring": 2}


def _to_list(x):
    if isinstance(x, (list, tuple)):
        return list(x)
    if isinstance(x, np.ndarray):
        return x.tolist() if x.ndim else [x.item()]
    return [x]


def parse_init_thresholds(thresholds, default_threshold=0.5):
    """The threshold list, checking user values lie in [0, 1]."""
    if thresholds is not None:
        invalid = [t for t in _to_list(thresholds) if t is None or t < 0 or t > 1]
        if invalid:
            raise ValueError(f"Threshold values must be in [0, 1]. Received: {invalid}")
    return _to_list(default_threshold if thresholds is None else thresholds)


def is_evenly_distributed_thresholds(thresholds):
    """Whether ``thresholds`` (3 or more) are ``i / (T - 1)`` within ``epsilon()``."""
    n = len(thresholds)
    if n < 3:
        return False
    even = np.arange(n, dtype=np.float32) / (n - 1)
    return bool(np.allclose(thresholds, even, atol=epsilon()))


def update_confusion(counts, y_true, y_pred, thresholds, evenly, sample_weight=None, top_k=None,
                     class_id=None, multi_label=False, label_weights=None):
    """Adds this batch's TP/FP/TN/FN to ``counts`` (four float arrays of shape ``(T, L)``).

    Args:
        counts: ``(tp, fp, tn, fn)`` state arrays, updated in place.
        y_true: labels; nonzero is positive.
        y_pred: predictions.
        thresholds: list of thresholds.
        evenly: whether to use the bucketed path (thresholds evenly spaced).
        sample_weight: optional weights broadcastable to ``y_true``.
        top_k: keep only the top ``k`` predictions of each row as candidates.
        class_id: restrict to one class (last axis index).
        multi_label: count each label column separately.
        label_weights: optional per-label weights (pooled case).
    """
    p = as_float(y_pred, _F32)
    t = as_float(y_true, _F32)
    p, t = squeeze_or_expand_to_same_rank(p, t)
    weight_true_shape = t.shape
    if top_k is not None:
        if p.ndim == 0:
            raise ValueError("`top_k` needs predictions with a class axis.")
        filtered = np.empty(p.shape, dtype=_F32)
        _k.filter_top_k(p.reshape(-1, p.shape[-1]), int(top_k), _F32(NEG_INF),
                        filtered.reshape(-1, p.shape[-1]))
        p = filtered
    if class_id is not None:
        if p.ndim <= 1:
            raise ValueError(
                "When class_id is provided, y_pred must be a 2D array with shape "
                f"(num_samples, num_classes), found shape: {p.shape}"
            )
        t = t[..., class_id, None]
        p = p[..., class_id, None]
    if t.shape != p.shape:
        try:
            t = np.broadcast_to(t, p.shape)
        except ValueError:
            raise ValueError(
                f"`y_true` and `y_pred` must have compatible shapes. Received: {t.shape} and "
                f"{p.shape}"
            ) from None
    cols = p.shape[-1] if p.ndim else 1
    p2 = np.ascontiguousarray(p).reshape(-1, cols)
    t2 = np.ascontiguousarray(t).reshape(-1, cols)
    w2 = confusion_weight_rows(weight_true_shape, p.shape, sample_weight, _F32)
    if label_weights is None:
        lw = np.ones(cols, dtype=_F32)
    else:
        lw = np.ascontiguousarray(np.broadcast_to(np.asarray(label_weights, _F32), (cols,)))
    tp = counts[0]
    batch = [np.zeros(tp.shape) for _ in range(4)]
    if evenly:
        with_eps = thresholds[0] < 0.0 or thresholds[-1] > 1.0
        _k.confusion_even(t2, p2, w2, lw, len(thresholds), with_eps, multi_label, *batch)
    else:
        th = np.asarray(thresholds, dtype=_F32).astype(np.float64)
        _k.confusion_thresholds(t2, p2, w2, lw, th, np.argsort(th, kind="stable"),
                                multi_label, *batch)
    for state, add in zip(counts, batch):
        state += add.astype(state.dtype)


def _ratio(num, other):
    out = np.empty(num.shape[0], dtype=num.dtype)
    _k.divide_no_nan(num, num + other, out)
    return float(out[0]) if out.shape[0] == 1 else out


class _ConfusionMatrixConditionCount(Metric):
    """Counts one cell of the confusion matrix per threshold (default 0.5)."""

    _cell = 0

    def __init__(self, thresholds=None, name=None, dtype=None):
        super().__init__(name=name, dtype=dtype)
        self.init_thresholds = thresholds
        self.thresholds = parse_init_thresholds(thresholds, default_threshold=0.5)
        self._evenly = is_evenly_distributed_thresholds(self.thresholds)
        self.accumulator = self.add_variable(shape=(len(self.thresholds),), name="accumulator")

    def update_state(self, y_true, y_pred, sample_weight=None):
        """Accumulates the count.

        Args:
            y_true: labels; nonzero is positive.
            y_pred: predictions.
            sample_weight: optional weights.
        """
        counts = [np.zeros((len(self.thresholds), 1), self.dtype) for _ in range(4)]
        update_confusion(counts, y_true, y_pred, self.thresholds, self._evenly, sample_weight)
        self.accumulator += counts[self._cell][:, 0]

    def result(self):
        return float(self.accumulator[0]) if len(self.thresholds) == 1 else self.accumulator.copy()

    def get_config(self):
        return {**super().get_config(), "thresholds": self.init_thresholds}


class TruePositives(_ConfusionMatrixConditionCount):
    """Calculates the number of true positives.

    Args:
        thresholds: float or list of floats in [0, 1] (default 0.5).
        name: name of the metric instance.
        dtype: dtype of the result.
    """

    _cell = 0


class FalsePositives(_ConfusionMatrixConditionCount):
    """Calculates the number of false positives.

    Args:
        thresholds: float or list of floats in [0, 1] (default 0.5).
        name: name of the metric instance.
        dtype: dtype of the result.
    """

    _cell = 1


class TrueNegatives(_ConfusionMatrixConditionCount):
    """Calculates the number of true negatives.

    Args:
        thresholds: float or list of floats in [0, 1] (default 0.5).
        name: name of the metric instance.
        dtype: dtype of the result.
    """

    _cell = 2


class FalseNegatives(_ConfusionMatrixConditionCount):
    """Calculates the number of false negatives.

    Args:
        thresholds: float or list of floats in [0, 1] (default 0.5).
        name: name of the metric instance.
        dtype: dtype of the result.
    """

    _cell = 3


class _PrecisionRecall(Metric):
    """Shared state for ``Precision`` and ``Recall``: TP, FP and FN per threshold."""

    def __init__(self, thresholds=None, top_k=None, class_id=None, name=None, dtype=None):
        super().__init__(name=name, dtype=dtype)
        if top_k is not None and (isinstance(top_k, bool) or not isinstance(top_k, int)
                                  or top_k < 1):
            raise ValueError(f"`top_k` must be a positive integer. Received: top_k={top_k!r}")
        if class_id is not None and (isinstance(class_id, bool) or not isinstance(class_id, int)
                                     or class_id < 0):
            raise ValueError(
                f"`class_id` must be a non-negative integer. Received: class_id={class_id!r}"
            )
        self._direction = "up"
        self.init_thresholds = thresholds
        self.top_k = top_k
        self.class_id = class_id
        default = 0.5 if top_k is None else NEG_INF
        self.thresholds = parse_init_thresholds(thresholds, default_threshold=default)
        self._evenly = is_evenly_distributed_thresholds(self.thresholds)
        n = len(self.thresholds)
        self.true_positives = self.add_variable(shape=(n,), name="true_positives")
        self._second = self.add_variable(shape=(n,), name=self._second_name)

    def update_state(self, y_true, y_pred, sample_weight=None):
        """Accumulates the confusion statistics.

        Args:
            y_true: labels; nonzero is positive.
            y_pred: predictions, in [0, 1] unless ``thresholds`` say otherwise.
            sample_weight: optional weights broadcastable to ``y_true``.
        """
        counts = [np.zeros((len(self.thresholds), 1), self.dtype) for _ in range(4)]
        update_confusion(counts, y_true, y_pred, self.thresholds, self._evenly, sample_weight,
                         top_k=self.top_k, class_id=self.class_id)
        self.true_positives += counts[0][:, 0]
        self._second += counts[self._second_cell][:, 0]

    def result(self):
        return _ratio(self.true_positives, self._second)

    def get_config(self):
        return {**super().get_config(), "thresholds": self.init_thresholds, "top_k": self.top_k,
                "class_id": self.class_id}


class Precision(_PrecisionRecall):
    """Computes ``TP / (TP + FP)`` per threshold (a float for one threshold, else an array).

    Args:
        thresholds: float or list of floats in [0, 1]; default 0.5 (no threshold with ``top_k``).
        top_k: only the top ``k`` predictions of each row count as positive.
        class_id: compute for this class only.
        name: name of the metric instance.
        dtype: dtype of the result.
    """

    _second_name = "false_positives"
    _second_cell = 1

    @property
    def false_positives(self):
        return self._second


class Recall(_PrecisionRecall):
    """Computes ``TP / (TP + FN)`` per threshold (a float for one threshold, else an array).

    Args:
        thresholds: float or list of floats in [0, 1]; default 0.5 (no threshold with ``top_k``).
        top_k: only the top ``k`` predictions of each row count as positive.
        class_id: compute for this class only.
        name: name of the metric instance.
        dtype: dtype of the result.
    """

    _second_name = "false_negatives"
    _second_cell = 3

    @property
    def false_negatives(self):
        return self._second


def _curve_name(curve):
    key = str(getattr(curve, "value", curve))
    for name in _CURVES:
        if key in (name, name.lower()):
            return name
    raise ValueError(
        f'Invalid AUC curve value: "{curve}". Expected values are ["PR", "ROC", "PRGAIN"]'
    )


def _method_name(method):
    key = str(getattr(method, "value", method))
    for name in _METHODS:
        if key in (name, name.capitalize()):
            return name
    raise ValueError(
        f'Invalid AUC summation method value: "{method}". '
        'Expected values are ["interpolation", "majoring", "minoring"]'
    )


class AUC(Metric):
    """Approximates the area under the ROC or PR curve from thresholded confusion counts.

    Args:
        num_thresholds: number of thresholds (> 1) when ``thresholds`` is not given.
        curve: ``"ROC"``, ``"PR"`` or ``"PRGAIN"``.
        summation_method: ``"interpolation"``, ``"minoring"`` or ``"majoring"``.
        name: name of the metric instance.
        dtype: dtype of the result.
        thresholds: explicit thresholds in [0, 1]; ``-eps`` and ``1 + eps`` are added.
        multi_label: compute one AUC per label column and average them.
        num_labels: number of labels (only with ``multi_label``).
        label_weights: non-negative per-label weights.
        from_logits: apply a sigmoid to predictions first.
    """

    def __init__(self, num_thresholds=200, curve="ROC", summation_method="interpolation",
                 name=None, dtype=None, thresholds=None, multi_label=False, num_labels=None,
                 label_weights=None, from_logits=False):
        self._direction = "up"
        self.curve = _curve_name(curve)
        self.summation_method = _method_name(summation_method)
        self._init_from_thresholds = thresholds is not None
        if thresholds is not None:
            self.num_thresholds = len(thresholds) + 2
            thresholds = sorted(float(t) for t in thresholds)
            self._evenly = is_evenly_distributed_thresholds(np.array([0.0] + thresholds + [1.0]))
        else:
            if isinstance(num_thresholds, bool) or not isinstance(num_thresholds, int) \
                    or num_thresholds <= 1:
                raise ValueError(
                    "Argument `num_thresholds` must be an integer > 1. "
                    f"Received: num_thresholds={num_thresholds}"
                )
            self.num_thresholds = num_thresholds
            thresholds = [(i + 1) * 1.0 / (num_thresholds - 1) for i in range(num_thresholds - 2)]
            self._evenly = True
        self._thresholds = np.array([0.0 - epsilon()] + thresholds + [1.0 + epsilon()])
        super().__init__(name=name, dtype=dtype)
        self.multi_label = bool(multi_label)
        self.num_labels = num_labels
        self.label_weights = (None if label_weights is None
                              else np.asarray(label_weights, dtype=self.dtype))
        self._from_logits = bool(from_logits)
        self._built = False
        if self.multi_label:
            if num_labels:
                self._build((None, num_labels))
        else:
            if num_labels:
                raise ValueError("`num_labels` is needed only when `multi_label` is True.")
            self._build(None)

    @property
    def thresholds(self):
        """The thresholds used for evaluating AUC."""
        return list(self._thresholds)

    def _build(self, shape):
        if self.multi_label:
            if len(shape) != 2:
                raise ValueError(
                    "`y_pred` must have rank 2 when `multi_label=True`. "
                    f"Found rank {len(shape)}. Full shape received for `y_pred`: {shape}"
                )
            self._num_labels = shape[1]
            var_shape = (self.num_thresholds, self._num_labels)
        else:
            var_shape = (self.num_thresholds,)
        self._variables = []
        self.true_positives = self.add_variable(var_shape, name="true_positives")
        self.false_positives = self.add_variable(var_shape, name="false_positives")
        self.true_negatives = self.add_variable(var_shape, name="true_negatives")
        self.false_negatives = self.add_variable(var_shape, name="false_negatives")
        self._built = True

    def _counts(self):
        """The four count arrays as ``(T, L)`` views (``L`` is 1 unless multi-label)."""
        return tuple(v.reshape(self.num_thresholds, -1) for v in (
            self.true_positives, self.false_positives, self.true_negatives,
            self.false_negatives))

    def update_state(self, y_true, y_pred, sample_weight=None):
        """Accumulates confusion statistics at every threshold.

        Args:
            y_true: labels; nonzero is positive.
            y_pred: predictions (probabilities, or logits with ``from_logits``).
            sample_weight: optional weights broadcastable to ``y_true``.
        """
        y_pred = np.asarray(y_pred, dtype=_F32)
        if not self._built:
            self._build(y_pred.shape)
        if self._from_logits:
            logits = np.ascontiguousarray(y_pred).reshape(-1)
            y_pred = np.empty(y_pred.shape, dtype=_F32)
            _k.sigmoid(logits, y_pred.reshape(-1))
        counts = self._counts()
        update_confusion(counts, y_true, y_pred, self._thresholds, self._evenly, sample_weight,
                         multi_label=self.multi_label,
                         label_weights=None if self.multi_label else self.label_weights)

    def result(self):
        if not self._built:
            return 0.0
        weighted = self.multi_label and self.label_weights is not None
        lw = self.label_weights if weighted else np.ones(1, dtype=self.dtype)
        value = _k.auc_result(*self._counts(), _CURVES[self.curve],
                              _METHODS[self.summation_method], lw, weighted)
        return float(np.float32(value))

    def get_config(self):
        lw = self.label_weights
        config = {
            "num_thresholds": self.num_thresholds,
            "curve": self.curve,
            "summation_method": self.summation_method,
            "multi_label": self.multi_label,
            "num_labels": self.num_labels,
            "label_weights": None if lw is None else lw.tolist(),
            "from_logits": self._from_logits,
        }
        if self._init_from_thresholds:
            config["thresholds"] = [float(t) for t in self.thresholds[1:-1]]
        return {**super().get_config(), **config}
