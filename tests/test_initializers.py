import json

import numpy as np
import pytest

from numdense import config, initializers
from numdense.initializers import compute_fans


def roundtrip(init):
    """Keras' run_class_serialization_test, reduced to what applies to initializers."""
    cfg = init.get_config()
    revived = type(init).from_config(cfg)
    assert json.dumps(revived.get_config(), sort_keys=True) == json.dumps(cfg, sort_keys=True)
    again = initializers.deserialize(initializers.serialize(init))
    assert type(again) is type(init)
    assert again.get_config() == cfg
    return revived


# Ported from keras/src/initializers/random_initializers_test.py


def test_random_normal():
    init = initializers.RandomNormal(mean=0.0, stddev=1.0, seed=1234)
    values = init(shape=(25, 20))
    assert (init.mean, init.stddev, init.seed) == (0.0, 1.0, 1234)
    assert values.shape == (25, 20) and values.dtype == np.float32
    assert np.std(values) == pytest.approx(1.0, abs=0.1)
    roundtrip(init)


def test_seed_semantics():
    for seed in (1337, None):
        init = initializers.RandomNormal(0.0, 1.0, seed=seed)
        np.testing.assert_array_equal(init((25, 20)), init((25, 20)))
    seeded = initializers.RandomNormal(0.0, 1.0, seed=1337)
    np.testing.assert_array_equal(seeded((25, 20)), seeded.clone()((25, 20)))
    unseeded = initializers.RandomNormal(0.0, 1.0)
    clone = initializers.RandomNormal.from_config(unseeded.get_config())
    assert unseeded.get_config()["seed"] is None
    assert not np.allclose(unseeded((25, 20)), clone((25, 20)))
    assert not np.allclose(
        initializers.GlorotUniform(seed=1)((10, 10)), initializers.GlorotUniform(seed=2)((10, 10))
    )
    with pytest.raises(ValueError, match="`seed` argument should be"):
        initializers.RandomNormal(seed="abc")


def test_reseed_makes_unseeded_draws_reproducible():
    initializers._reseed(42)
    a = initializers.HeNormal()((8, 8))
    initializers._reseed(42)
    b = initializers.HeNormal()((8, 8))
    initializers._reseed(None)
    np.testing.assert_array_equal(a, b)


def test_random_uniform():
    init = initializers.RandomUniform(minval=-1.0, maxval=1.0, seed=1234)
    values = init(shape=(5, 5))
    assert values.shape == (5, 5)
    assert values.min() >= -1.0 and values.max() < 1.0
    roundtrip(init)


@pytest.mark.parametrize("mode, n", [("fan_in", 25), ("fan_out", 20)])
def test_variance_scaling(mode, n):
    init = initializers.VarianceScaling(scale=2.0, seed=1234, mode=mode)
    values = init(shape=(25, 20))
    assert init.scale == 2.0 and init.seed == 1234
    assert np.std(values) == pytest.approx(np.sqrt(2.0 / n), abs=0.1)
    roundtrip(init)


def test_variance_scaling_errors():
    with pytest.raises(ValueError, match="Argument `scale` must be positive float."):
        initializers.VarianceScaling(scale=-1.0, seed=1234, mode="fan_in")
    with pytest.raises(ValueError, match="Invalid `mode` argument:"):
        initializers.VarianceScaling(scale=2.0, mode="invalid_mode")
    with pytest.raises(ValueError, match="Invalid `distribution` argument:"):
        initializers.VarianceScaling(scale=2.0, mode="fan_in", distribution="invalid_dist")
    assert initializers.VarianceScaling(distribution="normal").distribution == "truncated_normal"


def test_orthogonal():
    init = initializers.Orthogonal(gain=2.0, seed=1234)
    values = init(shape=(5, 5)).astype(np.float64)
    assert (init.seed, init.gain) == (1234, 2.0)
    np.testing.assert_allclose(values.T @ values, 4.0 * np.eye(5), atol=1e-5)
    roundtrip(init)
    assert isinstance(initializers.get("OrthogonalInitializer"), initializers.Orthogonal)


@pytest.mark.parametrize("shape", [(30, 10), (10, 30), (3, 3, 4, 8)])
def test_orthogonal_rectangular_and_conv(shape):
    values = initializers.Orthogonal(gain=1.5, seed=3)(shape, dtype="float64")
    m = values.reshape(-1, shape[-1])
    gram = m.T @ m if m.shape[0] >= m.shape[1] else m @ m.T
    np.testing.assert_allclose(gram, 2.25 * np.eye(min(m.shape)), atol=1e-10)
    with pytest.raises(ValueError, match="at least two-dimensional"):
        initializers.Orthogonal()((5,))


def test_get_method():
    assert isinstance(initializers.get("glorot_normal"), initializers.GlorotNormal)
    assert initializers.get(None) is None
    with pytest.raises(ValueError):
        initializers.get("typo")


