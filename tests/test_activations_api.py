"""numdense.activations: Keras 3 functions, identifiers, kernel specs and gradients."""

import functools
import json
import math

import numpy as np
import pytest

from numdense import activations, config
from numdense.kernels import activation_kinds as K
from numdense.kernels.cpu.activations import activation_backward
from tests import reference

BUILTIN_NAMES = [
    "celu", "elu", "exponential", "gelu", "hard_shrink", "hard_sigmoid", "hard_silu", "hard_tanh",
    "leaky_relu", "linear", "log_sigmoid", "log_softmax", "mish", "relu", "relu6", "selu",
    "sigmoid", "silu", "soft_shrink", "softmax", "softplus", "softsign", "sparse_plus",
    "sparse_sigmoid", "squareplus", "tanh", "tanh_shrink", "threshold",
]  # fmt: skip


@pytest.mark.parametrize("case", reference.cases("activation"), ids=reference.case_id)
def test_functions_and_gradients_match_keras(case):
    data = reference.load(case)
    fn = activations.get(case["activation"])
    y = fn(data["x"])
    assert y.dtype == np.float32
    np.testing.assert_allclose(y, data["y"], **reference.FORWARD_TOL)
    dx = activations.gradient(fn, data["x"], data["cotangent"])
    assert dx.dtype == np.float32
    np.testing.assert_allclose(dx, data["dx"], **reference.FORWARD_TOL)


def test_keras_docstring_examples():
    x = [-10, -5, 0.0, 5, 10]
    np.testing.assert_array_equal(activations.relu(x), [0, 0, 0, 5, 10])
    np.testing.assert_array_equal(activations.relu(x, negative_slope=0.5), [-5, -2.5, 0, 5, 10])
    np.testing.assert_array_equal(activations.relu(x, max_value=5.0), [0, 0, 0, 5, 5])
    np.testing.assert_array_equal(activations.relu(x, threshold=5.0), [0, 0, 0, 0, 10])
    assert activations.gelu(np.float32(1.0)) == pytest.approx(0.8413447, abs=1e-7)
    assert activations.gelu(np.float32(1.0), approximate=True) == pytest.approx(0.8411920, abs=1e-7)
    assert activations.hard_sigmoid(np.float32(1.0)) == pytest.approx(0.6666667, abs=1e-7)
    np.testing.assert_allclose(activations.soft_shrink(np.array([-1.0, 0.0, 1.0])), [-0.5, 0, 0.5])
    np.testing.assert_allclose(activations.sparse_plus(np.array([-1.0, 0.0, 1.0])), [0, 0.25, 1])
    np.testing.assert_allclose(activations.threshold(np.array([-1.0, 2.0]), 0.0, -7.0), [-7, 2])
    np.testing.assert_allclose(activations.softmax(np.array([[0.0, 0.0]])), [[0.5, 0.5]])


def test_dtypes():
    assert activations.relu(np.array([1, -2])).dtype == np.float32
    assert activations.sigmoid(np.array([True, False])).dtype == np.float32
    assert activations.tanh([0.5, 1.0]).dtype == np.float32
    assert activations.tanh(np.array([0.5])).dtype == np.float64
    assert activations.elu(np.float64(-1.0)).dtype == np.float64
    assert activations.silu(np.array([1.0], np.float16)).dtype == np.float16
    np.testing.assert_array_equal(activations.relu(np.array([3, -2])), [3.0, 0.0])
    config.set_floatx("float64")
    try:
        assert activations.relu(np.array([1, -2])).dtype == np.float64
    finally:
        config.set_floatx("float32")


def test_softmax_axis_and_shapes():
    x = np.arange(24, dtype=np.float32).reshape(2, 3, 4)
    for axis in (0, 1, 2, -1):
        y = activations.softmax(x, axis=axis)
        assert y.shape == x.shape
        np.testing.assert_allclose(y.sum(axis=axis), 1.0, rtol=1e-6)
    np.testing.assert_allclose(np.exp(activations.log_softmax(x, axis=1)), activations.softmax(x, axis=1), rtol=1e-6)
    assert activations.relu(np.zeros((0, 3))).shape == (0, 3)


