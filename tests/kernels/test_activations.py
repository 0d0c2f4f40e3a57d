"""Activation kernels: Keras reference cases, a NumPy-reference / finite-difference check of every
kind over generated arrays, and pinned values at the extremes and at the kinks."""

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from numdense.kernels import activation_kinds as K
from numdense.kernels.cpu.activations import (
    SELU_ALPHA,
    SELU_SCALE,
    activation_backward,
    activation_backward_into,
    activation_forward,
    activation_forward_into,
)
from tests import reference

INF = math.inf
ALL_KINDS = sorted(v for k, v in vars(K).items() if k.isupper() and isinstance(v, int))

# Keras name -> (kind, p0, p1, p2) with Keras 3 defaults.
KERAS_SPECS = {
    "linear": (K.LINEAR,),
    "relu": (K.RELU,),
    "leaky_relu": (K.LEAKY_RELU, 0.2),
    "relu6": (K.RELU6,),
    "elu": (K.ELU, 1.0),
    "selu": (K.SELU,),
    "celu": (K.CELU, 1.0),
    "gelu": (K.GELU,),
    "sigmoid": (K.SIGMOID,),
    "hard_sigmoid": (K.HARD_SIGMOID,),
    "hard_silu": (K.HARD_SILU,),
    "silu": (K.SILU,),
    "mish": (K.MISH,),
    "softplus": (K.SOFTPLUS,),
    "softsign": (K.SOFTSIGN,),
    "tanh": (K.TANH,),
    "hard_tanh": (K.HARD_TANH,),
    "log_sigmoid": (K.LOG_SIGMOID,),
    "squareplus": (K.SQUAREPLUS, 4.0),
    "exponential": (K.EXPONENTIAL,),
    "softmax": (K.SOFTMAX,),
    "log_softmax": (K.LOG_SOFTMAX,),
}


@pytest.mark.parametrize("case", reference.cases("activation"), ids=reference.case_id)
def test_keras_reference(case):
    data = reference.load(case)
    spec = KERAS_SPECS[case["activation"]]
    y = activation_forward(data["x"], *spec)
    dx = activation_backward(data["x"], data["cotangent"], *spec, y=y)
    assert y.dtype == dx.dtype == np.float32
    np.testing.assert_allclose(y, data["y"], **reference.FORWARD_TOL)
    np.testing.assert_allclose(dx, data["dx"], **reference.FORWARD_TOL)


# --------------------------------------------------------------------------- NumPy reference


def _sigmoid(x):
    return np.exp(-np.logaddexp(0.0, -x))


def _keras_relu(x, slope, max_value, threshold):
    """Keras 3 ``ReLU.static_call`` transcribed to NumPy."""
    if slope != 0 and max_value == INF and threshold == 0:
        return np.where(x > 0, x, slope * x)
    if threshold != 0:
        pos = x * (x > threshold)
    elif max_value == 6:
        pos = np.clip(x, 0, 6)
    else:
        pos = np.maximum(x, 0)
    if max_value != INF and not (threshold == 0 and max_value == 6):
        pos = np.clip(pos, 0, max_value)
    return pos - slope * np.maximum(threshold - x, 0)


