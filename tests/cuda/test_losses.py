import numpy as np
import pytest

from numdense.kernels import loss_kinds as K

from .harness import backends, run

KINDS = sorted(K.NAMES)
EPS = 1e-7


def _xent(t, q):
    return -(t * np.log(q)).sum(-1)


def _lse(z):
    m = z.max(-1, keepdims=True)
    return (m + np.log(np.exp(z - m).sum(-1, keepdims=True)))[..., 0]


def _reference(kind, t, p, p0):
    """Keras 3 per-sample losses in float64 NumPy (smooth region only)."""
    k = p.shape[-1]
    if kind == K.MEAN_SQUARED_ERROR:
        return ((p - t) ** 2).mean(-1)
    if kind == K.MEAN_ABSOLUTE_ERROR:
        return abs(p - t).mean(-1)
    if kind == K.MEAN_ABSOLUTE_PERCENTAGE_ERROR:
        return 100 * (abs(t - p) / np.maximum(abs(t), EPS)).mean(-1)
    if kind == K.MEAN_SQUARED_LOGARITHMIC_ERROR:
        return ((np.log1p(np.maximum(p, EPS)) - np.log1p(np.maximum(t, EPS))) ** 2).mean(-1)
    if kind == K.HUBER:
        e = abs(p - t)
        return np.where(e <= p0, 0.5 * e * e, p0 * e - 0.5 * p0 * p0).mean(-1)
    if kind == K.LOG_COSH:
        return np.log(np.cosh(p - t)).mean(-1)
    if kind == K.POISSON:
        return (p - t * np.log(p + EPS)).mean(-1)
    if kind == K.KL_DIVERGENCE:
        tc, pc = np.clip(t, EPS, 1), np.clip(p, EPS, 1)
        return (tc * np.log(tc / pc)).sum(-1)
    if kind == K.COSINE_SIMILARITY:
        return -(t * p).sum(-1) / np.linalg.norm(t, axis=-1) / np.linalg.norm(p, axis=-1)
    if kind in (K.HINGE, K.SQUARED_HINGE):
        s = 2 * t - 1 if np.isin(t, (0, 1)).all() else t
        h = np.maximum(1 - s * p, 0)
        return (h if kind == K.HINGE else h * h).mean(-1)
    if kind == K.CATEGORICAL_HINGE:
        return np.maximum(((1 - t) * p).max(-1) - (t * p).sum(-1) + 1, 0)
    if kind == K.BINARY_CROSSENTROPY:
        ts = t * (1 - p0) + 0.5 * p0
        return -(ts * np.log(p) + (1 - ts) * np.log(1 - p)).mean(-1)
    if kind == K.BINARY_CROSSENTROPY_LOGITS:
        ts = t * (1 - p0) + 0.5 * p0
        return (np.logaddexp(0, p) - p * ts).mean(-1)
    if kind == K.CATEGORICAL_CROSSENTROPY:
        return _xent(t * (1 - p0) + p0 / k, p / p.sum(-1, keepdims=True))
    if kind == K.CATEGORICAL_CROSSENTROPY_LOGITS:
        ts = t * (1 - p0) + p0 / k
        return (ts * (_lse(p)[:, None] - p)).sum(-1)
    labels = t.reshape(len(p), -1)[:, 0].astype(int)
    if kind == K.SPARSE_CATEGORICAL_CROSSENTROPY:
        return np.log(p.sum(-1)) - np.log(p[np.arange(len(p)), labels])
    return _lse(p) - p[np.arange(len(p)), labels]  # sparse, logits


def _data(kind, dtype, rng, n=9, k=5):
    """(y_true, y_pred, p0) in the smooth region of ``kind``."""
    p0 = {K.HUBER: 0.7, K.BINARY_CROSSENTROPY: 0.1, K.CATEGORICAL_CROSSENTROPY: 0.1, K.CATEGORICAL_CROSSENTROPY_LOGITS: 0.2}.get(kind, 0.0)
    if kind in K.SPARSE:
        t = rng.integers(0, k, size=n).astype(dtype)
    elif kind in (K.HINGE, K.SQUARED_HINGE, K.BINARY_CROSSENTROPY, K.BINARY_CROSSENTROPY_LOGITS):
        t = rng.integers(0, 2, size=(n, k)).astype(dtype)
    elif kind in (K.CATEGORICAL_CROSSENTROPY, K.CATEGORICAL_CROSSENTROPY_LOGITS, K.CATEGORICAL_HINGE):
        t = np.eye(k, dtype=dtype)[rng.integers(0, k, size=n)]
    else:
        t = rng.uniform(0.1, 0.9, size=(n, k)).astype(dtype)
    logits = kind in (K.BINARY_CROSSENTROPY_LOGITS, K.CATEGORICAL_CROSSENTROPY_LOGITS, K.SPARSE_CATEGORICAL_CROSSENTROPY_LOGITS)
    p = rng.standard_normal((n, k)) if logits or kind in (K.HINGE, K.SQUARED_HINGE, K.COSINE_SIMILARITY) else rng.uniform(0.1, 0.9, size=(n, k))
    if kind in (K.MEAN_ABSOLUTE_ERROR, K.MEAN_ABSOLUTE_PERCENTAGE_ERROR, K.HUBER):
        p = t + rng.choice([-1, 1], size=(n, k)) * rng.uniform(0.05, 1.2, size=(n, k))
    return t, p.astype(dtype), p0


