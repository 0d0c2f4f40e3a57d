"""Keras 3 losses: per-sample functions, ``Loss`` classes with reductions and sample weights, and
``get`` / ``serialize`` / ``deserialize``. Values and gradients come from the Numba kernels in
``numdense.kernels.cpu.losses``."""

import re
import warnings

import numpy as np

from . import config
from .kernels import loss_kinds as K
from .kernels.cpu import losses as _kernels
from .utils.serialization import deserialize_object, get_object, lookup, serialize_object

MODULE = "keras.losses"
_REDUCTIONS = ("sum_over_batch_size", "sum", None, "none", "mean", "mean_with_sample_weight")


# ---------------------------------------------------------------------------------------------
# Shape and reduction helpers (ports of keras/src/losses/loss.py)


def standardize_reduction(reduction):
    """Returns ``reduction`` if it is one Keras accepts, else raises ValueError listing them."""
    if reduction not in _REDUCTIONS:
        raise ValueError(
            "Invalid value for argument `reduction`. "
            f"Expected one of {set(_REDUCTIONS)}. Received: reduction={reduction}"
        )
    return reduction


def squeeze_or_expand_to_same_rank(x1, x2, expand_rank_1=True):
    """Squeezes or expands the last axis of one array when the ranks differ by exactly one."""
    x1, x2 = np.asarray(x1), np.asarray(x2)
    r1, r2 = x1.ndim, x2.ndim
    if r1 == r2 + 1 and x1.shape[-1] == 1:
        if r2 == 1 and expand_rank_1:
            x2 = x2[..., None]
        else:
            x1 = x1[..., 0]
    elif r2 == r1 + 1 and x2.shape[-1] == 1:
        if r1 == 1 and expand_rank_1:
            x1 = x1[..., None]
        else:
            x2 = x2[..., 0]
    return x1, x2


def _merged_weights(values_shape, sample_weight, mask, reduction, dtype):
    """(values shape, weights or None) as Keras has them just before reducing: the mask folded
    into the sample weights, ranks matched."""
    if mask is not None:
        mask = np.asarray(mask, dtype=bool)
        if reduction in ("mean", "sum_over_batch_size"):
            valid = mask.sum()
            float_mask = np.where(mask, mask.size / valid if valid else 0.0, 0.0).astype(dtype)
        else:
            float_mask = mask.astype(dtype)
        if sample_weight is not None:
            float_mask, sw = squeeze_or_expand_to_same_rank(float_mask, np.asarray(sample_weight, dtype))
            sample_weight = sw * float_mask
        else:
            sample_weight = float_mask
    if sample_weight is None:
        return tuple(values_shape), None
    sample_weight = np.asarray(sample_weight, dtype=dtype)
    v, sample_weight = squeeze_or_expand_to_same_rank(np.empty(values_shape, bool), sample_weight)
    return v.shape, sample_weight


def reduce_values(values, sample_weight=None, reduction="sum_over_batch_size"):
    """Sums (and maybe divides) already weighted values, as Keras' ``reduce_values``."""
    values = np.asarray(values)
    if reduction is None or reduction == "none" or values.shape in ((), (0,)):
        return values
    loss = values.sum(dtype=np.float64)
    if reduction in ("sum_over_batch_size", "mean", "mean_with_sample_weight"):
        if reduction == "mean_with_sample_weight" and sample_weight is not None:
            divisor = float(np.sum(sample_weight, dtype=np.float64))
        else:
            divisor = float(values.size)
        loss = loss / divisor if divisor != 0 else 0.0  # divide_no_nan
    return values.dtype.type(loss)


def reduce_weighted_values(values, sample_weight=None, mask=None, reduction="sum_over_batch_size", dtype=None):
    """Applies mask and sample weights to per-sample values, then reduces them (Keras 3)."""
    reduction = standardize_reduction(reduction)
    dtype = np.dtype(dtype or config.floatx())
    values = np.asarray(values, dtype=dtype)
    shape, sw = _merged_weights(values.shape, sample_weight, mask, reduction, dtype)
    values = values.reshape(shape)
    if sw is not None:
        values = (values * sw).astype(dtype, copy=False)
    return reduce_values(values, sw, reduction)


