"""Fused dense forward / backward kernels against a float64 NumPy reference."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from numdense.kernels import activation_kinds as ak
from numdense.kernels.cpu.dense import dense_backward, dense_backward_into, dense_forward, dense_forward_into

DTYPES = (np.float32, np.float64)
INF = np.inf


def _sigmoid(z):
    return 1 / (1 + np.exp(-z))


def _softmax(z):
    e = np.exp(z - z.max(axis=1, keepdims=True, initial=-np.inf))
    return e / e.sum(axis=1, keepdims=True)


# kind -> (params, forward, derivative given (z, y)); softmax's backward is a row-wise VJP (below).
KINDS = {
    "linear": (ak.LINEAR, (0.0, INF, 0.0), lambda z: z, lambda z, y: np.ones_like(z)),
    "relu": (ak.RELU, (0.0, INF, 0.0), lambda z: np.maximum(z, 0), lambda z, y: (z > 0).astype(float)),
    "sigmoid": (ak.SIGMOID, (0.0, INF, 0.0), _sigmoid, lambda z, y: y * (1 - y)),
    "tanh": (ak.TANH, (0.0, INF, 0.0), np.tanh, lambda z, y: 1 - y * y),
    "softmax": (ak.SOFTMAX, (0.0, INF, 0.0), _softmax, None),
}
DIMS = st.one_of(st.sampled_from([0, 1, 5, 6, 7, 17, 64, 131]), st.integers(0, 80))


def reference(x, w, b, name, dy):
    kind, _, fwd, deriv = KINDS[name]
    x, w, dy = (v.astype(np.float64) for v in (x, w, dy))
    z = x @ w + (0 if b is None else b.astype(np.float64))
    y = fwd(z)
    if deriv is None:
        dz = y * (dy - (dy * y).sum(axis=1, keepdims=True))
    else:
        dz = dy * deriv(z, y)
    return z, y, dz, dz @ w.T, x.T @ dz, dz.sum(axis=0)


def close(got, ref, dtype, k):
    tol = (4e-6 if dtype == np.float32 else 1e-13) * (k + 4)
    scale = max(1.0, float(np.abs(ref).max(initial=0)))
    np.testing.assert_allclose(got, ref, rtol=tol, atol=tol * scale)


def data(rng, m, k, n, dtype):
    x = rng.standard_normal((m, k)).astype(dtype)
    w = (rng.standard_normal((k, n)) / np.sqrt(max(k, 1))).astype(dtype)
    b = rng.standard_normal(n).astype(dtype)
    dy = rng.standard_normal((m, n)).astype(dtype)
    return x, w, b, dy


@pytest.mark.parametrize("name", KINDS)
@pytest.mark.parametrize("dtype", DTYPES)
@given(m=DIMS, k=DIMS, n=DIMS, bias=st.booleans(), keep=st.booleans(), seed=st.integers(0, 2**16))
def test_forward_into(name, dtype, m, k, n, bias, keep, seed):
    kind, p, _, _ = KINDS[name]
    rng = np.random.default_rng(seed)
    x, w, b, dy = data(rng, m, k, n, dtype)
    z, y, *_ = reference(x, w, b if bias else None, name, dy)
    out = np.full((m, n), np.nan, dtype)
    preact = np.full((m, n), np.nan, dtype) if keep else np.empty((0, 0), dtype)
    dense_forward_into(x, w, b if bias else np.empty(0, dtype), out, preact, kind, *p)
    close(out, y, dtype, k)
    if keep:
        close(preact, z, dtype, k)


@pytest.mark.parametrize("name", KINDS)
@pytest.mark.parametrize("dtype", DTYPES)
@given(m=DIMS, k=DIMS, n=DIMS, bias=st.booleans(), need_dx=st.booleans(), seed=st.integers(0, 2**16))
def test_backward_into(name, dtype, m, k, n, bias, need_dx, seed):
    kind, p, _, _ = KINDS[name]
    rng = np.random.default_rng(seed)
    x, w, b, dy = data(rng, m, k, n, dtype)
    z, y, dz_ref, dx_ref, dw_ref, db_ref = reference(x, w, b, name, dy)
    z, y = z.astype(dtype), y.astype(dtype)
    dz, dx = np.full((m, n), np.nan, dtype), np.full((m, k), np.nan, dtype)
    dw, db = np.full((k, n), np.nan, dtype), np.full(n if bias else 0, np.nan, dtype)
    dense_backward_into(x, w, z, y, dy, dz, dx, dw, db, kind, *p, need_dx)
    close(dz, dz_ref, dtype, 1)
    close(dw, dw_ref, dtype, m)
    if bias:
        close(db, db_ref, dtype, m)
    if need_dx:
        close(dx, dx_ref, dtype, n)
    else:
        assert np.isnan(dx).all()


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("m,k,n", [(256, 784, 128), (32, 784, 128), (1, 784, 128), (130, 257, 67), (9, 100, 700)])
def test_packed_and_small_paths(dtype, m, k, n, rng):
    x, w, b, dy = data(rng, m, k, n, dtype)
    for name in ("relu", "softmax"):
        kind, p, _, _ = KINDS[name]
        z, y, dz, dx, dw, db = reference(x, w, b, name, dy)
        out, pre = dense_forward(x, w, b, kind, *p, return_preact=True)
        close(out, y, dtype, k)
        close(pre, z, dtype, k)
        got = dense_backward(x, w, pre, out, dy, kind, *p)
        for g, r, kk in zip(got, (dx, dw, db), (n, m, m)):
            close(g, r, dtype, kk)


def test_backward_dz_may_alias_dy(rng):
    x, w, b, dy = data(rng, 20, 30, 10, np.float64)
    z, y, dz, dx, dw, db = reference(x, w, b, "relu", dy)
    dxo, dwo, dbo = np.empty((20, 30)), np.empty((30, 10)), np.empty(10)
    dense_backward_into(x, w, z, y, dy, dy, dxo, dwo, dbo, ak.RELU, 0.0, INF, 0.0, True)
    for g, r in ((dy, dz), (dxo, dx), (dwo, dw), (dbo, db)):
        np.testing.assert_allclose(g, r, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("target", ["x", "w"])
def test_forward_out_may_alias_an_input(target, rng):
    x, w, b, _ = data(rng, 24, 24, 24, np.float64)
    z, y, *_ = reference(x, w, b, "relu", np.zeros((24, 24)))
    kind, p, _, _ = KINDS["relu"]
    out = x if target == "x" else w
    got = dense_forward(x, w, b, kind, *p, out=out)
    assert got is out
    np.testing.assert_allclose(out, y, rtol=1e-12, atol=1e-12)


def test_wrappers_layouts_dtypes_and_options(rng):
    x, w, b, dy = data(rng, 40, 50, 30, np.float32)
    z, y, dz, dx, dw, db = reference(x, w, b, "tanh", dy)
    kind, p, _, _ = KINDS["tanh"]
    out = np.empty((40, 30), np.float64)
    got = dense_forward(np.asfortranarray(x), w[:, :].astype(np.float64), b, kind, *p, out=out)
    assert got is out
    close(out, y, np.float32, 50)
    got = dense_forward(x[:, ::1], w.T.copy().T, None, ak.LINEAR)
    assert got.dtype == np.float32
    close(got, x.astype(np.float64) @ w, np.float32, 50)
    gdx, gdw, gdb = dense_backward(x, w, z, None, dy, kind, *p, need_dx=False, need_db=False)
    assert gdx is None and gdb is None
    close(gdw, dw, np.float32, 40)
    gdx, gdw, gdb = dense_backward(x, w, None, None, dy)  # linear needs no preact
    close(gdx, dy.astype(np.float64) @ w.T, np.float32, 30)
    close(gdb, dy.astype(np.float64).sum(axis=0), np.float32, 40)


@pytest.mark.parametrize(
    "call, exc, match",
    [
        (lambda: dense_forward(np.ones(3), np.ones((3, 2))), ValueError, r"dense_forward: x must be a 2-D array"),
        (lambda: dense_forward(np.ones((2, 3)), np.ones((4, 2))), ValueError, r"w must have 3 rows.*got shape \(4, 2\)"),
        (lambda: dense_forward(np.ones((2, 3)), np.ones((3, 2)), np.ones(3)), ValueError, r"b must have shape \(2,\), got \(3,\)"),
        (lambda: dense_forward(np.ones((2, 3), int), np.ones((3, 2))), TypeError, r"x must have dtype float32 or float64"),
        (lambda: dense_forward(np.ones((2, 3)), np.ones((3, 2)), kind=99), ValueError, r"unknown activation kind"),
        (lambda: dense_forward(np.ones((2, 3)), np.ones((3, 2)), out=np.empty((2, 3))), ValueError, r"out must have shape \(2, 2\), got \(2, 3\)"),
        (lambda: dense_backward(np.ones((2, 3)), np.ones((3, 2)), None, None, np.ones((2, 2)), ak.RELU), ValueError, r"preact is required"),
        (lambda: dense_backward(np.ones((2, 3)), np.ones((3, 2)), None, None, np.ones((2, 3))), ValueError, r"dy must have shape \(2, 2\)"),
    ],
)
def test_errors(call, exc, match):
    with pytest.raises(exc, match=match):
        call()