def numpy_activation(kind, x, p0=0.0, p1=INF, p2=0.0):
    """Plain NumPy float64 formulas, written independently of the kernels, along the last axis."""
    x = np.asarray(x, dtype=np.float64)
    erf = np.vectorize(math.erf, otypes=[float])
    softplus = np.logaddexp(0.0, x)
    hard_sigmoid = np.clip(x / 6 + 0.5, 0, 1)
    k = np.sqrt(2 / np.pi)
    with np.errstate(all="ignore"):
        formulas = {
            K.LINEAR: lambda: x,
            K.RELU: lambda: _keras_relu(x, p0, p1, p2),
            K.LEAKY_RELU: lambda: np.where(x > 0, x, p0 * x),
            K.RELU6: lambda: np.clip(x, 0, 6),
            K.ELU: lambda: np.where(x > 0, x, p0 * np.expm1(x)),
            K.SELU: lambda: SELU_SCALE * np.where(x > 0, x, SELU_ALPHA * np.expm1(x)),
            K.CELU: lambda: np.maximum(x, 0) + p0 * np.expm1(np.minimum(x, 0) / p0),
            K.GELU: lambda: 0.5 * x * (1 + erf(x / np.sqrt(2))),
            K.GELU_APPROX: lambda: 0.5 * x * (1 + np.tanh(k * (x + 0.044715 * x**3))),
            K.SIGMOID: lambda: _sigmoid(x),
            K.HARD_SIGMOID: lambda: hard_sigmoid,
            K.HARD_SILU: lambda: x * hard_sigmoid,
            K.SILU: lambda: x * _sigmoid(x),
            K.MISH: lambda: x * np.tanh(softplus),
            K.SOFTPLUS: lambda: softplus,
            K.SOFTSIGN: lambda: x / (1 + np.abs(x)),
            K.TANH: lambda: np.tanh(x),
            K.HARD_TANH: lambda: np.clip(x, -1, 1),
            K.LOG_SIGMOID: lambda: -np.logaddexp(0.0, -x),
            K.SQUAREPLUS: lambda: (x + np.sqrt(x * x + p0)) / 2,
            K.EXPONENTIAL: lambda: np.exp(x),
            K.SOFTMAX: lambda: np.exp(x - _logsumexp(x)),
            K.LOG_SOFTMAX: lambda: x - _logsumexp(x),
            K.SOFT_SHRINK: lambda: np.sign(x) * np.maximum(np.abs(x) - p0, 0),
            K.HARD_SHRINK: lambda: np.where(np.abs(x) > p0, x, 0.0),
            K.TANH_SHRINK: lambda: x - np.tanh(x),
            K.SPARSE_PLUS: lambda: np.where(x <= -1, 0.0, np.where(x < 1, (x + 1) ** 2 / 4, x)),
            K.SPARSE_SIGMOID: lambda: np.clip((x + 1) / 2, 0, 1),
            K.THRESHOLD: lambda: np.where(x > p0, x, p1),
        }
        return formulas[kind]()


def _logsumexp(x):
    if x.shape[-1] == 0:
        return np.zeros(x.shape[:-1] + (1,))
    top = np.max(x, axis=-1, keepdims=True)
    return top + np.log(np.sum(np.exp(x - top), axis=-1, keepdims=True))


def kinks(kind, p0, p1, p2):
    """Points where the kind's derivative jumps (finite differences are skipped near them)."""
    return {
        K.RELU: [0.0, p2, p1 if p1 != INF else 0.0],
        K.LEAKY_RELU: [0.0],
        K.SOFTSIGN: [0.0],  # second derivative jumps
        K.RELU6: [0.0, 6.0],
        K.ELU: [0.0],
        K.SELU: [0.0],
        K.CELU: [0.0],
        K.HARD_SIGMOID: [-3.0, 3.0],
        K.HARD_SILU: [-3.0, 3.0],
        K.HARD_TANH: [-1.0, 1.0],
        K.SOFT_SHRINK: [-p0, p0],
        K.HARD_SHRINK: [-p0, p0],
        K.SPARSE_PLUS: [-1.0, 1.0],
        K.SPARSE_SIGMOID: [-1.0, 1.0],
        K.THRESHOLD: [p0],
    }.get(kind, [])


PARAMS = {
    K.RELU: st.tuples(
        st.sampled_from([0.0, 0.1, 0.3]), st.sampled_from([INF, 6.0, 2.5]), st.sampled_from([0.0, 0.5, -1.0])
    ),
    K.LEAKY_RELU: st.tuples(st.sampled_from([0.2, 0.01, 1.5]), st.just(INF), st.just(0.0)),
    K.ELU: st.tuples(st.sampled_from([1.0, 0.5, 2.0]), st.just(INF), st.just(0.0)),
    K.CELU: st.tuples(st.sampled_from([1.0, 0.5, 2.0]), st.just(INF), st.just(0.0)),
    K.SQUAREPLUS: st.tuples(st.sampled_from([4.0, 1.0, 0.25]), st.just(INF), st.just(0.0)),
    K.SOFT_SHRINK: st.tuples(st.sampled_from([0.5, 1.0]), st.just(INF), st.just(0.0)),
    K.HARD_SHRINK: st.tuples(st.sampled_from([0.5, 1.0]), st.just(INF), st.just(0.0)),
    K.THRESHOLD: st.tuples(st.sampled_from([0.0, 0.7]), st.sampled_from([0.0, -2.0]), st.just(0.0)),
}
TOL = {np.float32: dict(rtol=2e-5, atol=2e-6), np.float64: dict(rtol=1e-10, atol=1e-12)}
GRAD_TOL = {np.float32: dict(rtol=2e-5, atol=2e-6), np.float64: dict(rtol=1e-6, atol=1e-7)}