def _unbroadcast(g, shape):
    """Sums ``g`` down to ``shape`` (the adjoint of broadcasting)."""
    while g.ndim > len(shape):
        g = g.sum(axis=0)
    for i, n in enumerate(shape):
        if n == 1 and g.shape[i] != 1:
            g = g.sum(axis=i, keepdims=True)
    return g


def reduction_weights(values_shape, sample_weight=None, mask=None, reduction="sum_over_batch_size", dtype=None):
    """d(reduced loss)/d(per-sample values), shape ``values_shape``.

    For every reduction the reduced loss is ``sum(weights * values)`` (for None/"none" the
    gradient is that of the sum of the returned values). These are the ``weights`` to give
    ``loss_grad_into``: sample weights, mask and the 1/N of ``sum_over_batch_size`` folded in.
    """
    reduction = standardize_reduction(reduction)
    dtype = np.dtype(dtype or config.floatx())
    values_shape = tuple(values_shape)
    shape, sw = _merged_weights(values_shape, sample_weight, mask, reduction, dtype)
    if sw is None:
        w = np.ones(shape, dtype=np.float64)
        out_shape = shape
    else:
        out_shape = np.broadcast_shapes(shape, sw.shape)
        w = np.broadcast_to(sw.astype(np.float64), out_shape)
    scalar = not (reduction is None or reduction == "none" or out_shape in ((), (0,)))
    if scalar and reduction in ("sum_over_batch_size", "mean", "mean_with_sample_weight"):
        if reduction == "mean_with_sample_weight" and sw is not None:
            divisor = float(np.sum(sw, dtype=np.float64))
        else:
            divisor = float(np.prod(out_shape))
        w = w / divisor if divisor != 0 else np.zeros_like(w)
    return _unbroadcast(np.asarray(w), shape).reshape(values_shape).astype(dtype)


# ---------------------------------------------------------------------------------------------
# Kernel plumbing


def _as_float(x, dtype=None):
    x = np.asarray(x)
    if dtype is None:
        dtype = x.dtype if x.dtype in (np.float32, np.float64) else np.dtype(config.floatx())
    return x.astype(dtype, copy=False)


class _Prepared:
    """Inputs laid out for the kernels, and the way back to ``y_pred``'s shape."""

    def __init__(self, plan, y_true, y_pred):
        kind, self.p0, axis, ignore_class = plan
        self.kind = kind
        y_pred = _as_float(y_pred)
        self.pred_shape = y_pred.shape
        self.valid = None
        if y_pred.ndim == 0:
            raise ValueError("y_pred must have at least one dimension.")
        if kind in K.SPARSE:
            if axis != -1 and axis != y_pred.ndim - 1:
                raise ValueError(f"Only axis=-1 is currently supported. Received: axis={axis}")
            y_true = np.asarray(y_true)
            if y_true.ndim == y_pred.ndim and y_true.shape[-1] == 1:
                y_true = y_true[..., 0]
            if ignore_class is not None:
                self.valid = y_true != ignore_class
                y_true = np.where(self.valid, y_true, 0)
                y_pred = np.where(self.valid[..., None], y_pred, 0).astype(y_pred.dtype)
            self.axis = y_pred.ndim - 1
        else:
            y_true = _as_float(y_true, y_pred.dtype)
            y_true, y_pred = squeeze_or_expand_to_same_rank(y_true, y_pred)
            if y_true.shape != y_pred.shape:
                y_true = np.broadcast_to(y_true, y_pred.shape)
            if isinstance(axis, bool) or not isinstance(axis, (int, np.integer)):
                raise ValueError(f"`axis` must be of type `int`. Received: axis={axis} of type {type(axis)}")
            self.axis = int(axis) % y_pred.ndim
            y_true = np.moveaxis(y_true, self.axis, -1)
            y_pred = np.moveaxis(y_pred, self.axis, -1)
        self.y_true, self.y_pred = y_true, y_pred

    def values(self):
        v = _kernels.loss_values(self.kind, self.y_true, self.y_pred, self.p0, config.epsilon())
        if self.valid is not None:
            v = np.where(self.valid, v, 0).astype(v.dtype)
        return v

    def grad(self, weights):
        dy = _kernels.loss_grad(self.kind, self.y_true, self.y_pred, weights, self.p0, config.epsilon())
        return np.moveaxis(dy, -1, self.axis).reshape(self.pred_shape)


