import numpy as np
import pytest

from .harness import backends, run

# The simulator runs numba.cuda.random's uint64 arithmetic on NumPy scalars, which warns on wrap-around.
pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning", "ignore::numba.NumbaWarning")


@backends
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_dropout_from_noise(backend, dtype, rng):
    x = rng.standard_normal(19).astype(dtype)
    noise = rng.uniform(size=19).astype(dtype)
    out, mask = np.empty_like(x), np.empty_like(x)
    run(backend, "dropout", "dropout_forward_into", x, noise, out, mask, 0.3, outs=[2, 3])
    keep = noise >= 0.3
    np.testing.assert_allclose(mask, np.where(keep, 1 / 0.7, 0), rtol=1e-7)
    np.testing.assert_allclose(out, x * mask, rtol=3e-7)  # CPU: float64 product, then rounded
    dx = np.empty_like(x)
    run(backend, "dropout", "dropout_backward_into", x, mask, dx, outs=[2])
    np.testing.assert_allclose(dx, x * mask, rtol=3e-7)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_dropout_device_rng(dtype):
    from numba import cuda

    from numdense.kernels.cuda.dropout import dropout_forward_into, rng_states

    n, rate = 400, 0.25
    x = cuda.to_device(np.ones(n, dtype))
    out = cuda.device_array(n, dtype)
    mask = cuda.device_array(n, dtype)
    states = rng_states(16, seed=7)
    dropout_forward_into(x, states, out, mask, rate)
    m1 = mask.copy_to_host()
    assert set(np.unique(m1)) <= {0.0, dtype(1 / (1 - rate))}
    assert 0.15 < (m1 == 0).mean() < 0.35
    np.testing.assert_array_equal(out.copy_to_host(), m1)
    dropout_forward_into(x, states, out, mask, rate)
    assert (mask.copy_to_host() != m1).any()  # the states advanced
    dropout_forward_into(x, rng_states(16, seed=7), out, mask, rate)
    np.testing.assert_array_equal(mask.copy_to_host(), m1)  # same seed, same masks
