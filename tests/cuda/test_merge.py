"""Merge kernels on both kernel sets through the harness (same assertions for CPU and CUDA)."""

import numpy as np
import pytest

from .harness import backends, run


@backends
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_merge_kernels(backend, dtype, rng):
    a, b = rng.standard_normal(19).astype(dtype), rng.standard_normal(19).astype(dtype)
    for name, ref in (("add_into", a + b), ("subtract_into", a - b),
                      ("multiply_into", a * b)):
        out = np.empty_like(a)
        run(backend, "merge", name, a, b, out, outs=[2])
        np.testing.assert_array_equal(out, ref)
    out = np.empty_like(a)
    run(backend, "merge", "divide_into", a, 3.0, out, outs=[2])
    np.testing.assert_array_equal(out, a / dtype(3))
    src = rng.standard_normal((5, 3)).astype(dtype)
    dst = np.zeros((5, 7), dtype)
    run(backend, "merge", "copy_columns_into", src, dst, 4, outs=[1])
    np.testing.assert_array_equal(dst[:, 4:], src)
    assert not dst[:, :4].any()
    back = np.empty_like(src)
    run(backend, "merge", "take_columns_into", dst, 4, back, outs=[2])
    np.testing.assert_array_equal(back, src)