def _evaluate(fn, y_true, y_pred, **kwargs):
    return _Prepared(_plan(fn, kwargs), y_true, y_pred).values()


# ---------------------------------------------------------------------------------------------
# Per-sample loss functions (Keras names and arguments)


def mean_squared_error(y_true, y_pred):
    """``mean(square(y_true - y_pred), axis=-1)``."""
    return _evaluate(mean_squared_error, y_true, y_pred)


def mean_absolute_error(y_true, y_pred):
    """``mean(abs(y_true - y_pred), axis=-1)``."""
    return _evaluate(mean_absolute_error, y_true, y_pred)


def mean_absolute_percentage_error(y_true, y_pred):
    """``100 * mean(abs((y_true - y_pred) / maximum(abs(y_true), epsilon)), axis=-1)``."""
    return _evaluate(mean_absolute_percentage_error, y_true, y_pred)


def mean_squared_logarithmic_error(y_true, y_pred):
    """``mean(square(log(maximum(y_pred, eps) + 1) - log(maximum(y_true, eps) + 1)), axis=-1)``."""
    return _evaluate(mean_squared_logarithmic_error, y_true, y_pred)


def huber(y_true, y_pred, delta=1.0):
    """Mean over the last axis of ``0.5 e**2`` for ``|e| <= delta``, else ``delta |e| - 0.5 delta**2``."""
    return _evaluate(huber, y_true, y_pred, delta=delta)


def log_cosh(y_true, y_pred):
    """``mean(log(cosh(y_pred - y_true)), axis=-1)``, computed without overflow."""
    return _evaluate(log_cosh, y_true, y_pred)


def poisson(y_true, y_pred):
    """``mean(y_pred - y_true * log(y_pred + epsilon), axis=-1)``."""
    return _evaluate(poisson, y_true, y_pred)


def kl_divergence(y_true, y_pred):
    """``sum(t * log(t / p), axis=-1)`` with both clipped to ``[epsilon, 1]``."""
    return _evaluate(kl_divergence, y_true, y_pred)


def cosine_similarity(y_true, y_pred, axis=-1):
    """``-sum(l2_normalize(y_true) * l2_normalize(y_pred), axis)``."""
    return _evaluate(cosine_similarity, y_true, y_pred, axis=axis)


def hinge(y_true, y_pred):
    """``mean(maximum(1 - y_true * y_pred, 0), axis=-1)``; all-0/1 labels become -1/+1."""
    return _evaluate(hinge, y_true, y_pred)


def squared_hinge(y_true, y_pred):
    """``mean(square(maximum(1 - y_true * y_pred, 0)), axis=-1)``; all-0/1 labels become -1/+1."""
    return _evaluate(squared_hinge, y_true, y_pred)


def categorical_hinge(y_true, y_pred):
    """``maximum(max((1 - y_true) * y_pred) - sum(y_true * y_pred) + 1, 0)`` over the last axis."""
    return _evaluate(categorical_hinge, y_true, y_pred)


def binary_crossentropy(y_true, y_pred, from_logits=False, label_smoothing=0.0, axis=-1):
    """Mean over ``axis`` of the elementwise binary crossentropy (probabilities clipped to
    ``[eps, 1 - eps]``; logits through a stable softplus form); labels smoothed towards 0.5."""
    return _evaluate(
        binary_crossentropy, y_true, y_pred, from_logits=from_logits, label_smoothing=label_smoothing, axis=axis
    )


def categorical_crossentropy(y_true, y_pred, from_logits=False, label_smoothing=0.0, axis=-1):
    """Crossentropy over ``axis``: probabilities are renormalised to sum 1 and clipped to
    ``[eps, 1 - eps]``; logits go through log-softmax. Labels smoothed towards ``1/num_classes``."""
    if isinstance(axis, bool):
        raise ValueError(f"`axis` must be of type `int`. Received: axis={axis} of type {type(axis)}")
    shape = np.shape(y_pred)
    if shape and shape[axis] == 1:
        warnings.warn(
            "In loss categorical_crossentropy, expected y_pred.shape to be (batch_size, num_classes) "
            f"with num_classes > 1. Received: y_pred.shape={shape}. Consider using "
            "'binary_crossentropy' if you only have 2 classes.",
            SyntaxWarning,
            stacklevel=2,
        )
    return _evaluate(
        categorical_crossentropy,
        y_true,
        y_pred,
        from_logits=from_logits,
        label_smoothing=label_smoothing,
        axis=axis,
    )


