import numpy as np
import pytest
from scipy.special import erfc

from numdense.kernels import activation_kinds as A

from .harness import assert_close, backends, run

KINDS = sorted(v for k, v in vars(A).items() if k.isupper() and isinstance(v, int))


def _softplus(x):
    return np.logaddexp(x, 0)


def _sigmoid(x):
    return 1 / (1 + np.exp(-x))


def _relu(x, slope, max_value, threshold):
    pos = np.where(x > threshold, x, 0) if threshold else np.maximum(x, 0)
    pos = np.clip(pos, 0, max_value)
    return pos - slope * np.maximum(threshold - x, 0)


def _softmax(x):
    e = np.exp(x - x.max(1, keepdims=True))
    return e / e.sum(1, keepdims=True)


# kind -> (params, NumPy forward in float64)
REFERENCE = {
    A.LINEAR: ((0, 0, 0), lambda x, a, b, c: x),
    A.RELU: ((0.1, 1.5, 0.2), _relu),
    A.LEAKY_RELU: ((0.2, 0, 0), lambda x, a, b, c: np.where(x > 0, x, a * x)),
    A.RELU6: ((0, 0, 0), lambda x, a, b, c: np.clip(x, 0, 6)),
    A.ELU: ((0.7, 0, 0), lambda x, a, b, c: np.where(x > 0, x, a * np.expm1(x))),
    A.SELU: ((0, 0, 0), lambda x, a, b, c: 1.0507009873554805 * np.where(x > 0, x, 1.6732632423543772 * np.expm1(x))),
    A.CELU: ((0.8, 0, 0), lambda x, a, b, c: np.maximum(x, 0) + a * np.expm1(np.minimum(x, 0) / a)),
    A.GELU: ((0, 0, 0), lambda x, a, b, c: 0.5 * x * erfc(-x / np.sqrt(2))),
    A.GELU_APPROX: ((0, 0, 0), lambda x, a, b, c: 0.5 * x * (1 + np.tanh(np.sqrt(2 / np.pi) * (x + 0.044715 * x**3)))),
    A.SIGMOID: ((0, 0, 0), lambda x, a, b, c: _sigmoid(x)),
    A.HARD_SIGMOID: ((0, 0, 0), lambda x, a, b, c: np.clip(x / 6 + 0.5, 0, 1)),
    A.HARD_SILU: ((0, 0, 0), lambda x, a, b, c: x * np.clip(x / 6 + 0.5, 0, 1)),
    A.SILU: ((0, 0, 0), lambda x, a, b, c: x * _sigmoid(x)),
    A.MISH: ((0, 0, 0), lambda x, a, b, c: x * np.tanh(_softplus(x))),
    A.SOFTPLUS: ((0, 0, 0), lambda x, a, b, c: _softplus(x)),
    A.SOFTSIGN: ((0, 0, 0), lambda x, a, b, c: x / (1 + abs(x))),
    A.TANH: ((0, 0, 0), lambda x, a, b, c: np.tanh(x)),
    A.HARD_TANH: ((0, 0, 0), lambda x, a, b, c: np.clip(x, -1, 1)),
    A.LOG_SIGMOID: ((0, 0, 0), lambda x, a, b, c: -_softplus(-x)),
    A.SQUAREPLUS: ((4.0, 0, 0), lambda x, a, b, c: 0.5 * (x + np.sqrt(x * x + a))),
    A.EXPONENTIAL: ((0, 0, 0), lambda x, a, b, c: np.exp(x)),
    A.SOFTMAX: ((0, 0, 0), lambda x, a, b, c: _softmax(x)),
    A.LOG_SOFTMAX: ((0, 0, 0), lambda x, a, b, c: np.log(_softmax(x))),
    A.SOFT_SHRINK: ((0.5, 0, 0), lambda x, a, b, c: np.where(x > a, x - a, np.where(x < -a, x + a, 0))),
    A.HARD_SHRINK: ((0.5, 0, 0), lambda x, a, b, c: np.where(abs(x) > a, x, 0)),
    A.TANH_SHRINK: ((0, 0, 0), lambda x, a, b, c: x - np.tanh(x)),
    A.SPARSE_PLUS: ((0, 0, 0), lambda x, a, b, c: np.where(x <= -1, 0, np.where(x < 1, 0.25 * (x + 1) ** 2, x))),
    A.SPARSE_SIGMOID: ((0, 0, 0), lambda x, a, b, c: np.clip(0.5 * (x + 1), 0, 1)),
    A.THRESHOLD: ((0.3, -2.0, 0), lambda x, a, b, c: np.where(x > a, x, b)),
}

