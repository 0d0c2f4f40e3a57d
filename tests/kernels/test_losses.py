"""Loss kernels: Keras reference cases, NumPy formulas, finite-difference gradients, edge values."""

import numba
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from numdense.kernels import loss_kinds as K
from numdense.kernels.cpu import losses as L
from tests.reference import FORWARD_TOL, case_id, cases, load

BY_NAME = {name: kind for kind, name in K.NAMES.items()}
EPS = 1e-7


def _kind(case):
    return BY_NAME[case["loss"] + ("_logits" if case["from_logits"] else "")]


@pytest.mark.parametrize("case", cases("loss"), ids=case_id)
def test_keras_reference(case):
    d = load(case)
    kind = _kind(case)
    p0 = 1.0 if kind == K.HUBER else 0.0  # Huber's default delta
    values = L.loss_values(kind, d["y_true"], d["y_pred"], p0)
    assert values.dtype == np.float32 and values.shape == (d["y_pred"].shape[0],)
    np.testing.assert_allclose(values.mean(), d["loss"], **FORWARD_TOL)
    n = values.size
    dy = L.loss_grad(kind, d["y_true"], d["y_pred"], np.full(n, 1.0 / n), p0)
    assert dy.dtype == np.float32
    np.testing.assert_allclose(dy, d["dy_pred"], **FORWARD_TOL)


