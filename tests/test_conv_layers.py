"""Conv2D and the 2-D pooling layers: Keras reference cases, protocol, summary, training, errors."""

import pathlib
import runpy

import numpy as np
import pytest

import numdense as nd
from numdense.layers import (
    AveragePooling2D, Conv2D, Dense, GlobalAveragePooling2D, MaxPooling2D,
)
from tests import reference
from tests.layer_test_utils import run_layer_test


@pytest.mark.parametrize("case", reference.cases("conv2d"), ids=reference.case_id)
def test_conv2d_matches_keras(case):
    data = reference.load(case)
    layer = Conv2D(**case["config"])
    layer.build(data["x"].shape)
    layer.set_weights([data["kernel"], data["bias"]])
    np.testing.assert_allclose(layer(data["x"]), data["y"], **reference.FORWARD_TOL)
    np.testing.assert_allclose(layer._train_forward(data["x"]), data["y"], **reference.FORWARD_TOL)
    dx = layer._train_backward(data["cotangent"])
    np.testing.assert_allclose(dx, data["dx"], **reference.FORWARD_TOL)
    np.testing.assert_allclose(layer._grads[id(layer.kernel)], data["dkernel"], **reference.FORWARD_TOL)
    np.testing.assert_allclose(layer._grads[id(layer.bias)], data["dbias"], **reference.FORWARD_TOL)


@pytest.mark.parametrize("case", reference.cases("maxpool2d"), ids=reference.case_id)
def test_maxpool2d_matches_keras(case):
    data = reference.load(case)
    layer = MaxPooling2D(**case["config"])
    np.testing.assert_allclose(layer(data["x"]), data["y"], **reference.FORWARD_TOL)
    layer._train_forward(data["x"])
    np.testing.assert_allclose(layer._train_backward(data["cotangent"]), data["dx"], **reference.FORWARD_TOL)
    assert layer._grads == {}


def test_layer_protocols():
    run_layer_test(Conv2D, dict(filters=3, kernel_size=(2, 3), strides=(2, 1), padding="same",
                                activation="relu", kernel_regularizer="l2"),
                   input_shape=(2, 5, 6, 2), expected_output_shape=(2, 3, 6, 3),
                   expected_num_trainable_weights=2, expected_num_losses=1)
    run_layer_test(Conv2D, dict(filters=2, kernel_size=3, dilation_rate=2, use_bias=False),
                   input_shape=(1, 7, 7, 1), expected_output_shape=(1, 3, 3, 2),
                   expected_num_trainable_weights=1)
    run_layer_test(MaxPooling2D, dict(pool_size=3, strides=2, padding="same"),
                   input_shape=(2, 7, 5, 3), expected_output_shape=(2, 4, 3, 3))
    run_layer_test(AveragePooling2D, dict(pool_size=(2, 2)),
                   input_shape=(2, 5, 4, 3), expected_output_shape=(2, 2, 2, 3))
    run_layer_test(GlobalAveragePooling2D, dict(keepdims=True),
                   input_shape=(2, 3, 4, 5), expected_output_shape=(2, 1, 1, 5))


def test_configs_have_keras_keys():
    conv = Conv2D(4, 3, name="c").get_config()
    assert set(conv) == {
        "name", "trainable", "dtype", "filters", "kernel_size", "strides", "padding",
        "data_format", "dilation_rate", "groups", "activation", "use_bias", "kernel_initializer",
        "bias_initializer", "kernel_regularizer", "bias_regularizer", "activity_regularizer",
        "kernel_constraint", "bias_constraint",
    }
    assert conv["kernel_size"] == (3, 3) and conv["strides"] == (1, 1) and conv["activation"] == "linear"
    pool = MaxPooling2D().get_config()
    assert {k: pool[k] for k in ("pool_size", "strides", "padding", "data_format")} == {
        "pool_size": (2, 2), "strides": (2, 2), "padding": "valid", "data_format": "channels_last"}
    assert GlobalAveragePooling2D().get_config()["keepdims"] is False


def test_average_pool_same_padding_counts_in_bounds_only():
    x = np.arange(9, dtype=np.float32).reshape(1, 3, 3, 1)
    y = AveragePooling2D(2, padding="same")(x)
    # Windows: rows/cols {0,1} and {2}: the edge windows average fewer elements.
    np.testing.assert_allclose(y[0, :, :, 0], [[2.0, 3.5], [6.5, 8.0]])
    layer = AveragePooling2D(2, padding="same")
    layer._train_forward(x)
    dx = layer._train_backward(np.ones((1, 2, 2, 1), np.float32))
    np.testing.assert_allclose(dx[0, :, :, 0], [[0.25, 0.25, 0.5], [0.25, 0.25, 0.5], [0.5, 0.5, 1.0]])


def test_global_average_pool_values_and_gradient(rng):
    x = rng.standard_normal((2, 3, 4, 5)).astype(np.float32)
    layer = GlobalAveragePooling2D()
    np.testing.assert_allclose(layer(x), x.mean(axis=(1, 2)), rtol=1e-5, atol=1e-6)
    layer._train_forward(x)
    dx = layer._train_backward(np.ones((2, 5), np.float32))
    np.testing.assert_allclose(dx, np.full(x.shape, 1 / 12), rtol=1e-6)


