"""CPU activation kernels: forward values and gradients of every kind in ``activation_kinds``.

``activation_forward_into`` / ``activation_backward_into`` work in place on 2-D arrays and are meant
to be called from other ``@njit`` code; ``activation_forward`` / ``activation_backward`` are the
Python wrappers for arrays of any rank and layout.

Gradient conventions at kinks follow what Keras 3 computes on its TensorFlow backend (the
reference data): ``relu'(0) = 0``, ``leaky_relu'(0) = slope``, ``relu6'`` is 0 at 0 and 6,
``hard_sigmoid'`` is 0 at -3 and 3, ``hard_tanh'`` is 1 at -1 and 1, ``elu'(0) = alpha``,
``selu'(0) = scale``, ``celu'(0) = 2`` (``max``/``min`` both pass the gradient on ties).
"""

import math

import numpy as np
from numba.extending import overload

from ..activation_kinds import (
    CELU,
    ELU,
    EXPONENTIAL,
    GELU,
    GELU_APPROX,
    HARD_SHRINK,
    HARD_SIGMOID,
    HARD_SILU,
    HARD_TANH,
    LEAKY_RELU,
    LINEAR,
    LOG_SIGMOID,
    LOG_SOFTMAX,
    MISH,
    RELU,
    RELU6,
    ROW_WISE,
    SELU,
    SIGMOID,
    SILU,
    SOFT_SHRINK,
    SOFTMAX,
    SOFTPLUS,
    SOFTSIGN,
    SPARSE_PLUS,
    SPARSE_SIGMOID,
    SQUAREPLUS,
    TANH,
    TANH_SHRINK,
    THRESHOLD,
)
from ._jit import kernel

SELU_ALPHA = 1.6732632423543772848170429916717
SELU_SCALE = 1.0507009873554804934193349852946
_SQRT_HALF = 0.7071067811865476  # 1 / sqrt(2)
_INV_SQRT_2PI = 0.3989422804014327  # 1 / sqrt(2 pi)
_SQRT_2_OVER_PI = 0.7978845608028654
_GELU_CUBIC = 0.044715

# Kinds whose gradient kernel reads the forward output ``y``.
NEEDS_Y = (SIGMOID, TANH, EXPONENTIAL, SQUAREPLUS, SOFTMAX, LOG_SOFTMAX)


def _typed(like, value):
    return value


@overload(_typed)
def _typed_overload(like, value):
    # ``value`` converted to the float type of ``like``, so float32 math stays float32.
    ty = like

    def impl(like, value):
        return ty(value)

    return impl


# --------------------------------------------------------------------------- scalar helpers


@kernel
def _sigmoid(v):
    """Logistic function of one float32/float64 scalar; exactly 0 and 1 at the far ends."""
    one = _typed(v, 1.0)
    return one / (one + math.exp(-v))


@kernel
def _softplus(v):
    """log(1 + exp(v)) of one scalar without overflow: max(v, 0) + log1p(exp(-|v|))."""
    return max(v, _typed(v, 0.0)) + math.log1p(math.exp(-abs(v)))


@kernel
def _hard_sigmoid(v):
    """relu6(v + 3) / 6 of one scalar, the TensorFlow-backend formula."""
    zero = _typed(v, 0.0)
    six = _typed(v, 6.0)
    return min(max(v + _typed(v, 3.0), zero), six) / six


@kernel
def _hard_sigmoid_grad(v, sixth):
    """Derivative of relu6(v + 3) / 6 at one scalar: 1/6 strictly inside (-3, 3), else 0."""
    w = v + _typed(v, 3.0)
    return sixth if (w > _typed(v, 0.0) and w < _typed(v, 6.0)) else _typed(v, 0.0)


@kernel
def _gelu(v):
    """Exact GELU 0.5 v erfc(-v / sqrt 2) of one scalar (erfc keeps the negative tail accurate)."""
    return _typed(v, 0.5) * v * math.erfc(-v * _typed(v, _SQRT_HALF))