# --------------------------------------------------------------------------- identifiers


def test_get_names_aliases_and_errors():
    for name in BUILTIN_NAMES:
        assert activations.get(name) is getattr(activations, name)
    assert activations.get(None) is activations.linear
    assert activations.get("swish") is activations.silu is activations.swish
    assert activations.get("hard_swish") is activations.hard_silu is activations.hard_swish
    custom = lambda x: x  # noqa: E731
    assert activations.get(custom) is custom
    with pytest.raises(ValueError, match="Could not interpret activation function identifier: nope"):
        activations.get("nope")
    with pytest.raises(ValueError, match="Could not interpret activation function identifier: 3"):
        activations.get(3)


def test_serialize_round_trips():
    for name in BUILTIN_NAMES:
        fn = activations.get(name)
        assert activations.serialize(fn) == name
        assert activations.deserialize(activations.serialize(fn)) is fn
    assert activations.serialize(activations.swish) == "silu"
    keras_dict = {"module": "keras.activations", "class_name": "function", "config": "relu", "registered_name": None}
    assert activations.get(keras_dict) is activations.relu
    assert activations.deserialize(keras_dict) is activations.relu


def test_serialize_partial_and_custom():
    capped = functools.partial(activations.relu, max_value=6.0)
    config_ = activations.serialize(capped)
    assert config_["class_name"] == "partial"
    assert config_["config"] == {"function": "relu", "keywords": {"max_value": 6.0}}
    back = activations.deserialize(json.loads(json.dumps(config_)))
    assert back.func is activations.relu and back.keywords == {"max_value": 6.0}
    np.testing.assert_array_equal(back(np.array([7.0, -1.0])), [6.0, 0.0])

    def my_square(x):
        return x**2

    custom = activations.serialize(my_square)
    assert custom["class_name"] == "function" and custom["config"] == "my_square"
    assert activations.deserialize(custom, custom_objects={"my_square": my_square}) is my_square
    with pytest.raises(ValueError, match="Could not interpret"):
        activations.deserialize(custom)


def test_kernel_spec():
    inf = math.inf
    assert activations.kernel_spec(activations.relu) == (K.RELU, 0.0, inf, 0.0)
    assert activations.kernel_spec(activations.leaky_relu) == (K.LEAKY_RELU, 0.2, inf, 0.0)
    assert activations.kernel_spec(activations.elu) == (K.ELU, 1.0, inf, 0.0)
    assert activations.kernel_spec(activations.gelu) == (K.GELU, 0.0, inf, 0.0)
    assert activations.kernel_spec(activations.squareplus) == (K.SQUAREPLUS, 4.0, inf, 0.0)
    assert activations.kernel_spec(activations.soft_shrink) == (K.SOFT_SHRINK, 0.5, inf, 0.0)
    assert activations.kernel_spec(activations.swish) == (K.SILU, 0.0, inf, 0.0)
    assert activations.kernel_spec(activations.softmax) == (K.SOFTMAX, 0.0, inf, 0.0)
    partial = functools.partial
    assert activations.kernel_spec(partial(activations.relu, max_value=6.0)) == (K.RELU, 0.0, 6.0, 0.0)
    assert activations.kernel_spec(partial(activations.gelu, approximate=True))[0] == K.GELU_APPROX
    assert activations.kernel_spec(partial(activations.threshold, threshold=1.0, default_value=-1.0)) == (
        K.THRESHOLD, 1.0, -1.0, 0.0,
    )  # fmt: skip
    assert activations.kernel_spec(partial(activations.softmax, axis=-1))[0] == K.SOFTMAX
    assert activations.kernel_spec(partial(activations.softmax, axis=1)) is None
    assert activations.kernel_spec(activations.threshold) is None
    assert activations.kernel_spec(partial(activations.relu, 1.0)) is None
    assert activations.kernel_spec(lambda x: x) is None
    for name in BUILTIN_NAMES:
        spec = activations.kernel_spec(activations.get(name))
        assert spec is None if name == "threshold" else spec[0] in range(29)


