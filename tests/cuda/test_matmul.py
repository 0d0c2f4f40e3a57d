import numpy as np
import pytest

from .harness import assert_close, backends, run

# (M, K, N) with the test tiles (8 x 8 outputs, K step 4): several blocks, ragged M, N and K.
SHAPE = (13, 11, 9)
VARIANTS = {
    "matmul_into": (lambda a, b: a @ b, False, False),
    "matmul_tn_into": (lambda a, b: a.T @ b, True, False),
    "matmul_nt_into": (lambda a, b: a @ b.T, False, True),
}


def _operands(rng, dtype, ta, tb, shape=SHAPE):
    m, k, n = shape
    a = rng.standard_normal((k, m) if ta else (m, k)).astype(dtype)
    b = rng.standard_normal((n, k) if tb else (k, n)).astype(dtype)
    return a, b


@backends
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("func", list(VARIANTS))
def test_matmul_variants(backend, dtype, func, rng):
    ref, ta, tb = VARIANTS[func]
    a, b = _operands(rng, dtype, ta, tb)
    out = np.full((SHAPE[0], SHAPE[2]), np.nan, dtype=dtype)
    run(backend, "matmul", func, a, b, out, False, outs=[2])
    assert_close(out, ref(a.astype(np.float64), b.astype(np.float64)), dtype, scale=4)


@backends
@pytest.mark.parametrize("func", ["matmul_into", "matmul_tn_into"])
def test_matmul_accumulates(backend, func, rng):
    ref, ta, tb = VARIANTS[func]
    a, b = _operands(rng, np.float64, ta, tb)
    out = rng.standard_normal((SHAPE[0], SHAPE[2]))
    expected = out + ref(a, b)
    run(backend, "matmul", func, a, b, out, True, outs=[2])
    assert_close(out, expected, np.float64)


@backends
def test_matmul_empty_k(backend):
    a = np.zeros((3, 0))
    b = np.zeros((0, 2))
    out = np.full((3, 2), 7.0)
    run(backend, "matmul", "matmul_into", a, b, out, False, outs=[2])
    assert (out == 0).all()


@pytest.mark.parametrize("tiles", [(4, 8, 3, 2, 4), (8, 4, 2, 4, 1), (16, 16, 8, 4, 4)])
def test_matmul_tile_configs(tiles, rng):
    """Other tile shapes (non-square, K step not dividing K, one block) give the same product."""
    from numdense.kernels.cuda import _config
    from numdense.kernels.cuda.matmul import matmul_nt

    a, b = _operands(rng, np.float32, False, True, (10, 7, 6))
    with _config.using(tiles=tiles):
        out = matmul_nt(a, b)
    assert_close(out, a.astype(np.float64) @ b.T.astype(np.float64), np.float32, scale=4)


def test_wrapper_promotes_and_returns_by_input_kind(rng):
    from numba import cuda

    from numdense.kernels.cuda.matmul import matmul

    a = rng.standard_normal((5, 4)).astype(np.float32)
    b = rng.standard_normal((4, 3))
    res = matmul(a, b)
    assert isinstance(res, np.ndarray) and res.dtype == np.float64
    assert_close(res, a @ b, np.float64)
    dres = matmul(cuda.to_device(a), cuda.to_device(b.astype(np.float32)))
    assert not isinstance(dres, np.ndarray)
    out = np.ones((5, 3), dtype=np.float32)
    assert matmul(a, b.astype(np.float32), out=out, accumulate=True) is out
    assert_close(out, 1 + a @ b.astype(np.float32), np.float32)
    with pytest.raises(ValueError, match="inner dimensions"):
        matmul(a, a)


def test_tile_config_is_validated():
    from numdense.kernels.cuda import _config

    with pytest.raises(ValueError):
        _config.set_config(tiles=(8, 8, 4, 3, 2))
    with pytest.raises(ValueError):
        _config.set_config(tpb=12)


@pytest.mark.gpu
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_matmul_large_default_tiles(dtype, rng):
    from numdense.kernels.cuda import _config
    from numdense.kernels.cuda.matmul import matmul

    a = rng.standard_normal((1000, 517)).astype(dtype)
    b = rng.standard_normal((517, 777)).astype(dtype)
    with _config.using(tiles=_config.GPU_TILES, tpb=256):
        out = matmul(a, b)
    assert_close(out, a.astype(np.float64) @ b.astype(np.float64), dtype, scale=50)