@kernel
def _gelu_grad(v):
    """Derivative of exact GELU at one scalar: Phi(v) + v phi(v)."""
    half = _typed(v, 0.5)
    cdf = half * math.erfc(-v * _typed(v, _SQRT_HALF))
    return cdf + v * _typed(v, _INV_SQRT_2PI) * math.exp(-half * v * v)


@kernel
def _gelu_approx(v):
    """Tanh-approximate GELU of one scalar, as v sigmoid(2u) (equal to 0.5 v (1 + tanh u))."""
    u = _typed(v, _SQRT_2_OVER_PI) * (v + _typed(v, _GELU_CUBIC) * v * v * v)
    return v * _sigmoid(_typed(v, 2.0) * u)


@kernel
def _gelu_approx_grad(v):
    """Derivative of tanh-approximate GELU at one scalar."""
    zero = _typed(v, 0.0)
    one = _typed(v, 1.0)
    two = _typed(v, 2.0)
    k = _typed(v, _SQRT_2_OVER_PI)
    c = _typed(v, _GELU_CUBIC)
    s = _sigmoid(two * k * (v + c * v * v * v))
    w = s * (one - s)
    du = two * k * (one + _typed(v, 3.0) * c * v * v)
    # w == 0 where the curve is flat; skipping avoids 0 * inf when du overflows.
    return s + (v * w * du if w != zero else zero)


@kernel
def _mish_grad(v):
    """Derivative of mish v tanh(softplus v) at one scalar."""
    one = _typed(v, 1.0)
    t = math.tanh(_softplus(v))
    return t + v * (one - t * t) * _sigmoid(v)


@kernel
def _squareplus_root(v, b):
    """sqrt(v^2 + b) of one scalar without overflow of v^2."""
    return math.hypot(v, math.sqrt(b))


@kernel
def _squareplus(v, b):
    """(v + sqrt(v^2 + b)) / 2 of one scalar, in the form without cancellation for v < 0."""
    half = _typed(v, 0.5)
    s = _squareplus_root(v, b)
    return half * (v + s) if v >= _typed(v, 0.0) else half * b / (s - v)


@kernel
def _relu_keras(v, slope, max_value, threshold, use_relu6, clip):
    """Keras 3 ``relu(v, slope, max_value, threshold)`` of one scalar (the non-shortcut path)."""
    zero = _typed(v, 0.0)
    if threshold != zero:
        pos = v if v > threshold else zero
    elif use_relu6:
        pos = min(max(v, zero), _typed(v, 6.0))
    else:
        pos = max(v, zero)
    if clip:
        pos = max(min(pos, max_value), zero)
    if slope != zero:
        pos -= slope * max(threshold - v, zero)
    return pos


@kernel
def _relu_keras_grad(v, slope, max_value, threshold, use_relu6, clip):
    """Derivative of ``_relu_keras`` at one scalar, with TensorFlow's choices at the kinks:
    relu/relu6/threshold masks are strict, ``clip_by_value`` passes ties."""
    zero = _typed(v, 0.0)
    one = _typed(v, 1.0)
    if threshold != zero:
        pos = v if v > threshold else zero
        g = one if v > threshold else zero
    elif use_relu6:
        pos = v
        g = one if (v > zero and v < _typed(v, 6.0)) else zero
    else:
        pos = max(v, zero)
        g = one if v > zero else zero
    if clip and not (pos <= max_value and min(pos, max_value) >= zero):
        g = zero
    if slope != zero and threshold - v > zero:
        g += slope
    return g


# --------------------------------------------------------------------------- kernels


