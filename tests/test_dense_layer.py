import numpy as np
import pytest

import numdense as nd
from numdense.layers import Dense
from tests import reference
from tests.layer_test_utils import run_layer_test


def test_dense_basics_no_bias():
    run_layer_test(
        Dense,
        dict(units=4, activation="relu", kernel_initializer="random_uniform",
             bias_initializer="ones", use_bias=False),
        input_shape=(2, 3), expected_output_shape=(2, 4),
        expected_num_trainable_weights=1, supports_masking=True,
    )


def test_dense_basics_rank3_with_regularizers():
    run_layer_test(
        Dense,
        dict(units=5, activation="sigmoid", kernel_regularizer="l2", bias_regularizer="l2"),
        input_shape=(2, 3, 4), expected_output_shape=(2, 3, 5),
        expected_num_trainable_weights=2, expected_num_losses=2, supports_masking=True,
    )


@pytest.mark.parametrize("units", [0, -3, 2.5, None, "64", True])
def test_invalid_units_raise(units):
    with pytest.raises(ValueError, match="positive integer"):
        Dense(units)


def test_correctness_with_bias_and_relu():
    layer = Dense(2, activation="relu")
    layer.build((1, 2))
    layer.set_weights([np.array([[1.0, -2.0], [3.0, -4.0]]), np.array([5.0, -6.0])])
    np.testing.assert_array_equal(layer(np.array([[-1.0, 2.0]])), [[10.0, 0.0]])


def test_correctness_without_bias():
    layer = Dense(2, use_bias=False)
    layer.build((1, 2))
    layer.set_weights([np.array([[1.0, -2.0], [3.0, -4.0]])])
    assert layer.bias is None
    np.testing.assert_array_equal(layer(np.array([[-1.0, 2.0]])), [[5.0, -6.0]])


def test_activation_set_to_none_after_build():
    layer = Dense(2, use_bias=False, activation="relu")
    layer.build((1, 2))
    layer.set_weights([np.array([[1.0, -2.0], [3.0, -4.0]])])
    np.testing.assert_array_equal(layer(np.array([[-1.0, 2.0]])), [[5.0, 0.0]])
    layer.activation = None
    np.testing.assert_array_equal(layer(np.array([[-1.0, 2.0]])), [[5.0, -6.0]])


def test_last_dimension_mismatch_raises():
    layer = Dense(2)
    layer(np.ones((1, 2)))
    with pytest.raises(ValueError, match="incompatible with the layer.*expected axis -1 of input "
                                         r"shape to have value 2.*\(1, 3\)"):
        layer(np.ones((1, 3)))


def test_rank1_input_raises():
    with pytest.raises(ValueError, match=r"expected min_ndim=2, found ndim=1. Full shape received: \(5,\)"):
        Dense(3)(np.ones(5))


def test_undefined_last_dimension_raises():
    with pytest.raises(ValueError, match="last dimension of the inputs to a Dense layer should be defined"):
        Dense(3).build((None, None))


def test_kernel_before_build_raises():
    with pytest.raises(AttributeError, match="You must build the layer before accessing `kernel`"):
        Dense(3).kernel


def test_rank3_contracts_last_axis_only(rng):
    layer = Dense(4, activation="tanh")
    x = rng.standard_normal((2, 3, 5)).astype("float32")
    y = layer(x)
    assert y.shape == (2, 3, 4)
    w, b = layer.get_weights()
    np.testing.assert_allclose(y, np.tanh(x @ w + b), rtol=1e-5, atol=1e-6)
    assert layer.count_params() == 5 * 4 + 4


def test_constraints_attached_to_weights():
    layer = Dense(2, kernel_constraint="non_neg", bias_constraint="max_norm")
    layer.build((None, 2))
    assert isinstance(layer.kernel.constraint, nd.constraints.NonNeg)
    assert isinstance(layer.bias.constraint, nd.constraints.MaxNorm)


def test_constraints_not_applied_at_init_or_set_weights():
    layer = Dense(2, kernel_constraint="non_neg", kernel_initializer="ones")
    layer.build((None, 2))
    layer.set_weights([-np.ones((2, 2)), np.zeros(2)])
    assert (layer.kernel.numpy() == -1).all()


