"""The Keras layer protocol for every non-Dense layer numdense has."""

import json

import numpy as np
import pytest

import numdense as nd
from numdense.layers import Activation, Dropout, Flatten, InputLayer
from tests.layer_test_utils import run_layer_test


@pytest.mark.parametrize("activation", ["relu", "softmax", "gelu", nd.activations.tanh])
def test_activation_layer_protocol(activation):
    run_layer_test(Activation, dict(activation=activation), input_shape=(2, 3),
                   expected_output_shape=(2, 3), supports_masking=True)


def test_flatten_layer_protocol():
    run_layer_test(Flatten, {}, input_shape=(2, 3, 4), expected_output_shape=(2, 12))


def test_flatten_channels_first_moves_channels_last():
    x = np.arange(24, dtype="float32").reshape(1, 2, 3, 4)
    y = Flatten(data_format="channels_first")(x)
    np.testing.assert_array_equal(y, x.transpose(0, 2, 3, 1).reshape(1, -1))


def test_dropout_layer_protocol():
    run_layer_test(Dropout, dict(rate=0.5, seed=3), input_shape=(2, 3),
                   expected_output_shape=(2, 3), supports_masking=True)


def test_dropout_noise_shape_broadcasts_the_mask():
    y = Dropout(0.5, noise_shape=(None, 1), seed=1)(np.ones((50, 4), "float32"), training=True)
    assert ((y == 0) | (y == 2)).all()
    assert (y == y[:, :1]).all()  # one decision per row


def test_input_layer_config_round_trip():
    layer = InputLayer(shape=(3, 4), name="inp")
    config = layer.get_config()
    json.dumps(config)
    clone = InputLayer.from_config(config)
    assert clone.batch_shape == (None, 3, 4) and clone.name == "inp"
    assert nd.Input(batch_shape=(8, 2)).shape == (8, 2)
    with pytest.raises(ValueError, match="sparse"):
        nd.Input((3,), sparse=True)
