import numpy as np
import pytest

from numdense import regularizers
from numdense.kernels.cpu.regularizers import l1l2_grad_into, l1l2_penalty


@pytest.fixture
def x():
    return np.random.default_rng(7).normal(size=(4, 4)).astype("float32")


def orthogonal_reference(x, factor, mode):
    v = x.astype(np.float64) if mode == "rows" else x.astype(np.float64).T
    n = v / np.linalg.norm(v, axis=1, keepdims=True)
    size = v.shape[0]
    p = (n @ n.T) * (1 - np.eye(size))
    return factor * 0.5 * np.sum(np.abs(p)) / (size * (size - 1) / 2)


def finite_difference(fn, w, h=1e-6):
    grad = np.zeros_like(w)
    for i in np.ndindex(w.shape):
        up, down = w.copy(), w.copy()
        up[i] += h
        down[i] -= h
        grad[i] = (fn(up) - fn(down)) / (2 * h)
    return grad


# Ported from keras/src/regularizers/regularizers_test.py


def test_penalties_match_numpy(x):
    xs = x.astype(np.float64)
    assert regularizers.L1(0.1)(x) == pytest.approx(0.1 * np.sum(np.abs(xs)), rel=1e-6)
    assert regularizers.L2(0.1)(x) == pytest.approx(0.1 * np.sum(xs**2), rel=1e-7)
    assert regularizers.L1L2(0.1, 0.2)(x) == pytest.approx(
        0.1 * np.sum(np.abs(xs)) + 0.2 * np.sum(xs**2), rel=1e-6
    )
    assert isinstance(regularizers.L2(0.1)(x), float)


def test_values_from_keras(x):
    # Printed by Keras 3.15.1 (float32 arithmetic) for this same x.
    assert regularizers.L1(0.1)(x) == pytest.approx(0.8031229972839355, rel=1e-6)
    assert regularizers.L2(0.1)(x) == pytest.approx(0.6303192973136902, rel=1e-6)
    assert regularizers.L1L2(0.1, 0.2)(x) == pytest.approx(2.0637617111206055, rel=1e-6)
    reg = regularizers.OrthogonalRegularizer(0.1)
    assert reg(x) == pytest.approx(0.07752372324466705, rel=1e-6)
    assert reg.get_config() == {"factor": 0.10000000149011612, "mode": "rows"}


@pytest.mark.parametrize("mode", ["rows", "columns"])
def test_orthogonal_regularizer(x, mode):
    reg = regularizers.OrthogonalRegularizer(factor=0.1, mode=mode)
    assert reg(x) == pytest.approx(orthogonal_reference(x, 0.1, mode), rel=1e-6)


def test_get_method():
    assert isinstance(regularizers.get("l1l2"), regularizers.L1L2)
    assert isinstance(regularizers.get("L1L2"), regularizers.L1L2)
    assert isinstance(regularizers.get("l1"), regularizers.L1)
    assert isinstance(regularizers.get("L1"), regularizers.L1)
    assert isinstance(regularizers.get("l2"), regularizers.L2)
    orth = regularizers.get("orthogonal_regularizer")
    assert isinstance(orth, regularizers.OrthogonalRegularizer)
    assert regularizers.get(None) is None
    with pytest.raises(ValueError):
        regularizers.get("typo")
    with pytest.raises(ValueError, match="Could not interpret regularizer"):
        regularizers.get(0)


def test_l1_l2_string_raises_as_in_keras_3():
    with pytest.raises(ValueError, match="Could not interpret regularizer identifier: l1_l2"):
        regularizers.get("l1_l2")
    with pytest.raises(ValueError, match="Could not interpret regularizer identifier: l1_l2"):
        regularizers.deserialize({"class_name": "l1_l2", "config": {}})
    reg = regularizers.get("l1l2")
    assert (reg.l1, reg.l2) == (0.0, 0.0)


