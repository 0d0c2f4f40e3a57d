"""The parts of a training step that run on all threads for big layers: Adam's rule and the
batch gather. Each must give the serial kernel's bits, and the compiled loop that switches to
them at a size threshold must still train like the textbook formulas."""

import numpy as np
import pytest

import numdense as nd
from numdense.kernels.cpu import gather as kg
from numdense.kernels.cpu import optimizers as ko

# Sizes around the part boundaries (multiples of 16 per thread) and the loop's threshold.
SIZES = [1, 15, 16, 17, 33, 1000, ko.ADAM_PARALLEL_MIN - 1, ko.ADAM_PARALLEL_MIN + 5]


def _adam_args(rng, n, dtype, amsgrad):
    w, g, m = (rng.standard_normal(n).astype(dtype) for _ in range(3))
    v = rng.random(n).astype(dtype)
    u = (v + rng.random(n).astype(dtype)) if amsgrad else np.zeros(0, dtype)
    m[::7] = 1e-39 if dtype == np.float32 else 1e-310  # subnormals flush in both kernels
    t = dtype.type
    coefficients = (t(1e-3 * np.sqrt(1 - 0.999**3) / (1 - 0.9**3)), t(0.1), t(0.001), t(1e-7))
    return [w, g, m, v, u], coefficients


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("amsgrad", [False, True])
@pytest.mark.parametrize("n", SIZES)
def test_parallel_adam_gives_the_serial_bits(rng, dtype, amsgrad, n):
    arrays, coefficients = _adam_args(rng, n, np.dtype(dtype), amsgrad)
    serial = [a.copy() for a in arrays]
    ko.adam_apply_into(*serial, coefficients, amsgrad, 1e-3, 0.004)
    ko.adam_apply_parallel_into(*arrays, coefficients, amsgrad, 1e-3, 0.004)
    for got, want in zip(arrays, serial):
        np.testing.assert_array_equal(got, want)
    assert not np.array_equal(arrays[0], _adam_args(rng, n, np.dtype(dtype), amsgrad)[0][0])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(1, 1), (5, 3), (40, 784)])
def test_gathers_take_the_listed_rows(rng, dtype, shape):
    src = rng.standard_normal((shape[0] * 3, shape[1])).astype(dtype)
    rows = rng.permutation(src.shape[0])[:shape[0]].astype(np.int64)
    rows[-1] = rows[0]  # a repeated row is copied twice
    for gather in (kg.gather_rows_into, kg.gather_rows_parallel_into):
        dst = np.full(shape, np.nan, dtype)
        gather(src, rows, dst)
        np.testing.assert_array_equal(dst, src[rows])


def test_big_layer_fit_step_matches_numpy_adam(rng):
    """One full-batch step of a linear Dense(200) on 256 features (51,200 weights: the parallel
    Adam rule; 256 x 256 batch elements: the parallel gather) against NumPy's formulas."""
    x = rng.standard_normal((256, 256)).astype(np.float32)
    y = rng.standard_normal((256, 200)).astype(np.float32)
    assert 256 * 200 >= ko.ADAM_PARALLEL_MIN and x.size >= kg.GATHER_PARALLEL_MIN
    model = nd.Sequential([nd.Input((256,)), nd.layers.Dense(200)])
    model.compile(optimizer=nd.optimizers.Adam(learning_rate=0.01), loss="mse")
    w0, b0 = (a.astype(np.float64) for a in model.get_weights())
    model.fit(x, y, batch_size=256, epochs=1, shuffle=True, verbose=0)

    xd, yd = x.astype(np.float64), y.astype(np.float64)
    dpred = 2 * (xd @ w0 + b0 - yd) / y.size  # d mean((pred - y)**2) / d pred
    alpha = 0.01 * np.sqrt(1 - 0.999) / (1 - 0.9)
    for got, p0, g in zip(model.get_weights(), (w0, b0), (xd.T @ dpred, dpred.sum(0))):
        m, v = 0.1 * g, 0.001 * g * g
        want = p0 - m * alpha / (np.sqrt(v) + 1e-7)
        # atol: a few weights with gradients near epsilon amplify float32 rounding of the
        # gradient; a wrong rule is off by ~1e-2 (the step size).
        np.testing.assert_allclose(got, want, rtol=2e-5, atol=1e-5)
        assert np.abs(got - p0).max() > 1e-3  # the step moved the weights
