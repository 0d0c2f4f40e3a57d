"""bias_add / bias_grad: cores and wrappers against NumPy."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from numdense.kernels.cpu.bias import bias_add, bias_add_into, bias_grad, bias_grad_into

DTYPES = (np.float32, np.float64)
DIMS = st.one_of(st.sampled_from([0, 1, 2, 7, 127, 128, 129, 300]), st.integers(0, 64))


@pytest.mark.parametrize("dtype", DTYPES)
@given(m=DIMS, n=DIMS, seed=st.integers(0, 2**16))
def test_bias_add_into(dtype, m, n, seed):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((m, n)).astype(dtype)
    b = rng.standard_normal(n).astype(dtype)
    out = np.empty_like(x)
    bias_add_into(x, b, out)
    np.testing.assert_array_equal(out, x + b)
    bias_add_into(x, b, x)  # in place
    np.testing.assert_array_equal(x, out)


@pytest.mark.parametrize("dtype", DTYPES)
@given(m=DIMS, n=DIMS, accumulate=st.booleans(), seed=st.integers(0, 2**16))
def test_bias_grad_into(dtype, m, n, accumulate, seed):
    rng = np.random.default_rng(seed)
    dy = rng.standard_normal((m, n)).astype(dtype)
    db = rng.standard_normal(n).astype(dtype)
    expected = dy.astype(np.float64).sum(axis=0) + (db if accumulate else 0)
    bias_grad_into(dy, db, accumulate)
    tol = 1e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(db, expected, rtol=tol, atol=tol * max(1, m) ** 0.5)


def test_bias_grad_float32_long_sum_is_accurate():
    dy = np.full((100_000, 3), 0.1, np.float32)
    np.testing.assert_allclose(bias_grad(dy), np.full(3, 10_000.0), rtol=1e-5)


@given(
    m=DIMS,
    n=DIMS,
    layout=st.sampled_from(["C", "F", "strided"]),
    dx=st.sampled_from(DTYPES),
    dbias=st.sampled_from(DTYPES),
    seed=st.integers(0, 2**16),
)
def test_wrappers_layouts_and_dtypes(m, n, layout, dx, dbias, seed):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((m, 2 * n)).astype(dx)
    x = {"C": x[:, :n].copy(), "F": np.asfortranarray(x[:, :n]), "strided": x[:, ::2]}[layout]
    b = rng.standard_normal(n).astype(dbias)
    got = bias_add(x, b)
    assert got.dtype == np.result_type(x, b) and got.flags.c_contiguous
    np.testing.assert_allclose(got, x.astype(np.float64) + b, rtol=1e-6)
    g = bias_grad(x)
    assert g.dtype == x.dtype
    np.testing.assert_allclose(g, x.astype(np.float64).sum(axis=0), rtol=1e-5, atol=1e-5 * max(1, m))


def test_wrappers_out_and_accumulate():
    x = np.arange(12.0).reshape(3, 4)
    b = np.arange(4.0)
    assert bias_add(x, b, out=x) is x
    np.testing.assert_array_equal(x, np.arange(12.0).reshape(3, 4) + b)
    out = np.ones(4)
    assert bias_grad(x, out=out, accumulate=True) is out
    np.testing.assert_array_equal(out, x.sum(axis=0) + 1)
    np.testing.assert_array_equal(bias_grad(x, out=out), x.sum(axis=0))


@pytest.mark.parametrize(
    "call, exc, match",
    [
        (lambda: bias_add(np.ones(3), np.ones(3)), ValueError, r"bias_add: x must be a 2-D array, got 1-D"),
        (lambda: bias_add(np.ones((2, 3)), np.ones((1, 3))), ValueError, r"b must be a 1-D array, got 2-D"),
        (lambda: bias_add(np.ones((2, 3)), np.ones(4)), ValueError, r"b must have shape \(3,\).*got \(4,\)"),
        (lambda: bias_add(np.ones((2, 3), int), np.ones(3)), TypeError, r"x must have dtype float32 or float64, got int"),
        (lambda: bias_add(np.ones((2, 3)), np.ones(3), out=np.empty((2, 3), np.float32)), ValueError, r"out must have dtype float64"),
        (lambda: bias_grad(np.ones((2, 3)), out=np.empty(2)), ValueError, r"bias_grad: out must have shape \(3,\), got \(2,\)"),
        (lambda: bias_grad(np.ones((2, 3), np.int32)), TypeError, r"dy must have dtype"),
    ],
)
def test_errors(call, exc, match):
    with pytest.raises(exc, match=match):
        call()
