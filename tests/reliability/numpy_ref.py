"""Plain NumPy (float64) references for activations and losses, written from the Keras 3
formulas, to check numdense's kernels against."""

import math

import numpy as np

_erf = np.vectorize(math.erf, otypes=[np.float64])


def _softmax(x):
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def _sigmoid(x):
    e = np.exp(-np.abs(x))  # no cancellation for large |x|
    return np.where(x >= 0, 1 / (1 + e), e / (1 + e))


ACTIVATIONS = {
    "linear": lambda x: x,
    "relu": lambda x: np.where(x > 0, x, np.where(np.isnan(x), x, 0.0)),
    "relu6": lambda x: np.clip(x, 0, 6),
    "leaky_relu": lambda x: np.where(x > 0, x, 0.2 * x),
    "elu": lambda x: np.where(x > 0, x, np.expm1(np.minimum(x, 0))),
    "selu": lambda x: 1.0507009873554805 * np.where(
        x > 0, x, 1.6732632423543772 * np.expm1(np.minimum(x, 0))),
    "gelu": lambda x: 0.5 * x * (1 + _erf(x / np.sqrt(2))),
    "sigmoid": lambda x: _sigmoid(x),
    "hard_sigmoid": lambda x: np.clip(x / 6 + 0.5, 0, 1),
    "silu": lambda x: x * _sigmoid(x),
    "softplus": lambda x: np.logaddexp(0, x),
    "softsign": lambda x: x / (1 + np.abs(x)),
    "tanh": np.tanh,
    "mish": lambda x: x * np.tanh(np.logaddexp(0, x)),
    "log_sigmoid": lambda x: -np.logaddexp(0, -x),
    "exponential": np.exp,
    "softmax": _softmax,
    "log_softmax": lambda x: x - x.max(axis=-1, keepdims=True) - np.log(
        np.exp(x - x.max(axis=-1, keepdims=True)).sum(axis=-1, keepdims=True)),
}

EPS = 1e-7


def _clip(p):
    return np.clip(p, EPS, 1 - EPS)


LOSSES = {
    "mean_squared_error": lambda t, p: ((t - p) ** 2).mean(-1),
    "mean_absolute_error": lambda t, p: np.abs(t - p).mean(-1),
    "mean_absolute_percentage_error": lambda t, p: 100 * (
        np.abs(t - p) / np.maximum(np.abs(t), EPS)).mean(-1),
    "mean_squared_logarithmic_error": lambda t, p: (
        (np.log(np.maximum(p, EPS) + 1) - np.log(np.maximum(t, EPS) + 1)) ** 2).mean(-1),
    "huber": lambda t, p: np.where(np.abs(t - p) <= 1, 0.5 * (t - p) ** 2,
                                   np.abs(t - p) - 0.5).mean(-1),
    "log_cosh": lambda t, p: (np.logaddexp(p - t, t - p) - np.log(2)).mean(-1),
    "poisson": lambda t, p: (p - t * np.log(p + EPS)).mean(-1),
    "kl_divergence": lambda t, p: (np.clip(t, EPS, 1) * np.log(
        np.clip(t, EPS, 1) / np.clip(p, EPS, 1))).sum(-1),
    "cosine_similarity": lambda t, p: -(t * p).sum(-1) / np.maximum(
        np.linalg.norm(t, axis=-1) * np.linalg.norm(p, axis=-1), 1e-12),
    "hinge": lambda t, p: np.maximum(1 - np.where(t <= 0, -1.0, t) * p, 0).mean(-1),
    "squared_hinge": lambda t, p: (np.maximum(1 - np.where(t <= 0, -1.0, t) * p, 0) ** 2).mean(-1),
    "categorical_hinge": lambda t, p: np.maximum(
        ((1 - t) * p).max(-1) - (t * p).sum(-1) + 1, 0),
    "binary_crossentropy": lambda t, p: -(t * np.log(_clip(p)) + (1 - t) * np.log(
        1 - _clip(p))).mean(-1),
    "categorical_crossentropy": lambda t, p: -(t * np.log(_clip(
        p / p.sum(-1, keepdims=True)))).sum(-1),
    "sparse_categorical_crossentropy": lambda t, p: -np.log(_clip(
        p / p.sum(-1, keepdims=True)))[np.arange(len(t)), t.astype(int)],
}


def _log_softmax(z):
    return ACTIVATIONS["log_softmax"](z)


# Keras on TensorFlow computes these from the logits of a sigmoid / softmax output layer.
FROM_LOGITS = {
    ("binary_crossentropy", "sigmoid"): lambda t, z: (
        np.maximum(z, 0) - z * t + np.log1p(np.exp(-np.abs(z)))).mean(-1),
    ("categorical_crossentropy", "softmax"): lambda t, z: -(t * _log_softmax(z)).sum(-1),
    ("sparse_categorical_crossentropy", "softmax"): lambda t, z: -_log_softmax(z)[
        np.arange(len(t)), t.astype(int)],
}


def model_loss(name, y_true, logits, activation, sample_weight=None):
    """The loss Keras reports for an output layer with ``activation`` and pre-activation
    ``logits`` (``sum_over_batch_size`` reduction)."""
    t, z = np.asarray(y_true, np.float64), np.asarray(logits, np.float64)
    fn = FROM_LOGITS.get((name, activation))
    if fn is None:
        return mean_loss(name, t, ACTIVATIONS[activation or "linear"](z), sample_weight)
    values = fn(t, z)
    if sample_weight is not None:
        values = values * sample_weight
    return values.sum() / max(values.size, 1)


def mean_loss(name, y_true, y_pred, sample_weight=None):
    """Keras' ``sum_over_batch_size`` reduction of a per-sample loss."""
    values = LOSSES[name](np.asarray(y_true, np.float64), np.asarray(y_pred, np.float64))
    if sample_weight is not None:
        values = values * sample_weight
    return values.sum() / max(values.size, 1)


def dense_stack(x, weights, activations):
    """Forward pass of a Dense stack in float64: ``weights`` is ``[(kernel, bias or None)]``."""
    h = np.asarray(x, np.float64)
    for (kernel, bias), act in zip(weights, activations):
        h = h @ kernel.astype(np.float64)
        if bias is not None:
            h = h + bias
        h = ACTIVATIONS[act or "linear"](h)
    return h