@st.composite
def layouts(draw, dtype):
    """An array of random shape (empty and 1x1 included) in C, F or strided layout."""
    shape = tuple(draw(st.lists(st.integers(0, 5), min_size=0, max_size=3)))
    values = draw(hnp.arrays(np.float64, shape, elements=st.floats(-8, 8, width=32)))
    values = values.astype(dtype)
    layout = draw(st.sampled_from(["C", "F", "strided"]))
    if layout == "F":
        return np.asfortranarray(values)
    if layout == "strided" and values.ndim:
        big = np.zeros(values.shape[:-1] + (2 * values.shape[-1],), dtype)
        big[..., ::2] = values
        return big[..., ::2]
    return values


def central_vjp(f, x, dy, row_wise):
    """Finite-difference vector-Jacobian product of ``f`` at ``x`` (float64)."""
    h = 1e-5 * np.maximum(1.0, np.abs(x))
    if not row_wise:
        return dy * (f(x + h) - f(x - h)) / ((x + h) - (x - h))
    dx = np.zeros_like(x)
    for j in np.ndindex(x.shape):
        up, down = x.copy(), x.copy()
        up[j] += h[j]
        down[j] -= h[j]
        dx[j] = np.sum(dy * (f(up) - f(down))) / (up[j] - down[j])
    return dx


def check_activation(kind, params, x, dy, axis=-1):
    """Forward against the NumPy formulas, backward against float64 central differences."""
    dtype = x.dtype.type
    row_wise = kind in K.ROW_WISE
    before = x.copy()
    y = activation_forward(x, kind, *params, axis=axis)
    assert y.shape == x.shape and y.dtype == x.dtype
    x64 = x.astype(np.float64)
    if row_wise and x.ndim:
        expected = np.moveaxis(numpy_activation(kind, np.moveaxis(x64, axis, -1), *params), -1, axis)
    elif row_wise:
        expected = numpy_activation(kind, x64.reshape(1), *params).reshape(())
    else:
        expected = numpy_activation(kind, x64, *params)
    np.testing.assert_allclose(y, expected, **TOL[dtype])

    dx = activation_backward(x, dy, kind, *params, y=y if x.size % 2 else None, axis=axis)
    assert dx.shape == x.shape and dx.dtype == x.dtype
    np.testing.assert_array_equal(x, before)
    f64 = lambda t: activation_forward(t, kind, *params, axis=axis)  # noqa: E731
    fd = central_vjp(f64, x64, dy.astype(np.float64), row_wise)
    far = np.ones(x.shape, bool)
    for point in kinks(kind, *params):
        far &= np.abs(x64 - point) > 1e-4 * max(1.0, abs(point))
    np.testing.assert_allclose(dx[far], fd[far], **GRAD_TOL[dtype])


@pytest.mark.parametrize("kind", ALL_KINDS)
@given(data=st.data())
def test_matches_numpy_and_finite_differences(kind, data):
    dtype = data.draw(st.sampled_from([np.float32, np.float64]))
    x = data.draw(layouts(dtype))
    dy = data.draw(hnp.arrays(dtype, x.shape, elements=st.floats(-2, 2, width=32)))
    params = data.draw(PARAMS.get(kind, st.just((0.0, INF, 0.0))))
    axis = data.draw(st.integers(-x.ndim, x.ndim - 1)) if x.ndim else -1
    check_activation(kind, params, x, dy, axis=axis)


