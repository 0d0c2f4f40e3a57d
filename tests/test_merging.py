"""Merge layers: values, shape checks, configs and gradients (float64 finite differences)."""

import numpy as np
import pytest

import numdense as nd
from numdense.layers import Add, Average, Concatenate, Multiply, Subtract


def _arrays(*shapes, seed=0):
    r = np.random.default_rng(seed)
    return [r.standard_normal(s) for s in shapes]


@pytest.mark.parametrize("cls, ref", [
    (Add, lambda xs: xs[0] + xs[1] + xs[2]),
    (Multiply, lambda xs: xs[0] * xs[1] * xs[2]),
    (Average, lambda xs: (xs[0] + xs[1] + xs[2]) / 3),
])
def test_elementwise_values_and_config(cls, ref):
    xs = [x.astype(np.float32) for x in _arrays((4, 3), (4, 3), (4, 3))]
    np.testing.assert_allclose(cls()(xs), ref(xs), rtol=1e-6)
    layer = cls(name="m")
    assert cls.from_config(layer.get_config()).name == "m"


def test_subtract_and_concatenate():
    a, b = [x.astype(np.float32) for x in _arrays((2, 3, 2), (2, 3, 2))]
    np.testing.assert_allclose(Subtract()([a, b]), a - b, rtol=1e-6)
    c = _arrays((2, 3, 5))[0].astype(np.float32)
    np.testing.assert_allclose(Concatenate()([a, c]), np.concatenate([a, c], -1), rtol=1e-6)
    np.testing.assert_allclose(Concatenate(axis=1)([a, b]), np.concatenate([a, b], 1),
                               rtol=1e-6)
    assert Concatenate(axis=1).from_config(Concatenate(axis=1).get_config()).axis == 1


def test_shape_errors():
    a, b, c = nd.Input((3,)), nd.Input((4,)), nd.Input((1,))
    with pytest.raises(ValueError, match="incompatible shapes. Received shapes \\(3,\\) and \\(4,\\)"):
        Add()([a, b])
    with pytest.raises(ValueError, match="broadcasting a size-1 axis"):
        Multiply()([a, c])
    with pytest.raises(ValueError, match="exactly 2 inputs"):
        Subtract()([a, a, a])
    with pytest.raises(ValueError, match="matching shapes except for the concatenation axis"):
        Concatenate(axis=1)([nd.Input((2, 3)), nd.Input((2, 4))])
    with pytest.raises(ValueError, match="expects a single input tensor"):
        nd.layers.Dense(2)([a, a])
    assert Concatenate()([a, b, c]).shape == (None, 8)
    with pytest.raises(ValueError, match="different batch sizes"):
        Add()([np.zeros((2, 3)), np.zeros((3, 3))])


@pytest.mark.parametrize("layer", [Add(), Subtract(), Multiply(), Average(),
                                   Concatenate(axis=1), Concatenate()])
def test_gradients_finite_differences(layer):
    xs = _arrays((3, 2, 2), (3, 2, 2), seed=4)
    cot = _arrays((3, 2, 2) if not isinstance(layer, Concatenate)
                  else ((3, 4, 2) if layer.axis == 1 else (3, 2, 4)), seed=5)[0]
    out = layer._train_forward(xs)
    grads = layer._train_backward(cot)
    assert layer._grads == {}
    for k, x in enumerate(xs):
        numeric = np.zeros_like(x)
        for i in np.ndindex(x.shape):
            for sign in (1, -1):
                bumped = [v.copy() for v in xs]
                bumped[k][i] += sign * 1e-6
                numeric[i] += sign * np.sum(layer.call(bumped) * cot) / 2e-6
        np.testing.assert_allclose(grads[k], numeric, rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(out, layer.call(xs))
