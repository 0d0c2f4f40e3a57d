"""Sequential's compiled inference path (``_inference_plan`` / ``sequential_forward``): results and
cache invalidation when layers or activations change."""

import numpy as np
import pytest

import numdense as nd
from numdense.layers import Dense


def _reference(model, x):
    h = x.astype(np.float64)
    for layer in model.layers:
        w, b = (v.astype(np.float64) for v in layer.get_weights())
        h = h @ w + b
        if layer.activation is nd.activations.relu:
            h = np.maximum(h, 0)
    return h


def test_fast_path_matches_reference_and_follows_layer_changes(rng):
    model = nd.Sequential([nd.Input((7,)), Dense(5, activation="relu"), Dense(3)])
    x = rng.standard_normal((4, 7)).astype(np.float32)
    first = model(x)
    assert model._inference_plan() is not None  # the compiled path served the call
    np.testing.assert_allclose(first, _reference(model, x), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(model(x[:1]), first[:1], rtol=1e-6, atol=1e-7)

    model.layers[0].activation = nd.activations.get("linear")  # same layers, new activation
    np.testing.assert_allclose(model(x), _reference(model, x), rtol=1e-5, atol=1e-6)

    model.pop()
    model.add(Dense(2))
    got = model(x)
    assert got.shape == (4, 2)
    np.testing.assert_allclose(got, _reference(model, x), rtol=1e-5, atol=1e-6)


def test_one_compiled_call_serves_stacks_of_any_depth_and_readonly_input(rng):
    from numdense.kernels.cpu.sequential import sequential_forward

    for depth in (1, 3):
        model = nd.Sequential([nd.Input((6,))] + [Dense(4, activation="relu") for _ in range(depth)])
        x = rng.standard_normal((3, 6)).astype(np.float32)
        x.flags.writeable = False
        expected = _reference(model, x)
        np.testing.assert_allclose(model(x), expected, rtol=1e-5, atol=1e-6)
        out = np.empty((3, 4), np.float32)
        sequential_forward(x, out, model._inference_plan()[3])
        np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-6)
    readonly_float32 = [s for s in sequential_forward.signatures
                        if str(s[0].dtype) == "float32" and not s[0].mutable]
    assert len(readonly_float32) == 1  # address tables: no compile per depth


def test_inputs_the_fast_path_does_not_take_give_the_same_result(rng):
    model = nd.Sequential([nd.Input((7,)), Dense(5, activation="relu"), Dense(3)])
    x = rng.standard_normal((4, 7)).astype(np.float32)
    expected = model(x)
    for other in (x.astype(">f4"), np.asfortranarray(x), x.tolist(), x.astype(np.float64)):
        got = model(other)
        assert got.dtype == np.float32
        np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-7)


def test_forward_plan_refuses_arrays_it_would_misread():
    from numdense.kernels.cpu.sequential import forward_plan

    w = np.zeros((3, 2), np.float32)
    b = np.zeros(2, np.float32)
    with pytest.raises(ValueError, match="layer 1 takes 4 inputs but layer 0 gives 2"):
        forward_plan([w, np.zeros((4, 2), np.float32)], [b, b], [0, 0], [(0, 0, 0)] * 2)
    with pytest.raises(ValueError, match="layer 0 must have a 2-D kernel"):
        forward_plan([w.astype(np.float64)], [b], [0], [(0, 0, 0)])
    with pytest.raises(ValueError, match="layer 0 must have a 2-D kernel"):
        forward_plan([np.asfortranarray(np.zeros((3, 2), np.float32))], [b], [0], [(0, 0, 0)])
    with pytest.raises(ValueError, match="bias has 3 items, not 2 or 0"):
        forward_plan([w], [np.zeros(3, np.float32)], [0], [(0, 0, 0)])


def test_activation_parameters_reach_the_compiled_path(rng):
    """The plan carries each activation's float parameters as int64 bits: a clipped, leaky,
    thresholded relu must give what the layer-by-layer path gives."""
    from functools import partial

    act = partial(nd.activations.relu, negative_slope=0.3, max_value=1.5, threshold=0.25)
    model = nd.Sequential([nd.Input((6,)), Dense(8, activation=act), Dense(4, activation="elu")])
    x = 3 * rng.standard_normal((5, 6)).astype(np.float32)
    assert model._inference_plan() is not None
    h = x
    for layer in model.layers:
        h = layer(h)
    np.testing.assert_array_equal(model(x), h)