def test_get_method_with_array():
    array = np.random.default_rng(0).uniform(size=(5, 5)).astype("float32")
    init = initializers.get(array)
    np.testing.assert_array_equal(init(shape=(5, 5)), array)
    assert init((5, 5), dtype="float64").dtype == np.float64
    with pytest.raises(ValueError, match=r"Expected `shape` to be"):
        init(shape=(10, 10))


def test_compute_fans():
    assert compute_fans(()) == (1, 1)
    assert compute_fans((7,)) == (7, 7)
    assert compute_fans((3, 4)) == (3, 4)
    assert compute_fans((3, 3, 4, 8)) == (36, 72)
    assert compute_fans((512, 8, 64), input_axes=[0], output_axes=[1, 2]) == (512, 512)
    assert compute_fans((512, 8, 64), input_axes=[0, 1], output_axes=[2]) == (4096, 64)


def test_variance_scaling_with_axes():
    init = initializers.VarianceScaling(
        scale=2.0, seed=1234, mode="fan_in", input_axes=[0], output_axes=[1, 2]
    )
    assert np.std(init((32, 4, 16))) == pytest.approx(np.sqrt(2.0 / 32), abs=0.1)
    roundtrip(init)
    init = initializers.VarianceScaling(scale=2.0, seed=1234, mode="fan_in")
    assert np.std(init((32, 4, 16))) == pytest.approx(np.sqrt(2.0 / 128), abs=0.1)


# Ported from keras/src/initializers/constant_initializers_test.py


def test_constant_initializers():
    np.testing.assert_array_equal(initializers.Zeros()((3, 3)), np.zeros((3, 3)))
    np.testing.assert_array_equal(initializers.Ones()((3, 3)), np.ones((3, 3)))
    np.testing.assert_array_equal(initializers.Constant(6.0)((3, 3)), np.full((3, 3), 6.0))
    np.testing.assert_array_equal(initializers.Identity(gain=2)((3, 3)), 2 * np.eye(3))
    for init in (initializers.Zeros(), initializers.Ones(), initializers.Constant(6.0)):
        roundtrip(init)
        assert init((2,)).dtype == np.float32
    roundtrip(initializers.Identity(gain=2))
    assert isinstance(initializers.get("IdentityInitializer"), initializers.Identity)
    with pytest.raises(ValueError, match="only be used for 2D matrices"):
        initializers.Identity()((2, 2, 2))
    assert initializers.Zeros()((2,), dtype="int32").dtype == np.int32


def test_constant_array_value():
    value = np.random.default_rng(1).random((3, 3))
    init = initializers.Constant(value=value)
    np.testing.assert_allclose(init((3, 3), "float64"), value)
    assert init.get_config()["value"]["class_name"] == "__tensor__"
    revived = roundtrip(init)
    np.testing.assert_allclose(revived((3, 3), "float64"), value)


# Names, serialization, dtypes


@pytest.mark.parametrize(
    "name, cls",
    [
        ("glorot_uniform", initializers.GlorotUniform),
        ("GlorotUniform", initializers.GlorotUniform),
        ("glorot_normal", initializers.GlorotNormal),
        ("he_uniform", initializers.HeUniform),
        ("he_normal", initializers.HeNormal),
        ("lecun_uniform", initializers.LecunUniform),
        ("lecun_normal", initializers.LecunNormal),
        ("zeros", initializers.Zeros),
        ("zero", initializers.Zeros),
        ("ones", initializers.Ones),
        ("one", initializers.Ones),
        ("constant", initializers.Constant),
        ("uniform", initializers.RandomUniform),
        ("random_uniform", initializers.RandomUniform),
        ("normal", initializers.RandomNormal),
        ("random_normal", initializers.RandomNormal),
        ("truncated_normal", initializers.TruncatedNormal),
        ("variance_scaling", initializers.VarianceScaling),
        ("orthogonal", initializers.Orthogonal),
        ("identity", initializers.Identity),
    ],
)
def test_string_names(name, cls):
    assert type(initializers.get(name)) is cls


def test_keras_serialization_format():
    assert initializers.serialize(initializers.GlorotUniform()) == {
        "module": "keras.initializers",
        "class_name": "GlorotUniform",
        "config": {"seed": None, "input_axes": None, "output_axes": None},
        "registered_name": None,
    }
    cfg = {"class_name": "RandomNormal", "config": {"mean": 1.0, "stddev": 0.5, "seed": 7}}
    init = initializers.get(cfg)
    assert (init.mean, init.stddev, init.seed) == (1.0, 0.5, 7)
    assert initializers.get(initializers.HeNormal).get_config()["seed"] is None


def test_dtypes():
    assert initializers.HeNormal(seed=1)((4, 4), dtype="float64").dtype == np.float64
    config.set_floatx("float64")
    try:
        assert initializers.GlorotUniform(seed=1)((4, 4)).dtype == np.float64
        assert initializers.Zeros()((4,)).dtype == np.float64
    finally:
        config.set_floatx("float32")
    with pytest.raises(ValueError, match="floating dtype"):
        initializers.RandomNormal(seed=1)((2,), dtype="int32")