def sparse_categorical_crossentropy(y_true, y_pred, from_logits=False, ignore_class=None, axis=-1):
    """Crossentropy against integer labels (shape ``y_pred.shape[:-1]``, or with a trailing 1).

    Probabilities are clipped to ``[eps, 1 - eps]`` and log-softmaxed (TensorFlow backend); labels
    equal to ``ignore_class`` give 0. Raises ValueError for a label outside ``[0, num_classes)``.
    """
    return _evaluate(
        sparse_categorical_crossentropy,
        y_true,
        y_pred,
        from_logits=from_logits,
        ignore_class=ignore_class,
        axis=axis,
    )


_SIMPLE_KINDS = {
    mean_squared_error: K.MEAN_SQUARED_ERROR,
    mean_absolute_error: K.MEAN_ABSOLUTE_ERROR,
    mean_absolute_percentage_error: K.MEAN_ABSOLUTE_PERCENTAGE_ERROR,
    mean_squared_logarithmic_error: K.MEAN_SQUARED_LOGARITHMIC_ERROR,
    log_cosh: K.LOG_COSH,
    poisson: K.POISSON,
    kl_divergence: K.KL_DIVERGENCE,
    hinge: K.HINGE,
    squared_hinge: K.SQUARED_HINGE,
    categorical_hinge: K.CATEGORICAL_HINGE,
}


def _plan(fn, kw):
    """``(kind, p0, axis, ignore_class)`` for a built-in loss function and its kwargs, else None."""
    if fn in _SIMPLE_KINDS:
        return _SIMPLE_KINDS[fn], 0.0, -1, None
    if fn is huber:
        return K.HUBER, float(kw.get("delta", 1.0)), -1, None
    if fn is cosine_similarity:
        return K.COSINE_SIMILARITY, 0.0, kw.get("axis", -1), None
    logits = bool(kw.get("from_logits", False))
    if fn is binary_crossentropy:
        kind = K.BINARY_CROSSENTROPY_LOGITS if logits else K.BINARY_CROSSENTROPY
        return kind, float(kw.get("label_smoothing", 0.0)), kw.get("axis", -1), None
    if fn is categorical_crossentropy:
        kind = K.CATEGORICAL_CROSSENTROPY_LOGITS if logits else K.CATEGORICAL_CROSSENTROPY
        return kind, float(kw.get("label_smoothing", 0.0)), kw.get("axis", -1), None
    if fn is sparse_categorical_crossentropy:
        kind = K.SPARSE_CATEGORICAL_CROSSENTROPY_LOGITS if logits else K.SPARSE_CATEGORICAL_CROSSENTROPY
        return kind, 0.0, kw.get("axis", -1), kw.get("ignore_class")
    return None


# ---------------------------------------------------------------------------------------------
# Loss classes