@kernel
def activation_forward_into(x, out, kind, p0, p1, p2):
    """Writes ``activation(x)`` into ``out``.

    x, out: 2-D (rows, cols) arrays of one dtype, float32 or float64 (C-contiguous is fastest;
    ``out`` may be ``x`` itself). kind: an id from ``activation_kinds``; p0, p1, p2: its parameters
    as listed there (unused ones are ignored). Element-wise kinds treat every element alike;
    SOFTMAX and LOG_SOFTMAX work on each row. Only ``out`` is written. Raises ValueError for an
    unknown kind.
    """
    m, n = x.shape
    a = x.dtype.type(p0)
    b = x.dtype.type(p1)
    c = x.dtype.type(p2)
    zero = x.dtype.type(0.0)
    one = x.dtype.type(1.0)
    if kind == LINEAR:
        for i in range(m):
            for j in range(n):
                out[i, j] = x[i, j]
    elif kind == RELU:
        if a == zero and c == zero and b == np.inf:
            for i in range(m):
                for j in range(n):
                    out[i, j] = max(x[i, j], zero)
        elif c == zero and b == np.inf:
            # Keras 3 hands this case to leaky_relu.
            for i in range(m):
                for j in range(n):
                    v = x[i, j]
                    out[i, j] = v if v > zero else a * v
        else:
            use_relu6 = c == zero and b == x.dtype.type(6.0)
            clip = b != np.inf and not use_relu6
            for i in range(m):
                for j in range(n):
                    out[i, j] = _relu_keras(x[i, j], a, b, c, use_relu6, clip)
    elif kind == LEAKY_RELU:
        for i in range(m):
            for j in range(n):
                v = x[i, j]
                out[i, j] = v if v > zero else a * v
    elif kind == RELU6:
        six = x.dtype.type(6.0)
        for i in range(m):
            for j in range(n):
                out[i, j] = min(max(x[i, j], zero), six)
    elif kind == ELU or kind == CELU or kind == SELU:
        if kind == SELU:
            alpha = x.dtype.type(SELU_ALPHA)
            scale = x.dtype.type(SELU_SCALE)
        else:
            alpha = a
            scale = one
        if kind == CELU:
            for i in range(m):
                for j in range(n):
                    v = x[i, j]
                    out[i, j] = max(v, zero) + alpha * math.expm1(min(v, zero) / alpha)
        else:
            for i in range(m):
                for j in range(n):
                    v = x[i, j]
                    out[i, j] = scale * (v if v > zero else alpha * math.expm1(v))
    elif kind == GELU:
        for i in range(m):
            for j in range(n):
                out[i, j] = _gelu(x[i, j])
    elif kind == GELU_APPROX:
        for i in range(m):
            for j in range(n):
                out[i, j] = _gelu_approx(x[i, j])
    elif kind == SIGMOID:
        for i in range(m):
            for j in range(n):
                out[i, j] = _sigmoid(x[i, j])
    elif kind == HARD_SIGMOID:
        for i in range(m):
            for j in range(n):
                out[i, j] = _hard_sigmoid(x[i, j])
    elif kind == HARD_SILU:
        for i in range(m):
            for j in range(n):
                v = x[i, j]
                out[i, j] = v * _hard_sigmoid(v)
    elif kind == SILU:
        for i in range(m):
            for j in range(n):
                v = x[i, j]
                out[i, j] = v * _sigmoid(v)
    elif kind == MISH:
        for i in range(m):
            for j in range(n):
                v = x[i, j]
                out[i, j] = v * math.tanh(_softplus(v))
    elif kind == SOFTPLUS:
        for i in range(m):
            for j in range(n):
                out[i, j] = _softplus(x[i, j])
    elif kind == SOFTSIGN:
        for i in range(m):
            for j in range(n):
                v = x[i, j]
                out[i, j] = v / (one + abs(v))
    elif kind == TANH:
        for i in range(m):
            for j in range(n):
                out[i, j] = math.tanh(x[i, j])
    elif kind == HARD_TANH:
        for i in range(m):
            for j in range(n):
                out[i, j] = max(min(x[i, j], one), -one)
    elif kind == LOG_SIGMOID:
        for i in range(m):
            for j in range(n):
                out[i, j] = -_softplus(-x[i, j])
    elif kind == SQUAREPLUS:
        for i in range(m):
            for j in range(n):
                out[i, j] = _squareplus(x[i, j], a)
    elif kind == EXPONENTIAL:
        for i in range(m):
            for j in range(n):
                out[i, j] = math.exp(x[i, j])
    elif kind == SOFTMAX:
        for i in range(m):
            top = x.dtype.type(-np.inf)
            for j in range(n):
                top = max(top, x[i, j])
            total = zero
            for j in range(n):
                e = math.exp(x[i, j] - top)
                out[i, j] = e
                total += e
            for j in range(n):
                out[i, j] = out[i, j] / total
    elif kind == LOG_SOFTMAX:
        for i in range(m):
            top = x.dtype.type(-np.inf)
            for j in range(n):
                top = max(top, x[i, j])
            total = zero
            for j in range(n):
                total += math.exp(x[i, j] - top)
            log_total = math.log(total)
            for j in range(n):
                out[i, j] = (x[i, j] - top) - log_total
    elif kind == SOFT_SHRINK:
        for i in range(m):
            for j in range(n):
                v = x[i, j]
                out[i, j] = v - a if v > a else (v + a if v < -a else zero)
    elif kind == HARD_SHRINK:
        for i in range(m):
            for j in range(n):
                v = x[i, j]
                out[i, j] = v if abs(v) > a else zero
    elif kind == TANH_SHRINK:
        for i in range(m):
            for j in range(n):
                v = x[i, j]
                out[i, j] = v - math.tanh(v)
    elif kind == SPARSE_PLUS:
        quarter = x.dtype.type(0.25)
        for i in range(m):
            for j in range(n):
                v = x[i, j]
                w = v + one
                out[i, j] = zero if v <= -one else (quarter * w * w if v < one else v)
    elif kind == SPARSE_SIGMOID:
        half = x.dtype.type(0.5)
        for i in range(m):
            for j in range(n):
                v = x[i, j]
                out[i, j] = zero if v <= -one else (one if v >= one else half * (v + one))
    elif kind == THRESHOLD:
        for i in range(m):
            for j in range(n):
                v = x[i, j]
                out[i, j] = v if v > a else b
    else:
        raise ValueError("unknown activation kind")


