"""The plain-loop path of tiny Dense layers, the fused multiply-add it rounds with, and the
address tables through which the compiled training loop reads a model's arrays."""

import numba
import numpy as np
import pytest

import numdense as nd
from numdense.kernels import activation_kinds as act
from numdense.kernels.cpu import sequential as seq
from numdense.kernels.cpu._jit import fma
from numdense.kernels.cpu._views import address_table, view1, view2
from numdense.kernels.cpu.dense import _TINY_FMAS, dense_backward_into, dense_forward_into


@numba.njit
def _fma(a, b, c):
    return fma(a, b, c)


def test_fma_rounds_once():
    a = np.float32(1 + 2.0**-12)
    # a*a = 1 + 2**-11 + 2**-24: rounding the product first loses the 2**-24 term.
    assert _fma(a, a, np.float32(-1.0)) == np.float32(2.0**-11 + 2.0**-24)
    assert a * a + np.float32(-1.0) == np.float32(2.0**-11)
    assert _fma(2.0, 3.0, 1.0) == 7.0


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("kind", [act.LINEAR, act.RELU, act.SIGMOID, act.TANH])
@pytest.mark.parametrize("k, n", [(2, 1), (1, 4), (5, 3), (16, 8), (30, 100), (128, 10)])
def test_a_row_gives_the_same_bits_in_a_tiny_and_in_a_large_batch(dtype, kind, k, n):
    """One row takes the plain-loop path, 3,000 rows the small-kernel or packed path: a
    sample's output must not depend on the batch it arrives in."""
    rng = np.random.default_rng(k * n)
    rows = 3000
    x = rng.standard_normal((rows, k)).astype(dtype)
    w = rng.standard_normal((k, n)).astype(dtype)
    b = rng.standard_normal(n).astype(dtype)
    assert k * n <= _TINY_FMAS < rows * k * n
    big = np.empty((rows, n), dtype)
    z_big = np.empty((rows, n), dtype)
    dense_forward_into(x, w, b, big, z_big, kind, 0.0, np.inf, 0.0)
    for i in (0, 7, rows - 1):
        one = np.empty((1, n), dtype)
        z_one = np.empty((1, n), dtype)
        dense_forward_into(x[i:i + 1], w, b, one, z_one, kind, 0.0, np.inf, 0.0)
        np.testing.assert_array_equal(z_one, z_big[i:i + 1])
        np.testing.assert_array_equal(one, big[i:i + 1])
    ref = x.astype(np.float64) @ w + b
    np.testing.assert_allclose(z_big, ref, rtol=1e-5 if dtype == np.float32 else 1e-12,
                               atol=1e-5 if dtype == np.float32 else 1e-12)


@pytest.mark.parametrize("kind", [act.LINEAR, act.RELU, act.SIGMOID])
@pytest.mark.parametrize("need_dx", [True, False])
def test_tiny_backward_matches_float64_math(kind, need_dx):
    rng = np.random.default_rng(5)
    m, k, n = 32, 3, 4
    x = rng.standard_normal((m, k))
    w = rng.standard_normal((k, n))
    z = x @ w
    y = {act.LINEAR: z, act.RELU: np.maximum(z, 0), act.SIGMOID: 1 / (1 + np.exp(-z))}[kind]
    dy = rng.standard_normal((m, n))
    dz, dw, db = np.empty((m, n)), np.empty((k, n)), np.empty(n)
    dx = np.full((m, k), 7.0) if need_dx else np.empty((0, 0))
    dense_backward_into(x, w, z, y, dy, dz, dx, dw, db, kind, 0.0, np.inf, 0.0, need_dx)
    slope = {act.LINEAR: np.ones_like(z), act.RELU: (z > 0).astype(float),
             act.SIGMOID: y * (1 - y)}[kind]
    np.testing.assert_allclose(dz, dy * slope, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(dw, x.T @ dz, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(db, dz.sum(axis=0), rtol=1e-12, atol=1e-12)
    if need_dx:
        np.testing.assert_allclose(dx, dz @ w.T, rtol=1e-12, atol=1e-12)


@numba.njit
def _double_through_views(table, like):
    for i in range(table.shape[0] - 1):
        a = view2(table, i, like)
        for r in range(a.shape[0]):
            for c in range(a.shape[1]):
                a[r, c] *= 2
    v = view1(table, table.shape[0] - 1, like)
    for j in range(v.shape[0]):
        v[j] += 1


def test_views_write_through_to_the_tabled_arrays():
    a = np.arange(6, dtype=np.float32).reshape(2, 3)
    b = np.ones((4, 1), np.float32)
    c = np.zeros(5, np.float32)
    _double_through_views(address_table([a, b, c], np.float32), a)
    np.testing.assert_array_equal(a, np.arange(6).reshape(2, 3) * 2)
    np.testing.assert_array_equal(b, 2)
    np.testing.assert_array_equal(c, 1)


@pytest.mark.parametrize("bad", [np.zeros((3, 4), np.float64), np.zeros((4, 3), np.float32).T,
                                 np.zeros((2, 2, 2), np.float32)])
def test_address_table_refuses_what_it_would_misread(bad):
    with pytest.raises(ValueError, match="address_table: array 1 must be a 1-D or 2-D"):
        address_table([np.zeros(3, np.float32), bad], np.float32)


def test_one_compiled_training_loop_serves_every_depth():
    """The loop reads layers through tables, so a deeper model reuses the compiled loop
    instead of compiling its own (which took ~20 s per depth with tuples)."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((64, 3)).astype("float32")
    y = x.sum(axis=1, keepdims=True)
    for widths in ([1], [4, 1], [5, 4, 3, 1]):
        model = nd.Sequential([nd.Input((3,))] + [nd.layers.Dense(u) for u in widths])
        model.compile("adam", "mse")
        model.fit(x, y, batch_size=16, epochs=2, verbose=0)
    float32_variants = [sig for sig in seq.sequential_train_epochs.signatures
                        if sig[1].dtype == numba.float32]
    assert len(float32_variants) == 1


def test_tables_refuse_to_be_copied_and_models_still_copy():
    import copy
    import pickle

    from numdense.models.dense_stack_plan import _Tabled

    a = np.ones((2, 2), np.float32)
    tabled = _Tabled([a, a.reshape(-1)], np.float32)
    with pytest.raises(TypeError, match="cannot be copied or pickled; copy the model"):
        copy.deepcopy(tabled)
    with pytest.raises(TypeError, match="cannot be copied or pickled"):
        pickle.dumps(tabled)
    x = np.linspace(0, 1, 20, dtype="float32").reshape(10, 2)
    model = nd.Sequential([nd.Input((2,)), nd.layers.Dense(1)])
    model.compile("adam", "mse")
    model.fit(x, x[:, :1], epochs=1, verbose=0)  # builds and caches a plan
    twin = copy.deepcopy(model)
    twin.fit(x, x[:, :1], epochs=3, verbose=0)
    np.testing.assert_array_equal(model.predict(x, verbose=0), copy.deepcopy(model).predict(x, verbose=0))
    assert not np.array_equal(twin.predict(x, verbose=0), model.predict(x, verbose=0))