# Keras' RELU parameter combinations take different code paths.
RELU_VARIANTS = [(0.0, np.inf, 0.0), (0.3, np.inf, 0.0), (0.0, 6.0, 0.0), (0.1, 1.5, 0.2)]


def _numeric_vjp(f, x, dy, h=1e-6):
    """dy-weighted central differences of f at x (float64), one element at a time."""
    g = np.zeros_like(x)
    for idx in np.ndindex(x.shape):
        e = np.zeros_like(x)
        e[idx] = h
        g[idx] = ((f(x + e) - f(x - e)) * dy).sum() / (2 * h)
    return g


def test_reference_table_covers_every_kind():
    assert sorted(REFERENCE) == KINDS


@backends
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("kind", KINDS)
def test_activation_forward_and_gradient(backend, dtype, kind):
    (p0, p1, p2), ref = REFERENCE[kind]
    rng = np.random.default_rng(kind)
    # Values away from every kink (0, +-1, +-3, 6, thresholds) so finite differences are valid.
    x64 = rng.uniform(-4, 4, size=(3, 7))
    x64 = np.where(np.abs(x64 - np.round(x64 * 5) / 5) < 0.03, x64 + 0.07, x64)
    x = x64.astype(dtype)
    out = np.empty_like(x)
    run(backend, "activations", "activation_forward_into", x, out, kind, p0, p1, p2, outs=[1])
    f = lambda v: ref(v, p0, p1, p2)  # noqa: E731
    assert_close(out, f(x.astype(np.float64)), dtype, scale=5)

    dy = rng.standard_normal(x.shape).astype(dtype)
    dx = np.empty_like(x)
    run(backend, "activations", "activation_backward_into", x, out, dy, dx, kind, p0, p1, p2, outs=[3])
    expected = _numeric_vjp(f, x.astype(np.float64), dy.astype(np.float64))
    np.testing.assert_allclose(dx, expected, rtol=1e-4 if dtype == np.float32 else 1e-6, atol=1e-5)


@pytest.mark.cpu_reference
@pytest.mark.parametrize("params", RELU_VARIANTS)
def test_relu_paths_and_kinks_match_cpu(params):
    """At the kinks (0, max_value, threshold) CUDA must make the CPU kernels' (Keras') choices."""
    x = np.array([[-1.0, 0.0, 0.1, 0.2, 1.5, 6.0, 7.0, -0.3]])
    _compare_with_cpu(A.RELU, x, params)


# Tails stay within what Python's math.exp accepts: the simulator raises OverflowError where a GPU gives inf.
KINKS = np.array([[-3.0, -1.0, -0.5, 0.0, 0.5, 1.0, 3.0, 6.0, 0.3, -20.0, 20.0, 6.5]])


@pytest.mark.cpu_reference
@pytest.mark.parametrize("kind", [k for k in KINDS if k not in A.ROW_WISE])
def test_kinks_and_tails_match_cpu(kind):
    _compare_with_cpu(kind, KINKS, REFERENCE[kind][0])


def _compare_with_cpu(kind, x, params):
    for dtype in (np.float32, np.float64):
        xs = x.astype(dtype)
        results = []
        for backend in ("cpu", "cuda"):
            y = np.empty_like(xs)
            run(backend, "activations", "activation_forward_into", xs, y, kind, *params, outs=[1])
            dx = np.empty_like(xs)
            run(backend, "activations", "activation_backward_into", xs, y, np.ones_like(xs), dx, kind, *params, outs=[3])
            results.append((y, dx))
        for a, b in zip(*results):
            np.testing.assert_allclose(a, b, rtol=4e-6 if dtype == np.float32 else 1e-14, atol=0)


def test_unknown_kind_raises():
    from numba import cuda

    from numdense.kernels.cuda.activations import activation_forward_into

    x = cuda.to_device(np.zeros((1, 2)))
    with pytest.raises(ValueError, match="unknown activation kind"):
        activation_forward_into(x, x, 99, 0.0, 0.0, 0.0)


def test_wrappers_any_rank(rng):
    from numdense.kernels.cpu import activations as cpu
    from numdense.kernels.cuda import activations as gpu

    x = rng.standard_normal((2, 3, 4))
    for kind in (A.SOFTMAX, A.MISH):
        assert_close(gpu.activation_forward(x, kind), cpu.activation_forward(x, kind), np.float64)
        assert_close(gpu.activation_backward(x, x + 1, kind), cpu.activation_backward(x, x + 1, kind), np.float64)