def test_integer_input_is_cast_to_float32():
    layer = Dense(3, kernel_initializer="ones")
    y = layer(np.array([[1, 2]], dtype=np.int64))
    assert y.dtype == np.float32
    np.testing.assert_array_equal(y, [[3, 3, 3]])


def test_float64_layer():
    layer = Dense(3, dtype="float64")
    y = layer(np.ones((2, 4), dtype=np.float32))
    assert y.dtype == np.float64 and layer.kernel.dtype == np.float64


def test_object_input_raises_type_error():
    with pytest.raises(TypeError, match="numeric array"):
        Dense(2)(np.array([["a", "b"]], dtype=object))


def test_custom_square_activation_tutorial():
    layer = Dense(2, activation=lambda x: x ** 2, kernel_initializer="ones", bias_initializer="ones")
    np.testing.assert_array_equal(layer(np.array([[1.0, 2.0, 3.0, 1.0]])), [[64.0, 64.0]])


def test_set_weights_errors_and_atomicity():
    layer = Dense(2)
    layer.build((None, 2))
    before = layer.get_weights()
    with pytest.raises(ValueError, match=r"with a weight list of length 1, but the layer was expecting 2 weights"):
        layer.set_weights([np.ones((2, 2))])
    with pytest.raises(ValueError, match=r"Layer dense\w* weight shape \(2, 2\) is not compatible with provided weight shape \(3, 2\)"):
        layer.set_weights([np.ones((3, 2)), np.ones(2)])
    with pytest.raises(ValueError):
        layer.set_weights([np.full((2, 2), 7.0), np.ones(3)])  # second is wrong: first untouched
    for a, b in zip(before, layer.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_count_params_unbuilt_raises():
    with pytest.raises(ValueError, match="isn't built"):
        Dense(2).count_params()


def test_weights_order_names_and_paths():
    layer = Dense(3, name="head")
    layer.build((None, 4))
    assert [w.name for w in layer.weights] == ["kernel", "bias"]
    assert [w.path for w in layer.weights] == ["head/kernel", "head/bias"]


def test_frozen_layer_has_no_trainable_weights():
    layer = Dense(3)
    layer.build((None, 4))
    layer.trainable = False
    assert layer.trainable_weights == []
    assert len(layer.non_trainable_weights) == 2


def test_glorot_uniform_default_bounds():
    layer = Dense(50)
    layer.build((None, 100))
    assert np.abs(layer.kernel.numpy()).max() <= np.sqrt(6 / 150)
    assert (layer.bias.numpy() == 0).all()


def test_config_round_trip_is_unbuilt_and_equivalent():
    layer = Dense(7, activation="relu", kernel_regularizer="l2", kernel_constraint="max_norm",
                  use_bias=False, name="d7")
    config = layer.get_config()
    assert config["units"] == 7 and config["activation"] == "relu" and config["use_bias"] is False
    clone = Dense.from_config(config)
    assert not clone.built and clone.name == "d7"
    assert isinstance(clone.kernel_regularizer, nd.regularizers.L2)


def test_regularizer_losses_values():
    layer = Dense(5, kernel_initializer="ones", kernel_regularizer=nd.regularizers.L1(0.01),
                  activity_regularizer=nd.regularizers.L2(0.01))
    layer(np.ones((5, 5)) * 2, training=True)
    # Keras 3.15: [activity (divided by batch), kernel]
    np.testing.assert_allclose(layer.losses, [5.0, 0.25], rtol=1e-6)


@pytest.mark.parametrize("case", reference.cases("dense"), ids=reference.case_id)
def test_forward_matches_keras(case):
    data = reference.load(case)
    cfg = case["config"]
    layer = Dense(**cfg)
    layer.build(data["x"].shape)
    weights = [data["kernel"]] + ([data["bias"]] if cfg.get("use_bias", True) else [])
    layer.set_weights(weights)
    np.testing.assert_allclose(layer(data["x"]), data["y"], **reference.FORWARD_TOL)