def _numeric_grad(f, p, h=1e-6):
    g = np.zeros_like(p)
    for idx in np.ndindex(p.shape):
        e = np.zeros_like(p)
        e[idx] = h
        g[idx] = (f(p + e) - f(p - e)) / (2 * h)
    return g


@backends
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("kind", KINDS)
def test_loss_values_grad_and_total(backend, dtype, kind):
    rng = np.random.default_rng(100 + kind)
    t, p, p0 = _data(kind, dtype, rng)
    t64, p64 = t.astype(np.float64), p.astype(np.float64)
    tol = {"rtol": 2e-5, "atol": 1e-5} if dtype == np.float32 else {"rtol": 1e-7, "atol": 1e-8}
    out = np.empty(len(p), dtype)
    run(backend, "losses", "loss_values_into", t, p, out, kind, p0, EPS, outs=[2])
    expected = _reference(kind, t64, p64, p0)
    np.testing.assert_allclose(out, expected, **tol)

    weights = rng.uniform(0.5, 1.5, size=len(p)).astype(dtype)
    dy = np.empty_like(p)
    total = run(backend, "losses", "loss_value_and_grad_into", t, p, weights, dy, kind, p0, EPS, outs=[3])
    assert isinstance(total, float)
    np.testing.assert_allclose(total, (weights.astype(np.float64) * out.astype(np.float64)).sum(), **tol)
    expected_dy = _numeric_grad(lambda q: (weights * _reference(kind, t64, q, p0)).sum(), p64)
    np.testing.assert_allclose(dy, expected_dy, rtol=1e-4 if dtype == np.float32 else 1e-6, atol=1e-5)

    dy2 = np.empty_like(p)
    run(backend, "losses", "loss_grad_into", t, p, weights, dy2, kind, p0, EPS, outs=[3])
    np.testing.assert_array_equal(dy2, dy)


@pytest.mark.cpu_reference
@pytest.mark.parametrize("kind", [K.HINGE, K.CATEGORICAL_HINGE, K.SPARSE_CATEGORICAL_CROSSENTROPY, K.KL_DIVERGENCE])
def test_edge_cases_match_cpu(kind):
    """Non-0/1 hinge labels, ties in the categorical-hinge max, out-of-range sparse labels,
    clipped probabilities: CUDA makes the CPU kernels' choices."""
    t = np.array([[0.0, 1.0, 0.5], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
    p = np.array([[0.5, 0.5, 0.0], [2.0, 2.0, 1.0], [1e-9, 0.3, 1.2]])
    if kind in K.SPARSE:
        t = np.array([1.0, 3.0, 0.0])
    results = []
    for backend in ("cpu", "cuda"):
        out = np.empty(3)
        dy = np.empty_like(p)
        run(backend, "losses", "loss_values_into", t, p, out, kind, 0.0, EPS, outs=[2])
        run(backend, "losses", "loss_grad_into", t, p, np.ones(3), dy, kind, 0.0, EPS, outs=[3])
        results.append((out, dy))
    for a, b in zip(*results):
        np.testing.assert_allclose(a, b, rtol=1e-14, atol=0)


def test_wrappers_match_cpu(rng):
    from numdense.kernels.cpu import losses as cpu
    from numdense.kernels.cuda import losses as gpu

    t = rng.integers(0, 4, size=(2, 3))
    p = rng.standard_normal((2, 3, 4))
    k = K.SPARSE_CATEGORICAL_CROSSENTROPY_LOGITS
    np.testing.assert_allclose(gpu.loss_values(k, t, p), cpu.loss_values(k, t, p, eps=EPS), rtol=1e-14)
    np.testing.assert_allclose(gpu.loss_grad(k, t, p), cpu.loss_grad(k, t, p, eps=EPS), rtol=1e-14)