# Statistical bounds and moments at fixed seeds


@pytest.mark.parametrize(
    "cls, limit",
    [
        (initializers.GlorotUniform, np.sqrt(6 / 150)),
        (initializers.HeUniform, np.sqrt(6 / 100)),
        (initializers.LecunUniform, np.sqrt(3 / 100)),
    ],
)
def test_uniform_variance_scaling_bounds(cls, limit):
    values = cls(seed=11)((100, 50))
    assert np.abs(values).max() < limit
    assert np.abs(values).max() > 0.98 * limit
    assert np.std(values) == pytest.approx(limit / np.sqrt(3), rel=0.03)
    assert abs(np.mean(values)) < 0.02 * limit


@pytest.mark.parametrize(
    "cls, stddev",
    [
        (initializers.GlorotNormal, np.sqrt(2 / (400 + 300))),
        (initializers.HeNormal, np.sqrt(2 / 400)),
        (initializers.LecunNormal, np.sqrt(1 / 400)),
    ],
)
def test_truncated_variance_scaling_moments(cls, stddev):
    values = cls(seed=5)((400, 300)).astype(np.float64)
    # The pre-truncation stddev is stddev / 0.8796...; values are cut at 2 of those.
    bound = 2 * stddev / 0.87962566103423978
    assert np.abs(values).max() <= bound * (1 + 1e-6)
    assert np.abs(values).max() > 0.99 * bound
    assert np.std(values) == pytest.approx(stddev, rel=0.02)
    assert abs(np.mean(values)) < 0.01 * stddev


def test_conv_kernel_fans():
    values = initializers.HeNormal(seed=2)((3, 3, 64, 32)).astype(np.float64)
    assert np.std(values) == pytest.approx(np.sqrt(2 / (9 * 64)), rel=0.03)
    values = initializers.GlorotUniform(seed=2)((3, 3, 64, 32))
    assert np.abs(values).max() < np.sqrt(6 / (9 * 96))


def test_untruncated_normal():
    values = initializers.VarianceScaling(2.0, "fan_out", "untruncated_normal", seed=3)((200, 500))
    assert np.std(values) == pytest.approx(np.sqrt(2 / 500), rel=0.02)
    assert np.abs(values).max() > 3.5 * np.sqrt(2 / 500)


def test_truncated_normal():
    values = initializers.TruncatedNormal(mean=1.0, stddev=0.5, seed=9)((300, 300))
    values = values.astype(np.float64)
    assert values.min() >= 0.0 and values.max() <= 2.0
    assert values.min() < 0.01 and values.max() > 1.99
    # Standard normal truncated at +-2 has stddev 0.8796...
    assert np.std(values) == pytest.approx(0.5 * 0.87962566, rel=0.02)
    assert np.mean(values) == pytest.approx(1.0, abs=0.005)


def test_default_random_normal_and_uniform():
    values = initializers.RandomNormal(seed=4)((300, 300)).astype(np.float64)
    assert np.std(values) == pytest.approx(0.05, rel=0.02)
    values = initializers.get("uniform")((300, 300))
    assert values.min() >= -0.05 and values.max() < 0.05
    assert np.std(values.astype(np.float64)) == pytest.approx(0.1 / np.sqrt(12), rel=0.02)


def test_scalar_and_vector_shapes():
    assert initializers.GlorotUniform(seed=1)(()).shape == ()
    bias = initializers.HeUniform(seed=1)((10,))
    assert bias.shape == (10,) and np.abs(bias).max() < np.sqrt(6 / 10)


# Keras 3.15.1 with KERAS_BACKEND=numpy seeds NumPy's Generator the same way, so these match
# bit for bit (values printed from that Keras for shape (4, 3)).
KERAS_NUMPY_BACKEND_VALUES = {
    "GlorotUniform": (
        dict(seed=3),
        [-0.7672286629676819, -0.4873322546482086, 0.5578519105911255, 0.15213452279567719],
    ),
    "Orthogonal": (
        dict(gain=2.0, seed=9),
        [-1.1342263221740723, 1.4881765842437744, -0.6042340397834778, 0.9269272089004517],
    ),
    "HeNormal": (
        dict(seed=5),
        [-0.6446505188941956, -1.0646156072616577, -0.19965104758739471, 0.3379843235015869],
    ),
}


@pytest.mark.parametrize("name", sorted(KERAS_NUMPY_BACKEND_VALUES))
def test_matches_keras_numpy_backend(name):
    kwargs, expected = KERAS_NUMPY_BACKEND_VALUES[name]
    values = getattr(initializers, name)(**kwargs)((4, 3))
    assert values.dtype == np.float32
    assert values.ravel()[:4].tolist() == expected
