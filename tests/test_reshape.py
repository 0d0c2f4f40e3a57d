"""Reshape: shapes, -1 inference, Keras' errors, training and config."""

import numpy as np
import pytest

import numdense as nd
from numdense.layers import Reshape


def test_values_shapes_and_training():
    x = np.arange(24, dtype=np.float32).reshape(2, 12)
    layer = Reshape((3, -1))
    np.testing.assert_array_equal(layer(x), x.reshape(2, 3, 4))
    assert layer.compute_output_shape((None, 12)) == (None, 3, 4)
    assert Reshape((-1, 2)).compute_output_shape((None, None)) == (None, None, 2)
    y = layer._train_forward(x)
    np.testing.assert_array_equal(layer._train_backward(y * 2), x * 2)
    assert Reshape.from_config(layer.get_config()).target_shape == (3, -1)
    t = nd.Input((4, 3))
    assert Reshape((12,))(t).shape == (None, 12)


def test_errors():
    with pytest.raises(ValueError, match="at most one unknown dimension"):
        Reshape((-1, -1))
    with pytest.raises(ValueError, match="total size of the tensor must be unchanged"):
        Reshape((5,))(nd.Input((4,)))
    with pytest.raises(ValueError, match="cannot by divided"):
        Reshape((3, -1))(nd.Input((4,)))
    with pytest.raises(ValueError, match="positive integers"):
        Reshape((0, 2))