def test_configs_round_trip():
    reg = regularizers.L1L2(0.01, 0.02)
    assert regularizers.L1L2.from_config(reg.get_config()).get_config() == {"l1": 0.01, "l2": 0.02}
    assert regularizers.L1(0.01).get_config() == {"l1": float(np.float32(0.01))}
    assert regularizers.L2(0.01).get_config() == {"l2": 0.01}
    orth = regularizers.OrthogonalRegularizer(0.5, "columns")
    assert orth.get_config() == {"factor": 0.5, "mode": "columns"}
    for reg in (regularizers.L1(0.3), regularizers.L2(0.3), regularizers.L1L2(0.1, 0.2), orth):
        cfg = regularizers.serialize(reg)
        assert cfg["module"] == "keras.regularizers"
        assert cfg["class_name"] == type(reg).__name__
        again = regularizers.deserialize(cfg)
        assert type(again) is type(reg) and again.get_config() == reg.get_config()
    reg = regularizers.get({"class_name": "L2", "config": {"l2": 0.01}})
    assert isinstance(reg, regularizers.L2)


def test_orthogonal_errors():
    with pytest.raises(ValueError) as err:
        regularizers.OrthogonalRegularizer(mode="invalid_mode")
    assert str(err.value) == (
        'Invalid value for argument `mode`. Expected one of {"rows", "columns"}. '
        "Received: mode=invalid_mode"
    )
    with pytest.raises(ValueError) as err:
        regularizers.OrthogonalRegularizer()(np.ones((4, 4, 4)))
    assert str(err.value) == (
        "Inputs to OrthogonalRegularizer must have rank 2. Received: inputs.shape=(4, 4, 4)"
    )


def test_special_values():
    assert regularizers.L1(0.1)(np.zeros((3, 3))) == 0.0
    assert regularizers.L1(0.1)(-np.ones((3, 3))) == regularizers.L1(0.1)(np.ones((3, 3)))
    assert regularizers.L2(0.0)(np.ones((3, 3))) == 0.0
    big, small = 10 * np.ones((3, 3)), 0.1 * np.ones((3, 3))
    assert regularizers.L2(1.0)(big) > regularizers.L1(1.0)(big)
    assert regularizers.L2(1.0)(small) < regularizers.L1(1.0)(small)
    w = np.random.default_rng(0).normal(size=(5, 3))
    assert regularizers.L1L2(0.1, 0)(w) == pytest.approx(regularizers.L1(0.1)(w), rel=1e-7)
    assert regularizers.L1L2(0, 0.1)(w) == regularizers.L2(0.1)(w)
    # A zero coefficient skips its term entirely, as Keras does.
    assert regularizers.L2(0.1)(np.array([np.inf])) == np.inf
    assert regularizers.L1L2(0.0, 0.1)(np.array([1.0, np.inf])) == np.inf


@pytest.mark.parametrize("value", [1, 1.0, 0, 1e-10, 1e6])
def test_validate_float_arg_accepts(value):
    result = regularizers.validate_float_arg(value, name="l1")
    assert isinstance(result, float) and result == float(value)


@pytest.mark.parametrize(
    "value", ["str", float("nan"), float("inf"), -float("inf"), -1, -0.001, None, [0.1]]
)
def test_validate_float_arg_rejects(value):
    with pytest.raises(ValueError) as err:
        regularizers.validate_float_arg(value, name="l1")
    assert str(err.value) == (
        f"Invalid value for argument l1: expected a non-negative float.Received: l1={value}"
    )


def test_constructor_validation_and_none_defaults():
    for cls in (regularizers.L1, regularizers.L2, regularizers.OrthogonalRegularizer):
        with pytest.raises(ValueError, match="expected a non-negative float"):
            cls(-1)
    with pytest.raises(ValueError, match="argument l2"):
        regularizers.L1L2(0.1, float("nan"))
    assert regularizers.L1(l1=None).l1 == 0.01
    assert regularizers.L2(l2=None).l2 == 0.01
    reg = regularizers.L1L2(None, None)
    assert (reg.l1, reg.l2) == (0.0, 0.0)


