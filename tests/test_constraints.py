import numpy as np
import pytest

from numdense import config, constraints
from numdense.kernels.cpu import constraints as K

EPS = 1e-7


def example_array():
    rng = np.random.RandomState(3537)
    a = rng.random_sample((100, 100)) * 100.0 - 50.0
    a[0, 0] = 0.0
    return a


def reference(w, kind, axis, min_value=0.0, max_value=2.0, rate=1.0):
    """Keras' formulas in NumPy float64."""
    w = np.asarray(w, dtype=np.float64)
    if kind == "non_neg":
        return np.maximum(w, 0)
    axis = tuple(axis) if isinstance(axis, list) else axis
    norms = np.sqrt(np.sum(np.square(w), axis=axis, keepdims=True))
    if kind == "max_norm":
        desired = np.clip(norms, 0, max_value)
    elif kind == "unit_norm":
        return w / (EPS + norms)
    else:
        desired = rate * np.clip(norms, min_value, max_value) + (1 - rate) * norms
    return w * desired / (EPS + norms)


# Ported from keras/src/constraints/constraints_test.py


def test_max_norm():
    x = np.array([[0, 0, 0], [1.0, 0, 0], [3, 0, 0], [3, 3, 3]]).T
    target = np.array(
        [[0, 0, 0], [1.0, 0, 0], [2.0, 0, 0], [2 / np.sqrt(3), 2 / np.sqrt(3), 2 / np.sqrt(3)]]
    ).T
    out = constraints.MaxNorm(2.0)(x)
    np.testing.assert_allclose(out, target, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(out, reference(x, "max_norm", 0, max_value=2.0), rtol=1e-15)
    assert out is not x and x[0, 2] == 3  # input untouched


def test_non_neg():
    out = constraints.NonNeg()(example_array())
    assert (np.min(out, axis=1) >= 0.0).all()
    np.testing.assert_array_equal(out, np.maximum(example_array(), 0))


def test_unit_norm():
    out = constraints.UnitNorm()(example_array())
    np.testing.assert_allclose(np.sqrt(np.sum(np.square(out), axis=0)), 1.0, rtol=1e-6)


def test_min_max_norm():
    out = constraints.MinMaxNorm(min_value=0.2, max_value=0.5)(example_array())
    l2 = np.sqrt(np.sum(np.square(out), axis=0))
    assert np.all(l2 >= 0.2) and np.all(l2 <= 0.5 + 1e-6)


def test_get_method():
    assert isinstance(constraints.get("unit_norm"), constraints.UnitNorm)
    assert constraints.get(None) is None
    with pytest.raises(ValueError):
        constraints.get("typo")


def test_base_constraint():
    c = constraints.Constraint()
    x = np.array([1.0, 2.0, 3.0])
    np.testing.assert_array_equal(c(x), x)
    assert c.get_config() == {}
    assert isinstance(constraints.Constraint.from_config(c.get_config()), constraints.Constraint)
    assert c.kernel_spec((3,)) == (K.NONE, 0.0, 0.0, 0.0, K.AXIS_ALL, (1, 3))


def test_configs_and_restored_outputs():
    w = example_array()
    cases = [
        (constraints.MaxNorm(max_value=3.0, axis=1), {"max_value": 3.0, "axis": 1}),
        (constraints.UnitNorm(axis=1), {"axis": 1}),
        (
            constraints.MinMaxNorm(min_value=0.5, max_value=2.0, rate=0.7, axis=1),
            {"min_value": 0.5, "max_value": 2.0, "rate": 0.7, "axis": 1},
        ),
        (constraints.NonNeg(), {}),
    ]
    for c, expected in cases:
        assert c.get_config() == expected
        restored = type(c).from_config(c.get_config())
        np.testing.assert_array_equal(restored(w), c(w))
        cfg = constraints.serialize(c)
        assert cfg == {
            "module": "keras.constraints",
            "class_name": type(c).__name__,
            "config": expected,
            "registered_name": None,
        }
        np.testing.assert_array_equal(constraints.deserialize(cfg)(w), c(w))


def test_non_neg_values():
    c = constraints.NonNeg()
    np.testing.assert_array_equal(c(np.full((5, 5), -3.0)), np.zeros((5, 5)))
    np.testing.assert_array_equal(c(np.full((5, 5), 3.0)), np.full((5, 5), 3.0))
    np.testing.assert_array_equal(c(np.zeros((5, 5))), np.zeros((5, 5)))
    assert np.isnan(c(np.array([np.nan, -1.0]))[0])


@pytest.mark.parametrize(
    "name, cls",
    [
        ("max_norm", constraints.MaxNorm),
        ("MaxNorm", constraints.MaxNorm),
        ("non_neg", constraints.NonNeg),
        ("NonNeg", constraints.NonNeg),
        ("unit_norm", constraints.UnitNorm),
        ("UnitNorm", constraints.UnitNorm),
        ("min_max_norm", constraints.MinMaxNorm),
        ("MinMaxNorm", constraints.MinMaxNorm),
    ],
)
def test_string_names(name, cls):
    assert type(constraints.get(name)) is cls


def test_defaults():
    assert constraints.MaxNorm().get_config() == {"max_value": 2, "axis": 0}
    assert constraints.UnitNorm().get_config() == {"axis": 0}
    assert constraints.MinMaxNorm().get_config() == {
        "min_value": 0.0,
        "max_value": 1.0,
        "rate": 1.0,
        "axis": 0,
    }


# Formulas against NumPy for every axis layout and dtype


CONSTRAINTS = [
    ("max_norm", lambda axis: constraints.MaxNorm(1.5, axis=axis), {"max_value": 1.5}),
    ("unit_norm", lambda axis: constraints.UnitNorm(axis=axis), {}),
    (
        "min_max_norm",
        lambda axis: constraints.MinMaxNorm(1.0, 2.5, 0.6, axis=axis),
        {"min_value": 1.0, "max_value": 2.5, "rate": 0.6},
    ),
]
LAYOUTS = [
    ((6, 4), 0),
    ((6, 4), 1),
    ((6, 4), -1),
    ((6, 4), [0, 1]),
    ((3, 3, 4, 5), [0, 1, 2]),
    ((3, 3, 4, 5), 3),
    ((3, 3, 4, 5), [-1, -2]),
    ((3, 3, 4, 5), [0, 1, 2, 3]),
    ((7,), 0),
    ((7,), -1),
]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("shape, axis", LAYOUTS)
@pytest.mark.parametrize("kind, make, params", CONSTRAINTS, ids=[c[0] for c in CONSTRAINTS])
def test_formulas(kind, make, params, shape, axis, dtype):
    w = np.random.default_rng(8).normal(scale=0.8, size=shape).astype(dtype)
    out = make(axis)(w)
    assert out.dtype == w.dtype and out.shape == w.shape
    expected = reference(w, kind, axis, **params)
    np.testing.assert_allclose(out, expected, rtol=3e-7 if dtype == "float32" else 1e-14)


def test_conv_kernel_axis_list():
    w = np.random.default_rng(1).normal(size=(3, 3, 4, 8))
    out = constraints.MaxNorm(1.0, axis=[0, 1, 2])(w)
    np.testing.assert_allclose(np.sqrt(np.sum(out**2, axis=(0, 1, 2))), 1.0, rtol=1e-6)
    assert constraints.MaxNorm(axis=[0, 1, 2]).kernel_spec((3, 3, 4, 8)) == (
        K.MAX_NORM,
        2.0,
        0.0,
        0.0,
        K.AXIS_COLUMNS,
        (36, 8),
    )


def test_bias_vector_is_one_norm():
    b = np.array([3.0, 4.0])
    np.testing.assert_allclose(constraints.MaxNorm(1.0)(b), [0.6, 0.8], rtol=1e-6)
    np.testing.assert_allclose(constraints.UnitNorm()(b), [0.6, 0.8], rtol=1e-6)
    spec = constraints.MaxNorm(0.3).kernel_spec((8,))
    assert spec == (K.MAX_NORM, 0.3, 0.0, 0.0, K.AXIS_ALL, (1, 8))


def test_kernel_specs():
    assert constraints.MaxNorm(0.5).kernel_spec((5, 8)) == (K.MAX_NORM, 0.5, 0.0, 0.0, 0, (5, 8))
    spec = constraints.UnitNorm(axis=1).kernel_spec((5, 8))
    assert spec == (K.UNIT_NORM, 0.0, 0.0, 0.0, 1, (5, 8))
    assert constraints.MinMaxNorm(0.2, 0.8, 0.7).kernel_spec((5, 8)) == (
        K.MIN_MAX_NORM,
        0.2,
        0.8,
        0.7,
        0,
        (5, 8),
    )
    assert constraints.NonNeg().kernel_spec((3, 3, 2)) == (K.NON_NEG, 0.0, 0.0, 0.0, 2, (1, 18))
    assert constraints.UnitNorm(axis=[1, 2]).kernel_spec((2, 3, 4)) == (
        K.UNIT_NORM,
        0.0,
        0.0,
        0.0,
        1,
        (2, 12),
    )

    class Custom(constraints.Constraint):
        def __call__(self, w):
            return w * 0

    assert Custom().kernel_spec((2, 2)) is None


def test_kernel_spec_applies_in_place_like_call():
    w = np.random.default_rng(2).normal(size=(3, 3, 4, 8)).astype(np.float32)
    c = constraints.MinMaxNorm(0.5, 1.5, 0.5, axis=[0, 1, 2])
    expected = c(w)
    kind, p0, p1, p2, mode, shape_2d = c.kernel_spec(w.shape)
    view = w.reshape(shape_2d)
    K.constraint_apply_into(view, kind, p0, p1, p2, mode)
    np.testing.assert_array_equal(w, expected)


def test_unsupported_axes_raise():
    with pytest.raises(ValueError, match=r"Unsupported `axis` 1 for a weight of shape \(3, 4, 5\)"):
        constraints.UnitNorm(axis=1)(np.ones((3, 4, 5)))
    with pytest.raises(ValueError, match=r"Unsupported `axis` \[0, 2\]"):
        constraints.MaxNorm(axis=[0, 2]).kernel_spec((3, 4, 5))
    with pytest.raises(ValueError, match="Invalid `axis` 2"):
        constraints.MaxNorm(axis=2)(np.ones((3, 4)))


def test_zero_columns_and_epsilon():
    w = np.zeros((4, 3))
    np.testing.assert_array_equal(constraints.UnitNorm()(w), 0.0)
    np.testing.assert_array_equal(constraints.MinMaxNorm(0.5, 1.0)(w), 0.0)
    config.set_epsilon(0.5)
    try:
        out = constraints.UnitNorm()(np.array([3.0, 4.0]))
    finally:
        config.set_epsilon(1e-7)
    np.testing.assert_allclose(out, [3 / 5.5, 4 / 5.5])


def test_integer_and_scalar_inputs():
    out = constraints.NonNeg()(np.array([[-1, 2]]))
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out, [[0, 2]])
    assert constraints.MaxNorm(1.0)(np.float64(3.0)) == pytest.approx(1.0)
    assert constraints.MaxNorm(1.0)(np.zeros((0, 3))).shape == (0, 3)
