"""Merge kernels (CPU) against NumPy; the CUDA twins run the same checks in tests/cuda."""

import numpy as np
import pytest

from numdense.kernels.cpu import merge


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_merge_kernels(dtype):
    r = np.random.default_rng(0)
    a, b = r.standard_normal(37).astype(dtype), r.standard_normal(37).astype(dtype)
    out = np.empty_like(a)
    for fn, ref in ((merge.add_into, a + b), (merge.subtract_into, a - b),
                    (merge.multiply_into, a * b)):
        fn(a, b, out)
        np.testing.assert_array_equal(out, ref)
    merge.divide_into(a, 3.0, out)
    np.testing.assert_array_equal(out, a / dtype(3))
    src = r.standard_normal((4, 3)).astype(dtype)
    dst = np.zeros((4, 7), dtype)
    merge.copy_columns_into(src, dst, 2)
    np.testing.assert_array_equal(dst[:, 2:5], src)
    assert not dst[:, :2].any() and not dst[:, 5:].any()
    back = np.empty_like(src)
    merge.take_columns_into(dst, 2, back)
    np.testing.assert_array_equal(back, src)