@pytest.mark.parametrize("shape", [(), (1, 1), (0, 3), (3, 0), (1,), (2, 1, 3)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_small_and_empty_shapes(shape, dtype):
    rng = np.random.default_rng(len(shape))
    x = (rng.normal(size=shape) * 3).astype(dtype)
    dy = rng.normal(size=shape).astype(dtype)
    for kind in ALL_KINDS:
        params = (0.5, -1.0, 0.0) if kind == K.THRESHOLD else (1.0, INF, 0.0)
        check_activation(kind, params, np.asarray(x), np.asarray(dy))


def test_every_kind_is_covered():
    assert set(ALL_KINDS) == set(range(len(ALL_KINDS)))
    names = {k for k, v in vars(K).items() if k.isupper() and isinstance(v, int)}
    assert names >= {"SOFTMAX", "LOG_SOFTMAX", "THRESHOLD"}


# --------------------------------------------------------------------------- pinned values


def fwd_bwd(kind, values, *params, dtype=np.float32):
    x = np.asarray(values, dtype=dtype)
    with np.errstate(all="raise"):  # the kernels must not rely on NumPy warnings
        y = activation_forward(x, kind, *params)
        dx = activation_backward(x, np.ones_like(x), kind, *params, y=y)
    return y, dx


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_extremes_are_finite_and_exact(dtype):
    y, dx = fwd_bwd(K.SIGMOID, [-400, 400, -1e4, 1e4], dtype=dtype)
    tiny = float(dtype(math.exp(-400)))  # 0 in float32, 1.9e-174 in float64
    assert y.tolist() == [tiny, 1.0, 0.0, 1.0] and dx.tolist() == [tiny, 0.0, 0.0, 0.0]

    y, dx = fwd_bwd(K.SOFTPLUS, [400, -400, 1e4, -1e4], dtype=dtype)
    assert y[0] == 400 and y[2] == 1e4 and y[3] == 0
    assert y[1] == dtype(np.exp(np.float64(-400)))  # 0 in float32, 1.9e-174 in float64
    assert dx.tolist() == [1.0, dx[1], 1.0, 0.0] and 0 <= float(dx[1]) < 1e-170

    y, dx = fwd_bwd(K.LOG_SIGMOID, [-1e4, 1e4, -400], dtype=dtype)
    assert y.tolist() == [-1e4, 0.0, -400.0] and dx.tolist() == [1.0, 0.0, 1.0]

    for kind in (K.SILU, K.MISH, K.GELU, K.GELU_APPROX):
        y, dx = fwd_bwd(kind, [-1e4, 1e4, -400, 400], dtype=dtype)
        np.testing.assert_allclose(y, [0, 1e4, 0, 400], atol=1e-30)
        np.testing.assert_allclose(dx, [0, 1, 0, 1], atol=1e-30)

    y, dx = fwd_bwd(K.ELU, [-1e4], 1.0, dtype=dtype)
    assert y.tolist() == [-1.0] and dx.tolist() == [0.0]
    y, dx = fwd_bwd(K.SQUAREPLUS, [-1e4, 1e4], 4.0, dtype=dtype)
    np.testing.assert_allclose(y, [1e-4, 1e4], rtol=1e-6)
    np.testing.assert_allclose(dx, [1e-8, 1.0], rtol=1e-5)
    y, dx = fwd_bwd(K.TANH, [-400, 400], dtype=dtype)
    assert y.tolist() == [-1, 1] and dx.tolist() == [0, 0]


def test_exponential_overflows_to_inf_like_numpy():
    x = np.array([1e4, -1e4, 100.0], np.float32)
    y = activation_forward(x, K.EXPONENTIAL)
    with np.errstate(over="ignore"):
        np.testing.assert_array_equal(y, np.exp(x))
    assert y[0] == np.inf and y[1] == 0
    assert activation_backward(x, np.ones_like(x), K.EXPONENTIAL)[0] == np.inf


@pytest.mark.parametrize("kind", [K.SOFTMAX, K.LOG_SOFTMAX])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_softmax_of_huge_and_equal_logits(kind, dtype):
    big = activation_forward(np.array([[1000, 1001, 1002]], dtype), kind)
    small = activation_forward(np.array([[0, 1, 2]], dtype), kind)
    np.testing.assert_allclose(big, small, rtol=1e-6)
    equal = activation_forward(np.full((2, 4), 7.5, dtype), kind)
    np.testing.assert_allclose(equal, 0.25 if kind == K.SOFTMAX else np.log(0.25), rtol=1e-6)
    assert np.all(np.isfinite(activation_backward(np.array([[1e4, -1e4, 0]], dtype), np.ones((1, 3)), kind)))


KINK_GRADIENTS = [
    # kind, params, x, expected y, expected dy/dx (TensorFlow's choice at the kink)
    (K.RELU, (), 0.0, 0.0, 0.0),
    (K.RELU, (0.0, 5.0, 0.0), 5.0, 5.0, 1.0),  # clip_by_value passes ties
    (K.RELU, (0.0, 6.0, 0.0), 6.0, 6.0, 0.0),  # max_value=6 takes tf.nn.relu6
    (K.RELU, (0.0, INF, 1.0), 1.0, 0.0, 0.0),  # threshold mask is strict
    (K.RELU, (0.2, INF, 0.0), 0.0, 0.0, 0.2),  # leaky_relu shortcut
    (K.LEAKY_RELU, (0.2,), 0.0, 0.0, 0.2),
    (K.RELU6, (), 0.0, 0.0, 0.0),
    (K.RELU6, (), 6.0, 6.0, 0.0),
    (K.HARD_SIGMOID, (), -3.0, 0.0, 0.0),
    (K.HARD_SIGMOID, (), 3.0, 1.0, 0.0),
    (K.HARD_SILU, (), -3.0, 0.0, 0.0),
    (K.HARD_SILU, (), 3.0, 3.0, 1.0),
    (K.HARD_TANH, (), -1.0, -1.0, 1.0),
    (K.HARD_TANH, (), 1.0, 1.0, 1.0),
    (K.ELU, (1.0,), 0.0, 0.0, 1.0),
    (K.ELU, (2.0,), 0.0, 0.0, 2.0),
    (K.SELU, (), 0.0, 0.0, SELU_SCALE),
    (K.CELU, (1.0,), 0.0, 0.0, 2.0),
    (K.GELU, (), 0.0, 0.0, 0.5),
    (K.GELU_APPROX, (), 0.0, 0.0, 0.5),
    (K.SOFT_SHRINK, (0.5,), 0.5, 0.0, 0.0),
    (K.HARD_SHRINK, (0.5,), -0.5, 0.0, 0.0),
    (K.SPARSE_PLUS, (), -1.0, 0.0, 0.0),
    (K.SPARSE_PLUS, (), 1.0, 1.0, 1.0),
    (K.SPARSE_SIGMOID, (), 1.0, 1.0, 0.0),
    (K.THRESHOLD, (0.5, -3.0), 0.5, -3.0, 0.0),
]


@pytest.mark.parametrize("kind, params, x, y, grad", KINK_GRADIENTS)
def test_kinks_follow_tensorflow(kind, params, x, y, grad):
    out, dx = fwd_bwd(kind, [x], *params, dtype=np.float64)
    assert out[0] == y
    assert dx[0] == pytest.approx(grad, rel=1e-15)


@pytest.mark.parametrize("kind", ALL_KINDS)
def test_into_kernels_work_in_place(kind):
    rng = np.random.default_rng(kind)
    x = rng.normal(size=(3, 5)).astype(np.float32) * 3
    dy = rng.normal(size=(3, 5)).astype(np.float32)
    params = (0.5, 2.0, 0.0) if kind == K.THRESHOLD else (1.0, INF, 0.0)
    y = np.empty_like(x)
    activation_forward_into(x, y, kind, *params)
    dx = np.empty_like(x)
    activation_backward_into(x, y, dy, dx, kind, *params)
    inplace = x.copy()
    activation_forward_into(inplace, inplace, kind, *params)
    np.testing.assert_array_equal(inplace, y)
    activation_backward_into(x, y, dy, dy, kind, *params)
    np.testing.assert_array_equal(dy, dx)


def test_unknown_kind_and_bad_dtype():
    x = np.zeros((2, 2))
    with pytest.raises(ValueError, match="unknown activation kind"):
        activation_forward_into(x, x, 99, 0.0, INF, 0.0)
    with pytest.raises(TypeError, match="float32 or float64"):
        activation_forward(np.zeros(3, np.int64), K.RELU)


def test_out_argument_and_axis():
    x = np.arange(24, dtype=np.float64).reshape(2, 3, 4) / 7
    out = np.empty_like(x)
    assert activation_forward(x, K.TANH, out=out) is out
    np.testing.assert_allclose(out, np.tanh(x))
    along1 = activation_forward(x, K.SOFTMAX, axis=1)
    np.testing.assert_allclose(along1.sum(axis=1), 1.0)
    np.testing.assert_allclose(along1, np.exp(x) / np.exp(x).sum(axis=1, keepdims=True))
