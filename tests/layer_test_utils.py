"""``run_layer_test``: the Keras 3 layer protocol (config round trip, build, symbolic and eager
calls, weight and loss counts) checked for any layer class."""

import json

import numpy as np

import numdense as nd
from numdense.layers.symbolic import KerasTensor


def _json(config):
    return json.dumps(config, sort_keys=True, default=lambda o: list(o) if isinstance(o, tuple) else str(o))


def _shape_matches(expected, actual):
    assert len(expected) == len(actual), f"rank differs: expected {expected}, got {actual}"
    for e, a in zip(expected, actual):
        assert e is None or e == a, f"expected shape {expected}, got {actual}"


def run_layer_test(layer_cls, init_kwargs, input_shape, expected_output_shape,
                   expected_num_trainable_weights=0, expected_num_non_trainable_weights=0,
                   expected_num_losses=0, supports_masking=None):
    # 1. Serialization round trip: from_config(get_config()) gives the same config and API.
    layer = layer_cls(**init_kwargs)
    config = layer.get_config()
    revived = layer_cls.from_config(config)
    assert _json(revived.get_config()) == _json(config)
    assert set(dir(revived)) == set(dir(layer))
    # ... and through the layers namespace's serialize/deserialize.
    again = nd.layers.deserialize(nd.layers.serialize(layer))
    assert _json(again.get_config()) == _json(config)

    if supports_masking is not None:
        assert layer.supports_masking == supports_masking

    # 2. Build: weight counts.
    layer = layer_cls(**init_kwargs)
    layer.build(input_shape)
    assert layer.built
    assert len(layer.trainable_weights) == expected_num_trainable_weights
    assert len(layer.non_trainable_weights) == expected_num_non_trainable_weights

    # 3. Symbolic call: output shape.
    layer = layer_cls(**init_kwargs)
    out = layer(KerasTensor((None,) + tuple(input_shape[1:])))
    _shape_matches((None,) + tuple(expected_output_shape[1:]), out.shape)

    # 4. Eager call: output shape, dtype and losses (activity regularizers count in training).
    layer = layer_cls(**init_kwargs)
    x = np.random.default_rng(0).uniform(-1, 1, input_shape).astype("float32")
    y = layer(x, training=True)
    assert isinstance(y, np.ndarray) and y.dtype == np.float32
    _shape_matches(expected_output_shape, y.shape)
    assert len(layer.losses) == expected_num_losses
    return layer