# --------------------------------------------------------------------------- gradient


def test_gradient_of_builtins_is_the_kernel():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(4, 6)).astype(np.float32) * 3
    dy = rng.normal(size=(4, 6)).astype(np.float32)
    for name in BUILTIN_NAMES:
        if name == "threshold":
            continue
        fn = activations.get(name)
        spec = activations.kernel_spec(fn)
        np.testing.assert_array_equal(activations.gradient(fn, x, dy), activation_backward(x, dy, *spec))
        y = fn(x)
        np.testing.assert_array_equal(activations.gradient(fn, x, dy, y=y), activation_backward(x, dy, *spec))
    capped = functools.partial(activations.relu, max_value=1.0)
    np.testing.assert_array_equal(activations.gradient(capped, x, dy), dy * ((x > 0) & (x <= 1)))


def test_gradient_of_custom_square_is_exact():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(5, 7)) * 10
    dy = rng.normal(size=(5, 7))
    dx = activations.gradient(lambda t: t**2, x, dy)
    assert dx.dtype == np.float64
    np.testing.assert_allclose(dx, 2 * x * dy, rtol=1e-12, atol=1e-12)
    dx32 = activations.gradient(lambda t: t**2, x.astype(np.float32), dy.astype(np.float32))
    assert dx32.dtype == np.float32


def test_gradient_of_custom_numpy_functions():
    rng = np.random.default_rng(2)
    x = rng.normal(size=(3, 8)) * 3
    dy = rng.normal(size=(3, 8))

    def my_swish(t):
        return t / (1 + np.exp(-t))

    sig = 1 / (1 + np.exp(-x))
    np.testing.assert_allclose(activations.gradient(my_swish, x, dy), dy * sig * (1 + x * (1 - sig)), rtol=1e-13)
    # np.maximum / np.where work on complex input (one-sided slopes away from the kink).
    np.testing.assert_allclose(activations.gradient(lambda t: np.maximum(t, 0.0), x, dy), dy * (x > 0), atol=1e-15)
    leaky = lambda t: np.where(t > 0, t, 0.1 * t)  # noqa: E731
    np.testing.assert_allclose(activations.gradient(leaky, x, dy), dy * np.where(x > 0, 1, 0.1), atol=1e-15)


def test_gradient_falls_back_for_non_complex_callables():
    rng = np.random.default_rng(3)
    x = rng.normal(size=(4, 5)) * 2
    dy = rng.normal(size=(4, 5))

    def real_only(t):
        if np.iscomplexobj(t):
            raise TypeError("real input only")
        return np.tanh(t) * 3

    expected = dy * 3 / np.cosh(x) ** 2
    np.testing.assert_allclose(activations.gradient(real_only, x, dy), expected, rtol=1e-8, atol=1e-10)

    # np.abs drops the imaginary part: the complex step would give |x| instead of 2|x|.
    np.testing.assert_allclose(activations.gradient(lambda t: t * np.abs(t), x, dy), 2 * np.abs(x) * dy, rtol=1e-8)
    # astype(float64) discards the imaginary part entirely: central differences.
    cast = lambda t: np.asarray(t).astype(np.float64) ** 3  # noqa: E731
    np.testing.assert_allclose(activations.gradient(cast, x, dy), 3 * x**2 * dy, rtol=1e-8, atol=1e-10)


def test_gradient_of_non_elementwise_callable():
    rng = np.random.default_rng(4)
    x = rng.normal(size=(3, 5))
    dy = rng.normal(size=(3, 5))

    def my_softmax(t):
        e = np.exp(t - np.max(t.real, axis=-1, keepdims=True))
        return e / np.sum(e, axis=-1, keepdims=True)

    expected = activations.gradient(activations.softmax, x, dy)
    np.testing.assert_allclose(activations.gradient(my_softmax, x, dy), expected, rtol=1e-12, atol=1e-14)

    def real_softmax(t):
        if np.iscomplexobj(t):
            raise TypeError("real input only")
        return my_softmax(t)

    np.testing.assert_allclose(activations.gradient(real_softmax, x, dy), expected, rtol=1e-7, atol=1e-9)