@kernel
def activation_backward_into(x, y, dy, dx, kind, p0, p1, p2):
    """Writes ``dy * activation'(x)`` (the vector-Jacobian product for softmax kinds) into ``dx``.

    x: the pre-activation; y: ``activation(x)`` as computed by ``activation_forward_into`` (read
    only by SIGMOID, TANH, EXPONENTIAL, SQUAREPLUS, SOFTMAX, LOG_SOFTMAX; others accept any array of
    the shape); dy: the upstream gradient; dx: the result. All 2-D (rows, cols), one dtype, float32
    or float64; ``dx`` may be ``dy`` itself. kind, p0, p1, p2 as for the forward kernel. Softmax:
    ``dx = y * (dy - sum(dy * y, row))``; log_softmax: ``dx = dy - exp(y) * sum(dy, row)``.
    Only ``dx`` is written. Raises ValueError for an unknown kind.
    """
    m, n = x.shape
    a = x.dtype.type(p0)
    b = x.dtype.type(p1)
    c = x.dtype.type(p2)
    zero = x.dtype.type(0.0)
    one = x.dtype.type(1.0)
    if kind == LINEAR:
        for i in range(m):
            for j in range(n):
                dx[i, j] = dy[i, j]
    elif kind == RELU:
        if a == zero and c == zero and b == np.inf:
            for i in range(m):
                for j in range(n):
                    dx[i, j] = dy[i, j] if x[i, j] > zero else zero
        elif c == zero and b == np.inf:
            for i in range(m):
                for j in range(n):
                    g = dy[i, j]
                    dx[i, j] = g if x[i, j] > zero else a * g
        else:
            use_relu6 = c == zero and b == x.dtype.type(6.0)
            clip = b != np.inf and not use_relu6
            for i in range(m):
                for j in range(n):
                    dx[i, j] = dy[i, j] * _relu_keras_grad(x[i, j], a, b, c, use_relu6, clip)
    elif kind == LEAKY_RELU:
        for i in range(m):
            for j in range(n):
                g = dy[i, j]
                dx[i, j] = g if x[i, j] > zero else a * g
    elif kind == RELU6:
        six = x.dtype.type(6.0)
        for i in range(m):
            for j in range(n):
                v = x[i, j]
                dx[i, j] = dy[i, j] if (v > zero and v < six) else zero
    elif kind == ELU:
        for i in range(m):
            for j in range(n):
                v = x[i, j]
                dx[i, j] = dy[i, j] * (one if v > zero else a * math.exp(v))
    elif kind == SELU:
        scale = x.dtype.type(SELU_SCALE)
        scale_alpha = x.dtype.type(SELU_SCALE * SELU_ALPHA)
        for i in range(m):
            for j in range(n):
                v = x[i, j]
                dx[i, j] = dy[i, j] * (scale_alpha * math.exp(v) if v < zero else scale)
    elif kind == CELU:
        for i in range(m):
            for j in range(n):
                v = x[i, j]
                g = one if v >= zero else zero
                if v <= zero:
                    g += math.exp(v / a)
                dx[i, j] = dy[i, j] * g
    elif kind == GELU:
        for i in range(m):
            for j in range(n):
                dx[i, j] = dy[i, j] * _gelu_grad(x[i, j])
    elif kind == GELU_APPROX:
        for i in range(m):
            for j in range(n):
                dx[i, j] = dy[i, j] * _gelu_approx_grad(x[i, j])
    elif kind == SIGMOID:
        for i in range(m):
            for j in range(n):
                s = y[i, j]
                dx[i, j] = dy[i, j] * (s * (one - s))
    elif kind == HARD_SIGMOID:
        sixth = one / x.dtype.type(6.0)
        for i in range(m):
            for j in range(n):
                dx[i, j] = dy[i, j] * _hard_sigmoid_grad(x[i, j], sixth)
    elif kind == HARD_SILU:
        sixth = one / x.dtype.type(6.0)
        for i in range(m):
            for j in range(n):
                v = x[i, j]
                dx[i, j] = dy[i, j] * (_hard_sigmoid(v) + v * _hard_sigmoid_grad(v, sixth))
    elif kind == SILU:
        for i in range(m):
            for j in range(n):
                v = x[i, j]
                s = _sigmoid(v)
                dx[i, j] = dy[i, j] * (s * (one + v * (one - s)))
    elif kind == MISH:
        for i in range(m):
            for j in range(n):
                dx[i, j] = dy[i, j] * _mish_grad(x[i, j])
    elif kind == SOFTPLUS:
        for i in range(m):
            for j in range(n):
                dx[i, j] = dy[i, j] * _sigmoid(x[i, j])
    elif kind == SOFTSIGN:
        for i in range(m):
            for j in range(n):
                d = one + abs(x[i, j])
                dx[i, j] = dy[i, j] / (d * d)
    elif kind == TANH:
        for i in range(m):
            for j in range(n):
                t = y[i, j]
                dx[i, j] = dy[i, j] * (one - t * t)
    elif kind == HARD_TANH:
        for i in range(m):
            for j in range(n):
                v = x[i, j]
                dx[i, j] = dy[i, j] if (v >= -one and v <= one) else zero
    elif kind == LOG_SIGMOID:
        for i in range(m):
            for j in range(n):
                dx[i, j] = dy[i, j] * _sigmoid(-x[i, j])
    elif kind == SQUAREPLUS:
        # d/dx (x + s) / 2 = (1 + x / s) / 2 = y / s, with no cancellation for x < 0.
        for i in range(m):
            for j in range(n):
                dx[i, j] = dy[i, j] * (y[i, j] / _squareplus_root(x[i, j], a))
    elif kind == EXPONENTIAL:
        for i in range(m):
            for j in range(n):
                dx[i, j] = dy[i, j] * y[i, j]
    elif kind == SOFTMAX:
        for i in range(m):
            total = zero
            for j in range(n):
                total += dy[i, j] * y[i, j]
            for j in range(n):
                dx[i, j] = y[i, j] * (dy[i, j] - total)
    elif kind == LOG_SOFTMAX:
        for i in range(m):
            total = zero
            for j in range(n):
                total += dy[i, j]
            for j in range(n):
                dx[i, j] = dy[i, j] - math.exp(y[i, j]) * total
    elif kind == SOFT_SHRINK or kind == HARD_SHRINK:
        for i in range(m):
            for j in range(n):
                dx[i, j] = dy[i, j] if abs(x[i, j]) > a else zero
    elif kind == TANH_SHRINK:
        for i in range(m):
            for j in range(n):
                t = math.tanh(x[i, j])
                dx[i, j] = dy[i, j] * (t * t)
    elif kind == SPARSE_PLUS:
        half = x.dtype.type(0.5)
        for i in range(m):
            for j in range(n):
                v = x[i, j]
                g = zero if v <= -one else (half * (v + one) if v < one else one)
                dx[i, j] = dy[i, j] * g
    elif kind == SPARSE_SIGMOID:
        half = x.dtype.type(0.5)
        for i in range(m):
            for j in range(n):
                v = x[i, j]
                dx[i, j] = dy[i, j] * half if (v > -one and v < one) else zero
    elif kind == THRESHOLD:
        for i in range(m):
            for j in range(n):
                dx[i, j] = dy[i, j] if x[i, j] > a else zero
    else:
        raise ValueError("unknown activation kind")