def test_python_activation_matches_builtin(rng):
    x = rng.standard_normal((2, 6, 6, 2)).astype(np.float64)
    g = rng.standard_normal((2, 4, 4, 3))
    results = []
    for activation in ("tanh", lambda z: np.tanh(z)):
        nd.utils.set_random_seed(3)
        layer = Conv2D(3, 3, activation=activation, dtype="float64")
        y = layer._train_forward(x) if layer.built else (layer.build(x.shape), layer._train_forward(x))[1]
        dx = layer._train_backward(g)
        results.append((y, dx, layer._grads[id(layer.kernel)]))
    for a, b in zip(*results):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)


def mnist_model():
    """The tutorial model as examples/cnn_digits.py builds it (so the summary test checks the
    example's model too)."""
    example = runpy.run_path(str(pathlib.Path(__file__).parents[1] / "examples" / "cnn_digits.py"))
    return example["build_model"]()


MNIST_SUMMARY = """\
Model: "sequential"
_________________________________________________________________
 Layer (type)                Output Shape              Param #   
=================================================================
 conv2d (Conv2D)             (None, 26, 26, 32)        320       
                                                                 
 max_pooling2d (MaxPooling2D  (None, 13, 13, 32)       0         
 )                                                               
                                                                 
 conv2d_1 (Conv2D)           (None, 11, 11, 64)        18496     
                                                                 
 max_pooling2d_1 (MaxPooling  (None, 5, 5, 64)         0         
 2D)                                                             
                                                                 
 conv2d_2 (Conv2D)           (None, 3, 3, 64)          36928     
                                                                 
 flatten (Flatten)           (None, 576)               0         
                                                                 
 dense (Dense)               (None, 64)                36928     
                                                                 
 dense_1 (Dense)             (None, 10)                650       
                                                                 
=================================================================
Total params: 93,322
Trainable params: 93,322
Non-trainable params: 0
_________________________________________________________________
"""


def test_mnist_tutorial_summary(capsys):
    nd.backend.clear_session()
    model = mnist_model()
    model.summary()
    assert capsys.readouterr().out == MNIST_SUMMARY
    assert [layer.count_params() for layer in model.layers] == [320, 0, 18496, 0, 36928, 0, 36928, 650]
    assert model.layers[5].output_shape == (None, 576)


def test_short_fit_lowers_the_loss_and_save_load_round_trip(rng, tmp_path):
    pytest.importorskip("h5py")
    x = rng.random((48, 10, 10, 1)).astype(np.float32)
    y = np.arange(48) % 2
    x[y == 1, :, :5] += 1.0  # class 1: a bright left half
    nd.utils.set_random_seed(0)
    model = nd.Sequential([
        Conv2D(4, 3, activation="relu", padding="same", input_shape=(10, 10, 1)),
        MaxPooling2D(2),
        Conv2D(6, 2, strides=2, activation="tanh"),
        AveragePooling2D(2, padding="same"),
        GlobalAveragePooling2D(),
        Dense(2),
    ])
    model.compile(optimizer=nd.optimizers.Adam(0.01),
                  loss=nd.losses.SparseCategoricalCrossentropy(from_logits=True))
    before = model.evaluate(x, y, verbose=0)
    history = model.fit(x, y, epochs=8, batch_size=16, verbose=0)
    after = model.evaluate(x, y, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
    assert after < 0.7 * before
    path = tmp_path / "cnn.keras"
    model.save(path)
    loaded = nd.models.load_model(path)
    assert [type(l).__name__ for l in loaded.layers] == [type(l).__name__ for l in model.layers]
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("kwargs,error,match", [
    (dict(filters=0, kernel_size=3), ValueError, "strictly positive value. Received filters=0"),
    (dict(filters=4, kernel_size=3, padding="full"), ValueError, "The `padding` argument must be"),
    (dict(filters=4, kernel_size=3, strides=2, dilation_rate=2), ValueError,
     r"`strides > 1` not supported in conjunction with `dilation_rate > 1`"),
    (dict(filters=4, kernel_size=(3, 0)), ValueError, r"kernel_size.*do not satisfy `value > 0`"),
    (dict(filters=4, kernel_size=(3, 3, 3)), ValueError, "must be a tuple of 2 integers"),
    (dict(filters=4, kernel_size=3, data_format="channels_first"), NotImplementedError, "channels_first"),
    (dict(filters=4, kernel_size=3, groups=2), NotImplementedError, "groups=2"),
    (dict(filters=3, kernel_size=3, groups=2), ValueError, "evenly divisible by the number of groups"),
])
def test_conv2d_argument_errors(kwargs, error, match):
    with pytest.raises(error, match=match):
        Conv2D(**kwargs)


def test_shape_errors():
    with pytest.raises(ValueError, match="Computed output size would be negative"):
        Conv2D(2, 5)(np.zeros((1, 3, 3, 1)))
    with pytest.raises(ValueError, match="expected ndim=4"):
        MaxPooling2D()(np.zeros((1, 4, 4)))
    with pytest.raises(ValueError, match=r"pool_size.*do not satisfy"):
        MaxPooling2D(pool_size=0)
    with pytest.raises(NotImplementedError, match="channels_first"):
        GlobalAveragePooling2D(data_format="channels_first")
    layer = Conv2D(2, 3)
    layer(np.zeros((1, 5, 5, 3)))
    with pytest.raises(ValueError, match="expected axis -1 of input shape to have value 3"):
        layer(np.zeros((1, 5, 5, 2)))
