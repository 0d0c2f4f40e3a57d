import numpy as np
import pytest

from .harness import backends, run


@backends
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_gather_rows_into(backend, dtype, rng):
    src = rng.standard_normal((9, 5)).astype(dtype)
    rows = np.array([8, 0, 3, 3, 1], dtype=np.int64)  # a repeated row is copied twice
    dst = np.full((5, 5), np.nan, dtype)
    run(backend, "gather", "gather_rows_into", src, rows, dst, outs=[2])
    np.testing.assert_array_equal(dst, src[rows])
