"""all_finite: the compiled pre-training check for NaN/inf in a data set."""

import numpy as np
import pytest

from numdense.kernels.cpu.finite import all_finite
from numdense.models import data as data_utils


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(1, 1), (3, 1), (1, 7), (130, 9), (200, 784)])
def test_each_nonfinite_value_anywhere_is_found(rng, dtype, shape):
    x = rng.standard_normal(shape).astype(dtype)
    info = np.finfo(dtype)
    x.flat[0] = info.max  # extremes and subnormals are finite
    x.flat[-1] = -info.max
    x.flat[x.size // 2] = info.smallest_subnormal
    assert all_finite(x)
    for index in {0, x.size // 3, x.size - 1}:
        for bad in (np.nan, np.inf, -np.inf):
            y = x.copy()
            y.flat[index] = bad
            assert not all_finite(y), (index, bad)


def test_big_data_sets_take_the_compiled_check_and_name_the_element(rng):
    x = rng.random((1400, 784), dtype=np.float32)
    assert x.size >= data_utils._COMPILED_CHECK_MIN
    data_utils.check_finite(x, "x")
    x[1399, 783] = np.inf
    with pytest.raises(ValueError, match=r"`x` contains NaN or inf values \(first at index "
                                         r"\(1399, 783\): inf\)"):
        data_utils.check_finite(x, "x")
    x4 = np.zeros((2, 1 << 19, 1, 1))  # any rank: checked as rows
    x4[1, 5, 0, 0] = np.nan
    with pytest.raises(ValueError, match=r"first at index \(1, 5, 0, 0\)"):
        data_utils.check_finite(x4, "x")