def test_base_regularizer():
    reg = regularizers.Regularizer()
    assert reg(np.ones(3)) == 0.0
    g = np.ones(3)
    reg.add_gradient(np.ones(3), g)
    np.testing.assert_array_equal(g, 1.0)
    assert reg.kernel_spec() == (0.0, 0.0)

    class Custom(regularizers.Regularizer):
        def __call__(self, x):
            return float(np.sum(x))

    assert Custom().kernel_spec() is None
    with pytest.raises(NotImplementedError):
        Custom().add_gradient(np.ones(3), np.zeros(3))


# Gradients and kernels


def test_kernel_specs():
    assert regularizers.L1(0.5).kernel_spec() == (0.5, 0.0)
    assert regularizers.L2(0.5).kernel_spec() == (0.0, 0.5)
    assert regularizers.L1L2(0.1, 0.2).kernel_spec() == (0.1, 0.2)
    assert regularizers.OrthogonalRegularizer().kernel_spec() is None


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("shape", [(7,), (4, 5), (2, 3, 4, 2)])
def test_l1l2_kernels(dtype, shape):
    w = np.random.default_rng(3).normal(size=shape).astype(dtype)
    w.flat[0] = 0.0
    ws = w.astype(np.float64)
    assert l1l2_penalty(w, 0.1, 0.2) == pytest.approx(
        0.1 * np.abs(ws).sum() + 0.2 * (ws**2).sum(), rel=1e-12
    )
    g = np.full(shape, 0.5, dtype)
    l1l2_grad_into(w, g, 0.1, 0.2)
    expected = 0.5 + 0.1 * np.sign(ws) + 0.4 * ws
    np.testing.assert_allclose(g, expected, rtol=1e-6 if dtype == "float32" else 1e-14)
    # The subgradient of |w| at exactly 0 is 0 (TensorFlow's sign(0)).
    assert g.flat[0] == np.asarray(0.5, dtype)


@pytest.mark.parametrize(
    "reg",
    [regularizers.L1(0.3), regularizers.L2(0.2), regularizers.L1L2(0.1, 0.05)],
    ids=["l1", "l2", "l1l2"],
)
def test_l1l2_gradient_matches_finite_differences(reg):
    w = np.random.default_rng(4).normal(size=(3, 4))
    g = np.zeros_like(w)
    reg.add_gradient(w, g)
    np.testing.assert_allclose(g, finite_difference(reg, w), rtol=1e-6, atol=1e-8)
    g32 = np.zeros((3, 4), np.float32)
    reg.add_gradient(w.astype(np.float32), g32)
    np.testing.assert_allclose(g32, g, rtol=1e-5)


@pytest.mark.parametrize("mode", ["rows", "columns"])
@pytest.mark.parametrize("shape", [(4, 3), (3, 5)])
def test_orthogonal_gradient_matches_finite_differences(mode, shape):
    reg = regularizers.OrthogonalRegularizer(0.7, mode)
    w = np.random.default_rng(5).normal(size=shape)
    g = np.full(shape, 0.25)
    reg.add_gradient(w, g)
    np.testing.assert_allclose(g - 0.25, finite_difference(reg, w), rtol=1e-5, atol=1e-8)
    # The penalty decreases along the negative gradient.
    assert reg(w - 1e-3 * (g - 0.25)) < reg(w)


def test_orthogonal_gradient_with_zero_row():
    reg = regularizers.OrthogonalRegularizer(1.0, "rows")
    w = np.random.default_rng(6).normal(size=(4, 3))
    w[1] = 0.0
    g = np.zeros_like(w)
    reg.add_gradient(w, g)
    assert np.all(np.isfinite(g))
    assert np.all(g[1] == 0.0)


def test_add_gradient_checks_g():
    w = np.ones((3, 4))
    with pytest.raises(ValueError, match="C-contiguous float array"):
        regularizers.L2().add_gradient(w, np.zeros((4, 3)))
    with pytest.raises(ValueError, match="C-contiguous float array"):
        regularizers.L2().add_gradient(w, np.zeros((4, 3)).T)
