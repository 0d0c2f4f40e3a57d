"""Keras' shape rules for metric inputs, as the 2-D/3-D layouts the kernels expect."""

import math

import numpy as np


# Shared "no sample weight" arguments; kernels only read them.
_ONES = {name: np.ones((1, 1), dtype=name) for name in ("float32", "float64")}


def _ones(dtype):
    """A ``(1, 1)`` array of ones of ``dtype``."""
    return _ONES[np.dtype(dtype).name]


def as_float(x, dtype):
    """``x`` as a C-contiguous array of ``dtype`` (Keras casts metric inputs to it)."""
    return np.ascontiguousarray(np.asarray(x, dtype=dtype))


def squeeze_or_expand_to_same_rank(x1, x2, expand_rank_1=True):
    """Squeezes or expands the last axis when ranks differ by exactly 1 (Keras' rule)."""
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


def rows(shape):
    """``(n, m)``: a value array of ``shape`` seen as n samples of m values (``()`` is one)."""
    if len(shape) == 0:
        return 1, 1
    return shape[0], math.prod(shape[1:])


def broadcast_pair(a, b, what="y_true and y_pred"):
    """Both arrays broadcast to a common shape (C-contiguous)."""
    if a.shape == b.shape:
        return a, b
    try:
        shape = np.broadcast_shapes(a.shape, b.shape)
    except ValueError:
        raise ValueError(
            f"Shapes of {what} are incompatible: {a.shape} and {b.shape}."
        ) from None
    return (np.ascontiguousarray(np.broadcast_to(a, shape)),
            np.ascontiguousarray(np.broadcast_to(b, shape)))


def _compact(sw, shape):
    """``sw`` (already of ``shape``'s rank and broadcastable) as a ``(1|n, 1|m)`` array."""
    n, m = rows(shape)
    if sw.size == 1:
        return sw.reshape(1, 1)
    if all(d == 1 for d in sw.shape[1:]):
        return np.ascontiguousarray(sw.reshape(sw.shape[0], 1))
    return np.ascontiguousarray(np.broadcast_to(sw, shape)).reshape(n, m)


def _check_broadcast(sw, shape):
    try:
        ok = sw.ndim <= len(shape) and np.broadcast_shapes(sw.shape, shape) == tuple(shape)
    except ValueError:
        ok = False
    if not ok:
        raise ValueError(
            f"`sample_weight` of shape {sw.shape} cannot be broadcast to the metric values "
            f"of shape {tuple(shape)}."
        )


def sample_weight_rows(values_shape, sample_weight, dtype, scalar_is_one_sample=True):
    """Sample weights for ``weighted_stats``, following Keras' ``reduce_to_samplewise_values``.

    A weight of lower rank is broadcast over the trailing value axes; a scalar weight makes the
    whole batch one sample of that weight for ``Mean`` (``scalar_is_one_sample``), as in Keras.

    Args:
        values_shape: shape of the per-element metric values.
        sample_weight: ``None``, a scalar or an array.
        dtype: the metric dtype.
        scalar_is_one_sample: ``True`` for ``Mean`` semantics, ``False`` for ``Sum``.

    Returns:
        A C-contiguous array of shape ``(1 or n, 1 or m)``.
    """
    if sample_weight is None:
        return _ones(dtype)
    sw = np.asarray(sample_weight, dtype=dtype)
    shape = tuple(values_shape)
    if len(shape) == sw.ndim + 1 and shape[-1] == 1:
        if sw.ndim == 1:
            sw = sw[:, None]
        else:
            shape = shape[:-1]
    elif sw.ndim == len(shape) + 1 and sw.shape[-1] == 1:
        if len(shape) == 1:
            shape = shape + (1,)
        else:
            sw = sw[..., 0]
    if sw.ndim == 0:
        n, _ = rows(shape)
        value = sw / n if scalar_is_one_sample and n else sw
        return np.full((1, 1), value, dtype=dtype)
    if sw.ndim < len(shape):
        sw = sw.reshape(sw.shape + (1,) * (len(shape) - sw.ndim))
    _check_broadcast(sw, shape)
    return _compact(sw, shape)


def confusion_weight_rows(y_true_shape, y_pred_shape, sample_weight, dtype):
    """Sample weights for the confusion kernels, broadcast to ``y_pred`` as Keras does.

    Keras expands the weight's last axis and then squeezes it back against ``y_true``'s rank, so
    a ``(n,)`` weight applies per sample to ``(n, k)`` predictions.

    Returns:
        A C-contiguous array of shape ``(1 or rows, 1 or L)`` for ``y_pred`` seen as
        ``(rows, L)`` with ``L`` its last axis.
    """
    if sample_weight is None:
        return _ones(dtype)
    sw = np.asarray(sample_weight, dtype=dtype)[..., None]
    if sw.ndim == len(y_true_shape) + 1 and sw.shape[-1] == 1:
        sw = sw[..., 0]
    shape = tuple(y_pred_shape)
    _check_broadcast(sw, shape)
    if sw.size == 1:
        return sw.reshape(1, 1)
    full = np.broadcast_to(sw, shape)
    cols = shape[-1] if shape else 1
    return np.ascontiguousarray(full).reshape(-1, cols)
