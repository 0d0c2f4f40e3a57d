"""Kernels at the edges: activations and losses at +-1e4, denormals, both float dtypes, and
arguments whose dtypes disagree. (Out-of-bounds safety: run this file, test_fuzz_api.py and
tests/kernels with NUMBA_BOUNDSCHECK=1, see docs/reliability.md.)"""

import numpy as np
import pytest

from numdense.kernels import activation_kinds as A
from numdense.kernels import loss_kinds as L
from numdense.kernels.cpu import activations, dense, losses, matmul

from .numpy_ref import ACTIVATIONS

PARAMS = {A.RELU: (0.0, np.inf, 0.0), A.LEAKY_RELU: (0.2, 0, 0), A.ELU: (1.0, 0, 0),
          A.CELU: (1.0, 0, 0), A.SQUAREPLUS: (4.0, 0, 0), A.SOFT_SHRINK: (0.5, 0, 0),
          A.HARD_SHRINK: (0.5, 0, 0), A.THRESHOLD: (0.5, -1.0, 0)}
KINDS = [v for k, v in vars(A).items() if k.isupper() and isinstance(v, int)]
NAME_OF = {getattr(A, n.upper()): n for n in ACTIVATIONS if hasattr(A, n.upper())}


def edge_values(dtype):
    tiny = np.finfo(dtype).smallest_subnormal
    return np.array([[-1e4, -1e2, -30.0, -tiny, 0.0, tiny, 30.0, 1e2, 1e4],
                     [1e4, -1e4, tiny * 8, -tiny * 8, 1.0, -1.0, 0.5, -0.5, 1e-30]], dtype)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("kind", KINDS)
def test_activation_forward_and_backward_at_the_edges(kind, dtype):
    x = edge_values(dtype)
    p = PARAMS.get(kind, (0.0, np.inf, 0.0))
    y = activations.activation_forward(x, kind, *p)
    dx = activations.activation_backward(x, np.ones_like(x), kind, *p)
    assert y.dtype == x.dtype and dx.dtype == x.dtype
    assert not np.isnan(y).any() and not np.isnan(dx).any()
    if kind != A.EXPONENTIAL:  # exp(1e4) is inf, and so is its gradient
        assert np.isfinite(y).all() and np.isfinite(dx).all()
    if kind in NAME_OF:
        with np.errstate(over="ignore"):
            expected = ACTIVATIONS[NAME_OF[kind]](x.astype(np.float64))
            expected = expected.astype(dtype)  # overflows to inf where the kernel's does
        np.testing.assert_allclose(y, expected, rtol=1e-6 if dtype == "float32" else 1e-12,
                                   atol=1e-30)


LOGIT_KINDS = [L.BINARY_CROSSENTROPY_LOGITS, L.CATEGORICAL_CROSSENTROPY_LOGITS,
               L.SPARSE_CATEGORICAL_CROSSENTROPY_LOGITS]
PROB_KINDS = [L.BINARY_CROSSENTROPY, L.CATEGORICAL_CROSSENTROPY,
              L.SPARSE_CATEGORICAL_CROSSENTROPY, L.KL_DIVERGENCE, L.POISSON,
              L.MEAN_SQUARED_LOGARITHMIC_ERROR]
VALUE_KINDS = [L.MEAN_SQUARED_ERROR, L.MEAN_ABSOLUTE_ERROR, L.MEAN_ABSOLUTE_PERCENTAGE_ERROR,
               L.HUBER, L.LOG_COSH, L.COSINE_SIMILARITY, L.HINGE, L.SQUARED_HINGE,
               L.CATEGORICAL_HINGE]


def labels(kind, dtype):
    if kind in L.SPARSE:
        return np.array([0, 2, 1], dtype)
    return np.array([[1, 0, 0], [0, 0, 1], [0, 1, 0]], dtype)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("kind", LOGIT_KINDS + PROB_KINDS + VALUE_KINDS)
def test_losses_at_the_edges(kind, dtype):
    if kind in LOGIT_KINDS or kind in VALUE_KINDS:
        pred = np.array([[1e4, -1e4, 0.0], [-1e4, 1e4, 1e4], [1e-40, -1e4, 1e4]], dtype)
    else:  # probabilities at 0 and 1 and denormals
        tiny = np.finfo(dtype).smallest_subnormal
        pred = np.array([[1.0, 0.0, 0.0], [0.0, tiny, 1.0], [tiny, 1.0 - 1e-7, 1e-7]], dtype)
    y = labels(kind, dtype)
    values = losses.loss_values(kind, y, pred)
    grad = losses.loss_grad(kind, y, pred)
    assert values.dtype == pred.dtype and grad.dtype == pred.dtype
    assert np.isfinite(values).all(), values
    assert np.isfinite(grad).all(), grad
    if kind == L.CATEGORICAL_CROSSENTROPY_LOGITS:
        # row 1: logits (-1e4, 1e4, 1e4), true class 2: log(2); row 0: true class wins: 0
        np.testing.assert_allclose(values[:2], [0.0, np.log(2)], atol=1e-6)
    if kind == L.MEAN_SQUARED_ERROR:
        expected = ((y.astype(np.float64) - pred.astype(np.float64)) ** 2).mean(-1)
        np.testing.assert_allclose(values, expected, rtol=1e-6)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_matmul_with_denormals_and_large_values(dtype):
    rng = np.random.default_rng(0)
    a = rng.normal(size=(37, 19)).astype(dtype)
    b = rng.normal(size=(19, 23)).astype(dtype)
    a[::3] *= np.finfo(dtype).smallest_subnormal
    b[:, ::5] *= 1e4
    expected = a.astype(np.float64) @ b.astype(np.float64)
    tol = 1e-5 if dtype == "float32" else 1e-13
    np.testing.assert_allclose(matmul.matmul(a, b), expected, rtol=tol, atol=1e-30)
    np.testing.assert_allclose(matmul.matmul_tn(a.T.copy(), b), expected, rtol=tol, atol=1e-30)
    np.testing.assert_allclose(matmul.matmul_nt(a, b.T.copy()), expected, rtol=tol, atol=1e-30)


@pytest.mark.parametrize("x_dtype, w_dtype", [("float32", "float64"), ("float64", "float32")])
def test_kernels_refuse_mixed_dtypes(x_dtype, w_dtype):
    """Raw *_into kernels get one dtype or a TypeError, never a reinterpretation of memory."""
    x = np.linspace(-1, 1, 6).reshape(2, 3).astype(x_dtype)
    w = (np.arange(6.0).reshape(3, 2) / 7).astype(w_dtype)
    out = np.empty((2, 2), x_dtype)
    with pytest.raises(TypeError, match="one dtype"):
        dense.dense_forward_into(x, w, np.zeros(2, w_dtype), out, np.empty((0, 0), x_dtype),
                                 0, 0.0, 0.0, 0.0)
    with pytest.raises(TypeError, match="one dtype"):
        matmul.matmul_into(x, w, out, False)
