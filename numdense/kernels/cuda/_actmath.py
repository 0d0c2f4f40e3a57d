"""Per-element activation math as ``@cuda.jit(device=True)`` functions, one set per float dtype.

Formulas and kink conventions are those of ``numdense.kernels.cpu.activations`` (Keras 3 on its
TensorFlow backend); constants come from that module. Every literal is a constant of the
set's dtype so float32 math never promotes to float64.
"""

import functools
import math
from types import SimpleNamespace

import numpy as np
from numba import cuda

from .. import activation_kinds as A
from ._dmath import fmax, fmin
from ..cpu.activations import _GELU_CUBIC, _INV_SQRT_2PI, _SQRT_2_OVER_PI, _SQRT_HALF, SELU_ALPHA, SELU_SCALE


@functools.lru_cache(maxsize=None)
def activation_math(dtype):
    """Device functions for one NumPy float dtype:

    ``forward(v, kind, a, b, c)``: activation of scalar v (element-wise kinds; row-wise kinds
    return v). ``backward(v, y, g, kind, a, b, c)``: ``g * activation'(v)`` with y = forward(v)
    (row-wise kinds return g). a, b, c are p0, p1, p2 already cast to the dtype.
    """
    T = np.dtype(dtype).type
    ZERO, ONE, HALF, QUARTER = T(0.0), T(1.0), T(0.5), T(0.25)
    TWO, THREE, SIX = T(2.0), T(3.0), T(6.0)
    SIXTH = ONE / SIX
    INF = T(np.inf)
    S_ALPHA, S_SCALE, S_SCALE_ALPHA = T(SELU_ALPHA), T(SELU_SCALE), T(SELU_SCALE * SELU_ALPHA)
    SQRT_HALF, INV_SQRT_2PI, K_GELU, C_GELU = T(_SQRT_HALF), T(_INV_SQRT_2PI), T(_SQRT_2_OVER_PI), T(_GELU_CUBIC)

    @cuda.jit(device=True)
    def sigmoid(v):
        return ONE / (ONE + math.exp(-v))

    @cuda.jit(device=True)
    def softplus(v):
        return fmax(v, ZERO) + math.log1p(math.exp(-abs(v)))

    @cuda.jit(device=True)
    def hard_sigmoid(v):
        return fmin(fmax(v + THREE, ZERO), SIX) / SIX

    @cuda.jit(device=True)
    def hard_sigmoid_grad(v):
        w = v + THREE
        return SIXTH if (w > ZERO and w < SIX) else ZERO

    @cuda.jit(device=True)
    def gelu_approx_grad(v):
        s = sigmoid(TWO * K_GELU * (v + C_GELU * v * v * v))
        w = s * (ONE - s)
        du = TWO * K_GELU * (ONE + THREE * C_GELU * v * v)
        # w == 0 where the curve is flat; skipping avoids 0 * inf when du overflows.
        return s + (v * w * du if w != ZERO else ZERO)

    @cuda.jit(device=True)
    def squareplus_root(v, b):
        return math.hypot(v, math.sqrt(b))

    @cuda.jit(device=True)
    def relu_modes(a, b, c):
        """0: plain relu, 1: leaky (Keras' shortcut), 2: general; then use_relu6, clip."""
        if a == ZERO and c == ZERO and b == INF:
            return 0, False, False
        if c == ZERO and b == INF:
            return 1, False, False
        use_relu6 = c == ZERO and b == SIX
        return 2, use_relu6, b != INF and not use_relu6

    @cuda.jit(device=True)
    def relu_general(v, slope, max_value, threshold, use_relu6, clip):
        if threshold != ZERO:
            pos = v if v > threshold else ZERO
        elif use_relu6:
            pos = fmin(fmax(v, ZERO), SIX)
        else:
            pos = fmax(v, ZERO)
        if clip:
            pos = fmax(fmin(pos, max_value), ZERO)
        if slope != ZERO:
            pos -= slope * fmax(threshold - v, ZERO)
        return pos

    @cuda.jit(device=True)
    def relu_general_grad(v, slope, max_value, threshold, use_relu6, clip):
        if threshold != ZERO:
            pos = v if v > threshold else ZERO
            g = ONE if v > threshold else ZERO
        elif use_relu6:
            pos = v
            g = ONE if (v > ZERO and v < SIX) else ZERO
        else:
            pos = fmax(v, ZERO)
            g = ONE if v > ZERO else ZERO
        if clip and not (pos <= max_value and fmin(pos, max_value) >= ZERO):
            g = ZERO
        if slope != ZERO and threshold - v > ZERO:
            g += slope
        return g

    @cuda.jit(device=True)
    def forward(v, kind, a, b, c):
        if kind == A.RELU:
            mode, use_relu6, clip = relu_modes(a, b, c)
            if mode == 0:
                return fmax(v, ZERO)
            if mode == 1:
                return v if v > ZERO else a * v
            return relu_general(v, a, b, c, use_relu6, clip)
        if kind == A.LEAKY_RELU:
            return v if v > ZERO else a * v
        if kind == A.RELU6:
            return fmin(fmax(v, ZERO), SIX)
        if kind == A.ELU:
            return v if v > ZERO else a * math.expm1(v)
        if kind == A.SELU:
            return S_SCALE * (v if v > ZERO else S_ALPHA * math.expm1(v))
        if kind == A.CELU:
            return fmax(v, ZERO) + a * math.expm1(fmin(v, ZERO) / a)
        if kind == A.GELU:
            return HALF * v * math.erfc(-v * SQRT_HALF)
        if kind == A.GELU_APPROX:
            return v * sigmoid(TWO * (K_GELU * (v + C_GELU * v * v * v)))
        if kind == A.SIGMOID:
            return sigmoid(v)
        if kind == A.HARD_SIGMOID:
            return hard_sigmoid(v)
        if kind == A.HARD_SILU:
            return v * hard_sigmoid(v)
        if kind == A.SILU:
            return v * sigmoid(v)
        if kind == A.MISH:
            return v * math.tanh(softplus(v))
        if kind == A.SOFTPLUS:
            return softplus(v)
        if kind == A.SOFTSIGN:
            return v / (ONE + abs(v))
        if kind == A.TANH:
            return math.tanh(v)
        if kind == A.HARD_TANH:
            return fmax(fmin(v, ONE), -ONE)
        if kind == A.LOG_SIGMOID:
            return -softplus(-v)
        if kind == A.SQUAREPLUS:
            s = squareplus_root(v, a)
            return HALF * (v + s) if v >= ZERO else HALF * a / (s - v)
        if kind == A.EXPONENTIAL:
            return math.exp(v)
        if kind == A.SOFT_SHRINK:
            return v - a if v > a else (v + a if v < -a else ZERO)
        if kind == A.HARD_SHRINK:
            return v if abs(v) > a else ZERO
        if kind == A.TANH_SHRINK:
            return v - math.tanh(v)
        if kind == A.SPARSE_PLUS:
            w = v + ONE
            return ZERO if v <= -ONE else (QUARTER * w * w if v < ONE else v)
        if kind == A.SPARSE_SIGMOID:
            return ZERO if v <= -ONE else (ONE if v >= ONE else HALF * (v + ONE))
        if kind == A.THRESHOLD:
            return v if v > a else b
        return v  # LINEAR and the row-wise kinds

    @cuda.jit(device=True)
    def backward(v, y, g, kind, a, b, c):
        if kind == A.RELU:
            mode, use_relu6, clip = relu_modes(a, b, c)
            if mode == 0:
                return g if v > ZERO else ZERO
            if mode == 1:
                return g if v > ZERO else a * g
            return g * relu_general_grad(v, a, b, c, use_relu6, clip)
        if kind == A.LEAKY_RELU:
            return g if v > ZERO else a * g
        if kind == A.RELU6:
            return g if (v > ZERO and v < SIX) else ZERO
        if kind == A.ELU:
            return g * (ONE if v > ZERO else a * math.exp(v))
        if kind == A.SELU:
            return g * (S_SCALE_ALPHA * math.exp(v) if v < ZERO else S_SCALE)
        if kind == A.CELU:
            d = ONE if v >= ZERO else ZERO
            if v <= ZERO:
                d += math.exp(v / a)
            return g * d
        if kind == A.GELU:
            cdf = HALF * math.erfc(-v * SQRT_HALF)
            return g * (cdf + v * INV_SQRT_2PI * math.exp(-HALF * v * v))
        if kind == A.GELU_APPROX:
            return g * gelu_approx_grad(v)
        if kind == A.SIGMOID:
            return g * (y * (ONE - y))
        if kind == A.HARD_SIGMOID:
            return g * hard_sigmoid_grad(v)
        if kind == A.HARD_SILU:
            return g * (hard_sigmoid(v) + v * hard_sigmoid_grad(v))
        if kind == A.SILU:
            s = sigmoid(v)
            return g * (s * (ONE + v * (ONE - s)))
        if kind == A.MISH:
            t = math.tanh(softplus(v))
            return g * (t + v * (ONE - t * t) * sigmoid(v))
        if kind == A.SOFTPLUS:
            return g * sigmoid(v)
        if kind == A.SOFTSIGN:
            d = ONE + abs(v)
            return g / (d * d)
        if kind == A.TANH:
            return g * (ONE - y * y)
        if kind == A.HARD_TANH:
            return g if (v >= -ONE and v <= ONE) else ZERO
        if kind == A.LOG_SIGMOID:
            return g * sigmoid(-v)
        if kind == A.SQUAREPLUS:
            # d/dx (x + s) / 2 = y / s, with no cancellation for x < 0.
            return g * (y / squareplus_root(v, a))
        if kind == A.EXPONENTIAL:
            return g * y
        if kind == A.SOFT_SHRINK or kind == A.HARD_SHRINK:
            return g if abs(v) > a else ZERO
        if kind == A.TANH_SHRINK:
            t = math.tanh(v)
            return g * (t * t)
        if kind == A.SPARSE_PLUS:
            return g * (ZERO if v <= -ONE else (HALF * (v + ONE) if v < ONE else ONE))
        if kind == A.SPARSE_SIGMOID:
            return g * HALF if (v > -ONE and v < ONE) else ZERO
        if kind == A.THRESHOLD:
            return g if v > a else ZERO
        return g  # LINEAR and the row-wise kinds

    return SimpleNamespace(forward=forward, backward=backward)