# --------------------------------------------------------------------------- Python wrappers

_FLOATS = (np.dtype(np.float32), np.dtype(np.float64))


def _check_dtype(a):
    if a.dtype not in _FLOATS:
        raise TypeError(f"activation kernels take float32 or float64 arrays, got {a.dtype}")


def _to_rows(a, kind, axis):
    """A C-contiguous 2-D view or copy of ``a`` and a function mapping a 2-D result back."""
    if kind in ROW_WISE:
        if a.ndim == 0:
            return np.ascontiguousarray(a).reshape(1, 1), lambda r: r.reshape(())
        moved = np.moveaxis(a, axis, -1)
        shape = moved.shape
        rows = np.ascontiguousarray(moved).reshape(math.prod(shape[:-1]), shape[-1])
        return rows, lambda r: np.moveaxis(r.reshape(shape), -1, axis)
    shape = a.shape
    if a.flags.f_contiguous and not a.flags.c_contiguous:
        # Element-wise: an F-ordered array is a C-ordered one read transposed; no copy needed.
        return a.T.reshape(1, -1), lambda r: r.reshape(shape[::-1]).T
    return np.ascontiguousarray(a).reshape(1, -1), lambda r: r.reshape(shape)


def activation_forward(x, kind, p0=0.0, p1=np.inf, p2=0.0, out=None, axis=-1):
    """``activation(x)`` for a float32/float64 array of any rank and layout.

    Row-wise kinds (softmax, log_softmax) work along ``axis``. With ``out`` (same shape and dtype)
    the result is written there and ``out`` is returned; ``out`` may be ``x``.
    """
    x = np.asarray(x)
    _check_dtype(x)
    rows, back = _to_rows(x, kind, axis)
    result = np.empty_like(rows)
    activation_forward_into(rows, result, int(kind), float(p0), float(p1), float(p2))
    result = back(result)
    if out is None:
        return result
    out[...] = result
    return out