def _to_snake_case(name):
    name = re.sub(r"\W+", "", name)
    name = re.sub("(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub("([a-z])([A-Z])", r"\1_\2", name).lower()


class Loss:
    """Base class of losses: ``__call__`` computes per-sample values with ``call`` and reduces them.

    Args:
        name: name of the instance (snake-cased class name if None).
        reduction: "sum_over_batch_size" (default), "sum", "mean", "mean_with_sample_weight",
            or None / "none" (no reduction).
        dtype: computation dtype, ``config.floatx()`` if None.
    """

    def __init__(self, name=None, reduction="sum_over_batch_size", dtype=None):
        self.name = name or _to_snake_case(type(self).__name__)
        self.reduction = standardize_reduction(reduction)
        self._dtype = np.dtype(dtype or config.floatx()).name

    @property
    def dtype(self):
        return self._dtype

    def __call__(self, y_true, y_pred, sample_weight=None):
        y_true = np.asarray(y_true, dtype=self.dtype)
        y_pred = np.asarray(y_pred, dtype=self.dtype)
        values, mask = self._values_and_mask(y_true, y_pred)
        return reduce_weighted_values(values, sample_weight, mask, self.reduction, self.dtype)

    def call(self, y_true, y_pred):
        """Per-sample loss values; subclasses implement it."""
        raise NotImplementedError

    def _values_and_mask(self, y_true, y_pred):
        return np.asarray(self.call(y_true, y_pred)), None

    def _plan(self):
        return None

    def kernel_spec(self):
        """``(kind, p0)`` for the loss kernels, or None when the kernels alone cannot compute this
        loss (custom ``call``, an ``axis`` other than -1, ``ignore_class``); use ``grad`` then."""
        plan = self._plan()
        if plan is None or plan[2] != -1 or plan[3] is not None:
            return None
        return plan[0], plan[1]

    def grad(self, y_true, y_pred, sample_weight=None):
        """Gradient of ``self(y_true, y_pred, sample_weight)`` with respect to ``y_pred``.

        Returns an array of ``y_pred``'s shape in the loss dtype. With reduction None/"none" it is
        the gradient of the sum of the returned values. Built-in losses use the Numba kernels.
        Custom losses (a ``call`` override or a plain Python function) fall back to float64
        central differences: two evaluations per element of ``y_pred``, for checks and small
        problems only.
        """
        y_true = np.asarray(y_true, dtype=self.dtype)
        y_pred = np.asarray(y_pred, dtype=self.dtype)
        plan = self._plan()
        if plan is None:
            return self._numerical_grad(y_true, y_pred, sample_weight)
        prep = _Prepared(plan, y_true, y_pred)
        values_shape = prep.y_pred.shape[:-1]
        w = reduction_weights(values_shape, sample_weight, prep.valid, self.reduction, self.dtype)
        return prep.grad(w).astype(self.dtype, copy=False)

    def _numerical_grad(self, y_true, y_pred, sample_weight):
        yt = y_true.astype(np.float64)
        x = np.array(y_pred, dtype=np.float64, order="C")  # reshape(-1) below must be a view

        def total(v):
            values, mask = self._values_and_mask(yt, v)
            return float(np.sum(reduce_weighted_values(values, sample_weight, mask, self.reduction, "float64")))

        g = np.empty(x.shape, dtype=np.float64)
        flat, gflat = x.reshape(-1), g.reshape(-1)
        for i in range(flat.size):
            xi = flat[i]
            h = 6e-6 * max(1.0, abs(xi))
            flat[i] = xi + h
            up = total(x)
            flat[i] = xi - h
            down = total(x)
            flat[i] = xi
            gflat[i] = (up - down) / (2 * h)
        return g.astype(self.dtype)

    def get_config(self):
        return {"name": self.name, "reduction": self.reduction}

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def __repr__(self):
        return f"<{type(self).__name__} name={self.name!r} reduction={self.reduction!r}>"


class LossFunctionWrapper(Loss):
    """A ``Loss`` around a per-sample function ``fn(y_true, y_pred, **kwargs)``."""

    def __init__(self, fn, reduction="sum_over_batch_size", name=None, dtype=None, **kwargs):
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        self.fn = fn
        self._fn_kwargs = kwargs

    def call(self, y_true, y_pred):
        y_true, y_pred = squeeze_or_expand_to_same_rank(y_true, y_pred)
        return self.fn(y_true, y_pred, **self._fn_kwargs)

    def _values_and_mask(self, y_true, y_pred):
        plan = self._plan()
        if plan is not None and plan[3] is not None:  # ignore_class masks the reduction
            y_true, y_pred = squeeze_or_expand_to_same_rank(y_true, y_pred)
            prep = _Prepared(plan, y_true, y_pred)
            return prep.values(), prep.valid
        return np.asarray(self.call(y_true, y_pred)), None

    def _plan(self):
        return _plan(self.fn, self._fn_kwargs)

    def get_config(self):
        config = super().get_config()
        config["fn"] = serialize(self.fn)
        config.update(self._fn_kwargs)
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        if "fn" in config:
            config["fn"] = deserialize(config["fn"])
        return cls(**config)

    def __repr__(self):
        return f"<LossFunctionWrapper({self.fn}, kwargs={self._fn_kwargs})>"


class _BuiltinLoss(LossFunctionWrapper):
    """A built-in loss class: its config is ``Loss``'s plus its own arguments, without ``fn``."""

    def get_config(self):
        config = Loss.get_config(self)
        config.update(self._fn_kwargs)
        return config


class MeanSquaredError(_BuiltinLoss):
    """Mean of squares of errors; see ``mean_squared_error``."""

    def __init__(self, reduction="sum_over_batch_size", name="mean_squared_error", dtype=None):
        super().__init__(mean_squared_error, name=name, reduction=reduction, dtype=dtype)


class MeanAbsoluteError(_BuiltinLoss):
    """Mean of absolute errors; see ``mean_absolute_error``."""

    def __init__(self, reduction="sum_over_batch_size", name="mean_absolute_error", dtype=None):
        super().__init__(mean_absolute_error, name=name, reduction=reduction, dtype=dtype)


class MeanAbsolutePercentageError(_BuiltinLoss):
    """Mean absolute percentage error; see ``mean_absolute_percentage_error``."""

    def __init__(self, reduction="sum_over_batch_size", name="mean_absolute_percentage_error", dtype=None):
        super().__init__(mean_absolute_percentage_error, name=name, reduction=reduction, dtype=dtype)


class MeanSquaredLogarithmicError(_BuiltinLoss):
    """Mean squared logarithmic error; see ``mean_squared_logarithmic_error``."""

    def __init__(self, reduction="sum_over_batch_size", name="mean_squared_logarithmic_error", dtype=None):
        super().__init__(mean_squared_logarithmic_error, name=name, reduction=reduction, dtype=dtype)


class Huber(_BuiltinLoss):
    """Huber loss with threshold ``delta``; see ``huber``."""

    def __init__(self, delta=1.0, reduction="sum_over_batch_size", name="huber_loss", dtype=None):
        super().__init__(huber, name=name, reduction=reduction, dtype=dtype, delta=delta)


class LogCosh(_BuiltinLoss):
    """Logarithm of the hyperbolic cosine of the error; see ``log_cosh``."""

    def __init__(self, reduction="sum_over_batch_size", name="log_cosh", dtype=None):
        super().__init__(log_cosh, name=name, reduction=reduction, dtype=dtype)


class Poisson(_BuiltinLoss):
    """Poisson loss; see ``poisson``."""

    def __init__(self, reduction="sum_over_batch_size", name="poisson", dtype=None):
        super().__init__(poisson, name=name, reduction=reduction, dtype=dtype)


class KLDivergence(_BuiltinLoss):
    """Kullback-Leibler divergence; see ``kl_divergence``."""

    def __init__(self, reduction="sum_over_batch_size", name="kl_divergence", dtype=None):
        super().__init__(kl_divergence, name=name, reduction=reduction, dtype=dtype)


class CosineSimilarity(_BuiltinLoss):
    """Negative cosine similarity along ``axis``; see ``cosine_similarity``."""

    def __init__(self, axis=-1, reduction="sum_over_batch_size", name="cosine_similarity", dtype=None):
        super().__init__(cosine_similarity, name=name, reduction=reduction, dtype=dtype, axis=axis)


class Hinge(_BuiltinLoss):
    """Hinge loss; see ``hinge``."""

    def __init__(self, reduction="sum_over_batch_size", name="hinge", dtype=None):
        super().__init__(hinge, name=name, reduction=reduction, dtype=dtype)


class SquaredHinge(_BuiltinLoss):
    """Squared hinge loss; see ``squared_hinge``."""

    def __init__(self, reduction="sum_over_batch_size", name="squared_hinge", dtype=None):
        super().__init__(squared_hinge, name=name, reduction=reduction, dtype=dtype)


class CategoricalHinge(_BuiltinLoss):
    """Categorical hinge loss; see ``categorical_hinge``."""

    def __init__(self, reduction="sum_over_batch_size", name="categorical_hinge", dtype=None):
        super().__init__(categorical_hinge, name=name, reduction=reduction, dtype=dtype)


class BinaryCrossentropy(_BuiltinLoss):
    """Binary crossentropy; see ``binary_crossentropy``."""

    def __init__(
        self,
        from_logits=False,
        label_smoothing=0.0,
        axis=-1,
        reduction="sum_over_batch_size",
        name="binary_crossentropy",
        dtype=None,
    ):
        super().__init__(
            binary_crossentropy,
            name=name,
            reduction=reduction,
            dtype=dtype,
            from_logits=from_logits,
            label_smoothing=label_smoothing,
            axis=axis,
        )
        self.from_logits = from_logits
        self.label_smoothing = label_smoothing
        self.axis = axis


class CategoricalCrossentropy(_BuiltinLoss):
    """Categorical crossentropy on one-hot (or soft) labels; see ``categorical_crossentropy``."""

    def __init__(
        self,
        from_logits=False,
        label_smoothing=0.0,
        axis=-1,
        reduction="sum_over_batch_size",
        name="categorical_crossentropy",
        dtype=None,
    ):
        super().__init__(
            categorical_crossentropy,
            name=name,
            reduction=reduction,
            dtype=dtype,
            from_logits=from_logits,
            label_smoothing=label_smoothing,
            axis=axis,
        )
        self.from_logits = from_logits
        self.label_smoothing = label_smoothing
        self.axis = axis


class SparseCategoricalCrossentropy(_BuiltinLoss):
    """Categorical crossentropy on integer labels; see ``sparse_categorical_crossentropy``.

    Elements whose label equals ``ignore_class`` are masked: they add 0 and, for the mean
    reductions, are left out of the divisor.
    """

    def __init__(
        self,
        from_logits=False,
        ignore_class=None,
        reduction="sum_over_batch_size",
        axis=-1,
        name="sparse_categorical_crossentropy",
        dtype=None,
    ):
        super().__init__(
            sparse_categorical_crossentropy,
            name=name,
            reduction=reduction,
            dtype=dtype,
            from_logits=from_logits,
            ignore_class=ignore_class,
            axis=axis,
        )


# ---------------------------------------------------------------------------------------------
# Identifiers

_CLASSES = (
    Loss,
    LossFunctionWrapper,
    KLDivergence,
    Poisson,
    BinaryCrossentropy,
    CategoricalCrossentropy,
    SparseCategoricalCrossentropy,
    MeanSquaredError,
    MeanAbsoluteError,
    MeanAbsolutePercentageError,
    MeanSquaredLogarithmicError,
    CosineSimilarity,
    LogCosh,
    Huber,
    Hinge,
    SquaredHinge,
    CategoricalHinge,
)
_FUNCTIONS = tuple(_SIMPLE_KINDS) + (
    huber,
    cosine_similarity,
    binary_crossentropy,
    categorical_crossentropy,
    sparse_categorical_crossentropy,
)
ALL_OBJECTS_DICT = {obj.__name__: obj for obj in _CLASSES + _FUNCTIONS}
ALL_OBJECTS_DICT.update(
    {
        "bce": binary_crossentropy,
        "BCE": binary_crossentropy,
        "kld": kl_divergence,
        "KLD": kl_divergence,
        "mae": mean_absolute_error,
        "MAE": mean_absolute_error,
        "mse": mean_squared_error,
        "MSE": mean_squared_error,
        "mape": mean_absolute_percentage_error,
        "MAPE": mean_absolute_percentage_error,
        "msle": mean_squared_logarithmic_error,
        "MSLE": mean_squared_logarithmic_error,
    }
)

# Aliases as module attributes, as in keras.losses / keras.metrics.
mse = MSE = mean_squared_error
mae = MAE = mean_absolute_error
mape = MAPE = mean_absolute_percentage_error
msle = MSLE = mean_squared_logarithmic_error
kld = KLD = kl_divergence
bce = BCE = binary_crossentropy


def serialize(loss):
    """The Keras 3 config dict of a ``Loss`` instance or a loss function."""
    if isinstance(loss, Loss):
        return serialize_object(loss, MODULE)
    if callable(loss) and hasattr(loss, "__name__"):
        name = loss.__name__
        module = MODULE if ALL_OBJECTS_DICT.get(name) is loss else loss.__module__
        return {"module": module, "class_name": "function", "config": name, "registered_name": name}
    raise ValueError(f"Could not serialize loss: {loss!r}")


def deserialize(config, custom_objects=None):
    """A ``Loss`` instance or loss function from a config dict (or a name)."""
    if isinstance(config, dict) and config.get("class_name") == "function":
        return lookup(config.get("config"), {**ALL_OBJECTS_DICT, **(custom_objects or {})}, "loss")
    return deserialize_object(config, ALL_OBJECTS_DICT, "loss", custom_objects)


def get(identifier):
    """Resolves None, a name (function, class or alias), a config dict, a class (instantiated),
    a ``Loss`` instance or a callable. Raises ValueError for anything else."""
    if isinstance(identifier, dict):
        return deserialize(identifier)
    return get_object(identifier, ALL_OBJECTS_DICT, "loss")