# Keras 3 formulas in float64 NumPy, for inputs away from the clip bounds.
def _softmax(z):
    e = np.exp(z - z.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def _hinge_labels(t):
    return 2 * t - 1 if np.all((t == 0) | (t == 1)) else t


def _smooth_cce(t, ls):
    return t * (1 - ls) + ls / t.shape[-1]


def _normalize(x):
    return x / np.sqrt((x * x).sum(-1, keepdims=True))


NUMPY = {
    K.MEAN_SQUARED_ERROR: lambda t, p, a: ((t - p) ** 2).mean(-1),
    K.MEAN_ABSOLUTE_ERROR: lambda t, p, a: np.abs(t - p).mean(-1),
    K.MEAN_ABSOLUTE_PERCENTAGE_ERROR: lambda t, p, a: 100 * np.abs((t - p) / np.maximum(np.abs(t), EPS)).mean(-1),
    K.MEAN_SQUARED_LOGARITHMIC_ERROR: lambda t, p, a: (
        (np.log(np.maximum(p, EPS) + 1) - np.log(np.maximum(t, EPS) + 1)) ** 2
    ).mean(-1),
    K.HUBER: lambda t, p, a: np.where(
        np.abs(p - t) <= a, 0.5 * (p - t) ** 2, a * np.abs(p - t) - 0.5 * a * a
    ).mean(-1),
    K.LOG_COSH: lambda t, p, a: np.log(np.cosh(p - t)).mean(-1),
    K.POISSON: lambda t, p, a: (p - t * np.log(p + EPS)).mean(-1),
    K.KL_DIVERGENCE: lambda t, p, a: (
        np.clip(t, EPS, 1) * np.log(np.clip(t, EPS, 1) / np.clip(p, EPS, 1))
    ).sum(-1),
    K.COSINE_SIMILARITY: lambda t, p, a: -(_normalize(t) * _normalize(p)).sum(-1),
    K.HINGE: lambda t, p, a: np.maximum(1 - _hinge_labels(t) * p, 0).mean(-1),
    K.SQUARED_HINGE: lambda t, p, a: (np.maximum(1 - _hinge_labels(t) * p, 0) ** 2).mean(-1),
    K.CATEGORICAL_HINGE: lambda t, p, a: np.maximum(((1 - t) * p).max(-1) - (t * p).sum(-1) + 1, 0),
    K.BINARY_CROSSENTROPY: lambda t, p, a: -(
        (t * (1 - a) + 0.5 * a) * np.log(p) + (1 - (t * (1 - a) + 0.5 * a)) * np.log(1 - p)
    ).mean(-1),
    K.BINARY_CROSSENTROPY_LOGITS: lambda t, z, a: -(
        (t * (1 - a) + 0.5 * a) * np.log(1 / (1 + np.exp(-z)))
        + (1 - (t * (1 - a) + 0.5 * a)) * np.log(1 / (1 + np.exp(z)))
    ).mean(-1),
    K.CATEGORICAL_CROSSENTROPY: lambda t, p, a: -(_smooth_cce(t, a) * np.log(p / p.sum(-1, keepdims=True))).sum(-1),
    K.CATEGORICAL_CROSSENTROPY_LOGITS: lambda t, z, a: -(_smooth_cce(t, a) * np.log(_softmax(z))).sum(-1),
    K.SPARSE_CATEGORICAL_CROSSENTROPY: lambda t, p, a: -np.log(
        np.take_along_axis(p / p.sum(-1, keepdims=True), t.astype(int)[:, None], -1)[:, 0]
    ),
    K.SPARSE_CATEGORICAL_CROSSENTROPY_LOGITS: lambda t, z, a: -np.log(
        np.take_along_axis(_softmax(z), t.astype(int)[:, None], -1)[:, 0]
    ),
}


def _inputs(kind, rng, rows, k):
    """(y_true, y_pred, p0) in float64, away from kinks and clip bounds, or None to skip."""
    u = rng.uniform
    n = rng.standard_normal
    shape = (rows, k)
    p0 = 0.0
    if kind in K.SPARSE:
        t = rng.integers(0, k, rows).astype(np.float64)
        p = u(0.05, 1.0, shape) if kind == K.SPARSE_CATEGORICAL_CROSSENTROPY else 3 * n(shape)
        return t, p, p0
    if kind in (K.MEAN_SQUARED_ERROR, K.LOG_COSH, K.COSINE_SIMILARITY):
        t, p = n(shape), n(shape)
    elif kind in (K.MEAN_ABSOLUTE_ERROR, K.MEAN_ABSOLUTE_PERCENTAGE_ERROR, K.HUBER):
        t = rng.choice([-1, 1], shape) * u(0.1, 2, shape)
        p = t + rng.choice([-1, 1], shape) * u(0.05, 2, shape)
        if kind == K.HUBER:
            p0 = float(u(0.3, 1.5))
            if np.abs(np.abs(p - t) - p0).min() < 1e-3:
                return None
    elif kind == K.MEAN_SQUARED_LOGARITHMIC_ERROR:
        t, p = u(0, 3, shape), u(0.01, 3, shape)
    elif kind == K.POISSON:
        t, p = u(0, 3, shape), u(0.1, 3, shape)
    elif kind == K.KL_DIVERGENCE:
        t, p = u(0, 1, shape), u(0.01, 0.99, shape)
    elif kind in (K.HINGE, K.SQUARED_HINGE):
        t = rng.choice([0.0, 1.0] if rng.random() < 0.5 else [-1.0, 1.0], shape)
        p = 2 * n(shape)
        if np.abs(1 - _hinge_labels(t) * p).min() < 1e-2:
            return None
    elif kind == K.CATEGORICAL_HINGE:
        t = np.eye(k)[rng.integers(0, k, rows)]
        p = n(shape)
        neg = np.sort((1 - t) * p, axis=-1)
        z = neg[:, -1] - (t * p).sum(-1) + 1
        if np.abs(z).min() < 1e-2 or (k > 1 and np.min(neg[:, -1] - neg[:, -2]) < 1e-3):
            return None
    elif kind in (K.BINARY_CROSSENTROPY, K.BINARY_CROSSENTROPY_LOGITS):
        t = u(0, 1, shape)
        p = u(0.01, 0.99, shape) if kind == K.BINARY_CROSSENTROPY else 3 * n(shape)
        p0 = float(rng.choice([0.0, 0.1, 0.3]))
    elif kind in (K.CATEGORICAL_CROSSENTROPY, K.CATEGORICAL_CROSSENTROPY_LOGITS):
        if k < 2:
            return None  # a single class renormalises to exactly 1, which is clipped
        t = u(0, 1, shape)  # soft, not normalised: exercises the full gradient
        p = u(0.05, 1.0, shape) if kind == K.CATEGORICAL_CROSSENTROPY else 3 * n(shape)
        p0 = float(rng.choice([0.0, 0.1, 0.3]))
    return t, p, p0


def _fd_grad(kind, t, p, w, p0, h=1e-6):
    g = np.empty_like(p)
    for idx in np.ndindex(*p.shape):
        x = p.copy()
        x[idx] += h
        up = (w * L.loss_values(kind, t, x, p0)).sum()
        x[idx] -= 2 * h
        down = (w * L.loss_values(kind, t, x, p0)).sum()
        g[idx] = (up - down) / (2 * h)
    return g


@pytest.mark.parametrize("kind", sorted(K.NAMES), ids=lambda k: K.NAMES[k])
@given(seed=st.integers(0, 2**32 - 1), rows=st.integers(1, 5), k=st.integers(1, 6))
def test_values_and_gradients_match_formulas_and_finite_differences(kind, seed, rows, k):
    rng = np.random.default_rng(seed)
    drawn = _inputs(kind, rng, rows, k)
    if drawn is None:
        return
    t, p, p0 = drawn
    w = rng.uniform(0.5, 2.0, rows)
    values = L.loss_values(kind, t, p, p0)
    np.testing.assert_allclose(values, NUMPY[kind](t, p, p0), rtol=1e-10, atol=1e-12)
    grad = L.loss_grad(kind, t, p, w, p0)
    np.testing.assert_allclose(grad, _fd_grad(kind, t, p, w, p0), rtol=1e-5, atol=1e-6)
    # float32 through the wrappers: same values and gradients to float32 accuracy.
    t32, p32 = t.astype(np.float32), p.astype(np.float32)
    v32 = L.loss_values(kind, t32, p32, p0)
    g32 = L.loss_grad(kind, t32, p32, w.astype(np.float32), p0)
    assert v32.dtype == g32.dtype == np.float32
    v64 = L.loss_values(kind, t32.astype(np.float64), p32.astype(np.float64), p0)
    g64 = L.loss_grad(kind, t32.astype(np.float64), p32.astype(np.float64), w.astype(np.float32), p0)
    np.testing.assert_allclose(v32, v64, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(g32, g64, rtol=1e-5, atol=1e-5)
    # The fused kernel agrees with the two separate ones.
    dy = np.empty_like(p)
    total = L.loss_value_and_grad_into(t, p, w, dy, kind, p0, EPS)
    np.testing.assert_allclose(total, (w * values).sum(), rtol=1e-12)
    np.testing.assert_array_equal(dy, grad)


def test_any_rank_and_layout():
    rng = np.random.default_rng(0)
    t = rng.standard_normal((2, 3, 4))
    p = np.asfortranarray(rng.standard_normal((2, 3, 4)))
    v = L.loss_values(K.MEAN_SQUARED_ERROR, t, p)
    assert v.shape == (2, 3)
    np.testing.assert_allclose(v, ((t - p) ** 2).mean(-1))
    g = L.loss_grad(K.MEAN_SQUARED_ERROR, t, p)
    np.testing.assert_allclose(g, 2 * (p - t) / 4)
    # Integer inputs become floatx; labels may be ints with a trailing 1.
    assert L.loss_values(K.MEAN_SQUARED_ERROR, [[1, 2]], [[0, 0]]).dtype == np.float32
    labels = np.array([[0], [2]])
    probs = np.array([[0.5, 0.25, 0.25], [0.2, 0.2, 0.6]])
    np.testing.assert_allclose(
        L.loss_values(K.SPARSE_CATEGORICAL_CROSSENTROPY, labels, probs), -np.log([0.5, 0.6])
    )


@pytest.mark.parametrize(
    "kind", [K.BINARY_CROSSENTROPY_LOGITS, K.CATEGORICAL_CROSSENTROPY_LOGITS, K.SPARSE_CATEGORICAL_CROSSENTROPY_LOGITS]
)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_huge_logits_are_finite(kind, dtype):
    z = np.array([[1e4, -1e4, 0.0], [-1e4, 1e4, -1e4]], dtype)
    t = np.array([1.0, 0.0]) if kind in K.SPARSE else np.array([[0, 1, 0], [1, 0, 0]], dtype)
    v = L.loss_values(kind, t, z)
    g = L.loss_grad(kind, t, z)
    assert np.all(np.isfinite(v)) and np.all(np.isfinite(g))
    if kind == K.CATEGORICAL_CROSSENTROPY_LOGITS:
        np.testing.assert_allclose(v, [2e4, 2e4], rtol=1e-6)
        np.testing.assert_allclose(g, [[1, -1, 0], [-1, 1, 0]], atol=1e-6)
    if kind == K.BINARY_CROSSENTROPY_LOGITS:
        np.testing.assert_allclose(v, [(2e4 + np.log(2)) / 3, 2e4 / 3], rtol=1e-6)


def test_probabilities_at_zero_and_one_are_clipped_like_keras():
    # float32 clips to [1e-7, float32(1 - 1e-7) = 1 - 2**-23]; TF passes no gradient outside.
    t = np.array([[1.0, 0.0, 1.0, 0.0]], np.float32)
    p = np.array([[0.0, 1.0, 1.0, 0.0]], np.float32)
    lo, hi = np.float32(1e-7), np.float32(1 - 1e-7)
    expected = -(np.log(lo) + np.log(1 - np.float64(hi)) + np.log(hi) + np.log(1 - np.float64(lo))) / 4
    np.testing.assert_allclose(L.loss_values(K.BINARY_CROSSENTROPY, t, p), [expected], rtol=1e-6)
    np.testing.assert_array_equal(L.loss_grad(K.BINARY_CROSSENTROPY, t, p), 0.0)
    # float64 clips to [1e-7, 1 - 1e-7] exactly.
    v64 = L.loss_values(K.BINARY_CROSSENTROPY, t.astype(np.float64), p.astype(np.float64))
    np.testing.assert_allclose(v64, [-(2 * np.log(1e-7) + 2 * np.log1p(-1e-7)) / 4], rtol=1e-9)
    # Crossentropy of a one-hot prediction: the wrong class costs -log(eps), and the clipped
    # entries take no gradient.
    onehot = np.array([[0.0, 1.0, 0.0]], np.float32)
    np.testing.assert_allclose(
        L.loss_values(K.CATEGORICAL_CROSSENTROPY, np.array([[1.0, 0, 0]], np.float32), onehot),
        [-np.log(lo)],
        rtol=1e-6,
    )
    np.testing.assert_array_equal(L.loss_grad(K.CATEGORICAL_CROSSENTROPY, onehot, onehot), 0.0)
    np.testing.assert_allclose(
        L.loss_values(K.SPARSE_CATEGORICAL_CROSSENTROPY, np.array([0.0]), onehot),
        [np.log(2 * lo + hi) - np.log(lo)],
        rtol=1e-6,
    )
    kld = L.loss_grad(K.KL_DIVERGENCE, np.array([[1.0, 0.0]]), np.array([[0.0, 1.0]]))
    np.testing.assert_array_equal(kld, [[0.0, -1e-7]])  # p = 0 is clipped; p = 1 is on the bound


def test_keras_doc_values():
    t = np.array([[0, 1, 0], [0, 0, 1]], np.float32)
    p = np.array([[0.05, 0.95, 0], [0.1, 0.8, 0.1]], np.float32)
    expected = [0.05129331, 2.3025851]
    np.testing.assert_allclose(L.loss_values(K.CATEGORICAL_CROSSENTROPY, t, p), expected, rtol=1e-5)
    np.testing.assert_allclose(L.loss_values(K.SPARSE_CATEGORICAL_CROSSENTROPY, [1, 2], p), expected, rtol=1e-5)


def test_hinge_converts_only_all_binary_batches():
    p = np.array([[0.3, -0.2], [0.5, 0.1]])
    binary = np.array([[0.0, 1.0], [1.0, 1.0]])
    np.testing.assert_allclose(
        L.loss_values(K.HINGE, binary, p), np.maximum(1 - (2 * binary - 1) * p, 0).mean(-1)
    )
    mixed = np.array([[0.0, 1.0], [-1.0, 1.0]])  # one -1 anywhere: labels are used as given
    np.testing.assert_allclose(L.loss_values(K.HINGE, mixed, p), np.maximum(1 - mixed * p, 0).mean(-1))


def test_sparse_labels_out_of_range():
    p = np.full((2, 3), 1 / 3)
    for bad, shown in ((3, "3"), (-1, "-1"), (7.0, "7"), (4.5, "4.5")):
        with pytest.raises(ValueError, match=f"label value of {shown} "):
            L.loss_values(K.SPARSE_CATEGORICAL_CROSSENTROPY, np.array([0, bad]), p)
    with pytest.raises(ValueError, match="nan"):
        L.loss_grad(K.SPARSE_CATEGORICAL_CROSSENTROPY_LOGITS, np.array([0, np.nan]), p)
    # The kernels themselves never read outside the row: they give NaN.
    for kind in K.SPARSE:
        out = np.zeros(2)
        dy = np.zeros((2, 3))
        labels = np.array([1.0, 3.0])
        L.loss_values_into(labels, p, out, kind, 0.0)
        L.loss_grad_into(labels, p, np.ones(2), dy, kind, 0.0)
        assert np.isfinite(out[0]) and np.isnan(out[1])
        assert np.all(np.isfinite(dy[0])) and np.all(np.isnan(dy[1]))
        L.loss_values_into(np.array([-1.0, np.nan]), p, out, kind, 0.0)
        assert np.all(np.isnan(out))


def test_kernel_argument_errors():
    p = np.zeros((2, 3))
    with pytest.raises(ValueError, match="y_true"):
        L.loss_values_into(np.zeros((2, 4)), p, np.zeros(2), K.MEAN_SQUARED_ERROR, 0.0)
    with pytest.raises(ValueError, match="output"):
        L.loss_values_into(np.zeros((2, 3)), p, np.zeros(1), K.MEAN_SQUARED_ERROR, 0.0)
    with pytest.raises(ValueError, match="Unknown loss kind"):
        L.loss_values(99, p, p)
    with pytest.raises(ValueError, match="same shape"):
        L.loss_values(K.MEAN_SQUARED_ERROR, np.zeros((2, 4)), p)
    out = np.zeros(2)
    L.loss_values_into(p, p, out, 99, 0.0)
    assert np.all(np.isnan(out))
    # An empty batch is fine.
    assert L.loss_values(K.MEAN_SQUARED_ERROR, np.zeros((0, 3)), np.zeros((0, 3))).shape == (0,)
    assert L.loss_value_and_grad_into(np.zeros((0, 3)), np.zeros((0, 3)), np.zeros(0), np.zeros((0, 3)), 0, 0.0) == 0.0


@numba.njit(cache=False)
def _training_step(y_true, y_pred, weights, dy, kind, p0):
    out = np.empty(y_pred.shape[0], y_pred.dtype)
    L.loss_values_into(y_true, y_pred, out, kind, p0)
    return L.loss_value_and_grad_into(y_true, y_pred, weights, dy, kind, p0), out


def test_kernels_callable_from_njit_code():
    rng = np.random.default_rng(3)
    t = np.eye(4, dtype=np.float32)[rng.integers(0, 4, 8)]
    z = rng.standard_normal((8, 4)).astype(np.float32)
    w = np.full(8, 1 / 8, np.float32)
    dy = np.empty_like(z)
    total, values = _training_step(t, z, w, dy, K.CATEGORICAL_CROSSENTROPY_LOGITS, 0.0)
    np.testing.assert_allclose(total, values.mean(), rtol=1e-6)
    np.testing.assert_allclose(dy, (_softmax(z.astype(np.float64)) - t) / 8, rtol=1e-5, atol=1e-7)
