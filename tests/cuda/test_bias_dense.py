import numpy as np
import pytest

from numdense.kernels import activation_kinds as A

from .harness import assert_close, backends, run


@backends
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_bias_add_and_grad(backend, dtype, rng):
    x = rng.standard_normal((6, 11)).astype(dtype)
    b = rng.standard_normal(11).astype(dtype)
    out = np.empty_like(x)
    run(backend, "bias", "bias_add_into", x, b, out, outs=[2])
    assert_close(out, x + b, dtype)
    db = np.ones(11, dtype=dtype)
    run(backend, "bias", "bias_grad_into", x, db, True, outs=[1])
    assert_close(db, 1 + x.astype(np.float64).sum(0), dtype)
    run(backend, "bias", "bias_grad_into", x, db, False, outs=[1])
    assert_close(db, x.astype(np.float64).sum(0), dtype)


def _act(kind, z):
    if kind == A.RELU:
        return np.maximum(z, 0)
    if kind == A.TANH:
        return np.tanh(z)
    e = np.exp(z - z.max(1, keepdims=True))
    return e / e.sum(1, keepdims=True)


@backends
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("kind", [A.RELU, A.TANH, A.SOFTMAX])
def test_dense_forward_backward(backend, dtype, kind, rng):
    m, k, n = 10, 5, 9
    x = rng.standard_normal((m, k)).astype(dtype)
    w = rng.standard_normal((k, n)).astype(dtype)
    b = rng.standard_normal(n).astype(dtype)
    out = np.empty((m, n), dtype)
    preact = np.empty((m, n), dtype)
    args = (kind, 0.0, np.inf, 0.0)
    run(backend, "dense", "dense_forward_into", x, w, b, out, preact, *args, outs=[3, 4])
    x64, w64, b64 = (v.astype(np.float64) for v in (x, w, b))
    z = x64 @ w64 + b64
    assert_close(preact, z, dtype, scale=4)
    assert_close(out, _act(kind, z), dtype, scale=4)

    dy = rng.standard_normal((m, n)).astype(dtype)
    dz, dx, dw, db = np.empty((m, n), dtype), np.empty((m, k), dtype), np.empty((k, n), dtype), np.empty(n, dtype)
    run(backend, "dense", "dense_backward_into", x, w, preact, out, dy, dz, dx, dw, db, *args, True, outs=[5, 6, 7, 8])
    y = _act(kind, preact.astype(np.float64))
    if kind == A.RELU:
        dz_ref = dy * (preact > 0)
    elif kind == A.TANH:
        dz_ref = dy * (1 - y * y)
    else:
        dz_ref = y * (dy - (dy * y).sum(1, keepdims=True))
    assert_close(dz, dz_ref, dtype, scale=8)
    assert_close(dw, x64.T @ dz_ref, dtype, scale=20)
    assert_close(db, dz_ref.sum(0), dtype, scale=20)
    assert_close(dx, dz_ref @ w64.T, dtype, scale=20)


@backends
def test_dense_without_bias_or_preact(backend, rng):
    x = rng.standard_normal((3, 4))
    w = rng.standard_normal((4, 5))
    out = np.empty((3, 5))
    run(backend, "dense", "dense_forward_into", x, w, np.empty(0), out, np.empty((0, 0)), A.LINEAR, 0.0, 0.0, 0.0, outs=[3])
    assert_close(out, x @ w, np.float64)


@pytest.mark.cpu_reference
def test_dense_wrappers_match_cpu(rng):
    from numdense.kernels.cpu import dense as cpu
    from numdense.kernels.cuda import dense as gpu

    x, w, b = rng.standard_normal((7, 3)), rng.standard_normal((3, 4)), rng.standard_normal(4)
    o1, z1 = gpu.dense_forward(x, w, b, A.GELU, return_preact=True)
    o2, z2 = cpu.dense_forward(x, w, b, A.GELU, return_preact=True)
    assert_close(o1, o2, np.float64)
    dy = rng.standard_normal((7, 4))
    for g1, g2 in zip(gpu.dense_backward(x, w, z1, None, dy, A.GELU), cpu.dense_backward(x, w, z2, None, dy, A.GELU)):
        assert_close(g1, g2, np.float64)