def activation_backward(x, dy, kind, p0=0.0, p1=np.inf, p2=0.0, y=None, axis=-1):
    """``dL/dx`` from ``dL/dy`` for a float32/float64 array of any rank and layout.

    ``y`` (the forward output) is computed when not given and the kind needs it. ``dy`` is cast to
    ``x``'s dtype; the result has ``x``'s shape and dtype.
    """
    x = np.asarray(x)
    _check_dtype(x)
    dy = np.asarray(dy, dtype=x.dtype)
    if dy.shape != x.shape:
        raise ValueError(f"dy has shape {dy.shape}, expected {x.shape}")
    if kind in NEEDS_Y:
        if y is None:
            y = activation_forward(x, kind, p0, p1, p2, axis=axis)
        y = np.asarray(y, dtype=x.dtype)
    else:
        y = x
    # Same transform for all three so their elements line up.
    x_rows, back = _to_rows(np.asarray(x, order="C"), kind, axis)
    y_rows, _ = _to_rows(np.asarray(y, order="C"), kind, axis)
    dy_rows, _ = _to_rows(np.asarray(dy, order="C"), kind, axis)
    dx = np.empty_like(x_rows)
    params = float(p0), float(p1), float(p2)
    activation_backward_into(x_rows, y_rows, dy_rows, dx, int(kind), *params)
    return back(dx)
