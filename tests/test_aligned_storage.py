"""Weights and optimizer slots start on a 64-byte cache line (``backend.aligned_empty``):
NumPy's own allocations are 16-byte aligned, and a weight matrix 16 or 48 bytes into a line
made ``model(x)`` ~20 % slower."""

import copy
import pickle

import numpy as np
import pytest

import numdense as nd
from numdense import backend
from numdense.variables import Variable


def _aligned(a):
    return a.ctypes.data % backend.CACHE_LINE_BYTES == 0


@pytest.mark.parametrize("shape", [(), 0, 7, (3, 5), (0, 4), (784, 128), (2, 3, 4)])
@pytest.mark.parametrize("dtype", ["float32", "float64", "int64"])
def test_aligned_empty_gives_the_shape_and_dtype_on_a_cache_line(shape, dtype):
    for _ in range(5):  # several allocations, so that the raw offsets differ
        a = backend.aligned_empty(shape, dtype)
        assert a.shape == ((shape,) if isinstance(shape, int) else shape)
        assert a.dtype == np.dtype(dtype) and a.flags.c_contiguous and a.flags.writeable
        assert _aligned(a) or a.size == 0
        a[...] = 3
        assert np.all(a == 3)


def test_aligned_copy_copies_values_and_dtype():
    source = np.arange(12, dtype=np.float32).reshape(3, 4)[:, ::2]  # not contiguous
    copied = backend.aligned_copy(source)
    assert _aligned(copied) and copied.flags.c_contiguous
    assert copied.dtype == np.float32 and np.array_equal(copied, source)
    source[0, 0] = 99
    assert copied[0, 0] == 0
    assert np.array_equal(backend.aligned_copy([[1.5, 2.5]]), [[1.5, 2.5]])


def test_weights_and_optimizer_slots_start_on_a_cache_line():
    model = nd.Sequential([nd.Input((5,)), nd.layers.Dense(7, activation="relu"),
                           nd.layers.Dense(3)])
    model.compile(optimizer="adam", loss="mse")
    x = np.random.default_rng(0).random((20, 5)).astype(np.float32)
    model.fit(x, x[:, :3], epochs=1, verbose=0)
    variables = [v.value for layer in model.layers for v in layer.weights]
    slots = [v.value for v in model.optimizer.variables if v.value.size > 1]
    assert len(variables) == 4 and len(slots) >= 8
    assert all(_aligned(a) for a in variables + slots)
    model.set_weights([w + 1 for w in model.get_weights()])  # assigned in place
    assert all(_aligned(v.value) for layer in model.layers for v in layer.weights)


@pytest.mark.parametrize("clone", [copy.deepcopy, lambda v: pickle.loads(pickle.dumps(v))])
def test_a_copied_variable_is_aligned_again(clone):
    variable = Variable(np.arange(10, dtype=np.float32), name="kernel")
    copied = clone(variable)
    assert _aligned(copied.value) and np.array_equal(copied.value, variable.value)
    assert copied.value.ctypes.data != variable.value.ctypes.data
