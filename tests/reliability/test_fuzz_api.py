"""Property-based fuzzing of the public API (hypothesis, derandomized for CI).

Every call either returns what a NumPy float64 reference computes, or raises ValueError /
TypeError with a message naming the argument; a failing call leaves the model unchanged. The
number of examples each test ran is printed at the end of the module (run with ``-s``).
"""

import collections
import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import numdense as nd
from numdense.layers import Dense, Dropout

from .numpy_ref import ACTIVATIONS, LOSSES, dense_stack, model_loss

RUNS = collections.Counter()


def fuzz(examples):
    """Derandomized settings (reproducible in CI) with ``examples`` cases."""
    return settings(max_examples=examples, deadline=None, derandomize=True, database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

INPUT_DTYPES = ["float32", "float64", "float16", "int32", "int64", "uint8", "bool", "list"]
LAYOUTS = ["c", "fortran", "strided", "readonly", "transposed"]


@pytest.fixture(scope="module", autouse=True)
def report_counts():
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # the references on NaN/inf inputs
        yield
    print("\nfuzz examples run:", dict(RUNS), "total", sum(RUNS.values()))


def arrange(x, layout):
    """``x`` (2-D or more) with the same values in another memory layout."""
    if layout == "fortran":
        return np.asfortranarray(x)
    if layout == "strided":
        wide = np.zeros(x.shape[:-1] + (2 * x.shape[-1],), x.dtype)
        wide[..., ::2] = x
        return wide[..., ::2]
    if layout == "readonly":
        x = x.copy()
        x.flags.writeable = False
        return x
    if layout == "transposed" and x.ndim == 2:
        return np.ascontiguousarray(x.T).T
    return x


@st.composite
def stacks(draw):
    depth = draw(st.integers(1, 3))
    units = [draw(st.integers(1, 6)) for _ in range(depth)]
    acts = [draw(st.sampled_from(sorted(ACTIVATIONS))) for _ in range(depth)]
    biases = [draw(st.booleans()) for _ in range(depth)]
    return units, acts, biases


def build(width, units, acts, biases, dtype, dropout=False):
    layers = [nd.Input((width,), dtype=dtype)]
    for u, a, b in zip(units, acts, biases):
        layers.append(Dense(u, activation=a, use_bias=b, dtype=dtype,
                            bias_initializer="glorot_uniform"))
        if dropout:
            layers.append(Dropout(0.5, dtype=dtype))
    return nd.Sequential(layers)


def reference_weights(model):
    return [(l.kernel.numpy(), None if l.bias is None else l.bias.numpy())
            for l in model.layers if isinstance(l, Dense)]


def draw_input(data, shape, input_dtype):
    values = data.draw(st.lists(st.floats(-3, 3, width=32), min_size=int(np.prod(shape)),
                                max_size=int(np.prod(shape))))
    x = np.array(values, np.float64).reshape(shape)
    if input_dtype in ("int32", "int64", "uint8"):
        x = np.abs(np.round(x)) if input_dtype == "uint8" else np.round(x)
    elif input_dtype == "bool":
        x = x > 0
    elif input_dtype == "float16":
        x = x.astype(np.float16).astype(np.float64)
    return x


def tolerance(dtype):
    return dict(rtol=2e-4, atol=2e-5) if dtype == "float32" else dict(rtol=1e-10, atol=1e-12)


@given(config=stacks(), width=st.integers(1, 5), batch=st.integers(0, 5),
       dtype=st.sampled_from(["float32", "float64"]), input_dtype=st.sampled_from(INPUT_DTYPES),
       layout=st.sampled_from(LAYOUTS), call=st.sampled_from(["model", "predict", "layers"]),
       special=st.sampled_from([None, None, np.nan, np.inf, -np.inf]), data=st.data())
@fuzz(300)
def test_forward_matches_numpy(config, width, batch, dtype, input_dtype, layout, call, special,
                               data):
    RUNS["forward"] += 1
    units, acts, biases = config
    model = build(width, units, acts, biases, dtype, dropout=data.draw(st.booleans()))
    x = draw_input(data, (batch, width), input_dtype)
    if special is not None and batch and input_dtype.startswith("float"):
        x[data.draw(st.integers(0, batch - 1)), data.draw(st.integers(0, width - 1))] = special
    if input_dtype == "list" and batch == 0:
        input_dtype = "float64"  # [] has no width: not a batch of 0 samples
    given_x = x.astype(input_dtype if input_dtype != "list" else "float64")
    given_x = given_x.tolist() if input_dtype == "list" else arrange(given_x, layout)
    if call == "model":
        out = model(given_x)
    elif call == "predict":
        out = model.predict(given_x, batch_size=data.draw(st.integers(1, 4)), verbose=0)
    else:
        out = np.asarray(given_x)
        for layer in model.layers:
            out = layer(out)
    assert isinstance(out, np.ndarray) and out.dtype == np.dtype(dtype)
    assert out.shape == (batch, units[-1])
    expected = dense_stack(np.asarray(x, dtype).astype(np.float64), reference_weights(model), acts)
    with np.errstate(all="ignore"):
        np.testing.assert_allclose(out, expected, equal_nan=True, **tolerance(dtype))


@pytest.mark.parametrize("call", ["model", "predict"])
def test_float64_model_outputs_float64(call):
    model = build(3, [2], ["linear"], [True], "float64")
    x = np.full((2, 3), 1 + 1e-12)
    # model(x) gets float32 input (cast up exactly), predict float64 input (kept exactly).
    given = x.astype(np.float32) if call == "model" else x
    out = model(given) if call == "model" else model.predict(given, verbose=0)
    assert out.dtype == np.float64
    expected = dense_stack(given.astype(np.float64), reference_weights(model), ["linear"])
    np.testing.assert_allclose(out, expected, rtol=1e-14)


@given(config=stacks(), width=st.integers(1, 4), lead=st.lists(st.integers(0, 3), min_size=1,
                                                               max_size=2), data=st.data())
@fuzz(60)
def test_higher_rank_inputs_contract_the_last_axis(config, width, lead, data):
    RUNS["rank>2"] += 1
    units, acts, biases = config
    acts = [a if a not in ("softmax", "log_softmax") else "tanh" for a in acts]
    layers = [Dense(u, activation=a, use_bias=b, bias_initializer="ones")
              for u, a, b in zip(units, acts, biases)]
    model = nd.Sequential(layers)
    x = draw_input(data, (2, *lead, width), "float32")
    out = model(x)
    expected = dense_stack(x.astype(np.float32), reference_weights(model), acts)
    assert out.shape == (2, *lead, units[-1])
    np.testing.assert_allclose(out, expected, **tolerance("float32"))


BAD_INPUTS = {
    "rank0": lambda w: np.float32(1.0),
    "rank1": lambda w: np.zeros(w, np.float32),
    "wrong width": lambda w: np.zeros((2, w + 1), np.float32),
    "object": lambda w: np.zeros((2, w), object),
    "strings": lambda w: np.full((2, w), "a"),
    "complex": lambda w: np.zeros((2, w), complex),
    "none": lambda w: None,
    "ragged": lambda w: [[0.0] * w, [0.0] * (w + 1)],
    "dict": lambda w: {"x": np.zeros((2, w))},
}


@given(config=stacks(), width=st.integers(1, 4), bad=st.sampled_from(sorted(BAD_INPUTS)),
       call=st.sampled_from(["model", "predict", "evaluate", "fit", "train_on_batch"]))
@fuzz(150)
def test_bad_inputs_raise_named_errors_and_change_nothing(config, width, bad, call):
    RUNS["bad inputs"] += 1
    units, acts, biases = config
    model = build(width, units, acts, biases, "float32")
    model.compile(optimizer="adam", loss="mse")
    before = model.get_weights()
    x = BAD_INPUTS[bad](width)
    y = np.zeros((2, units[-1]), np.float32)
    with pytest.raises((ValueError, TypeError)) as error:
        if call == "model":
            model(x)
        elif call == "predict":
            model.predict(x, verbose=0)
        else:
            getattr(model, call)(x, y, **({"verbose": 0} if call != "train_on_batch" else {}))
    message = str(error.value)
    assert "numba" not in message.lower() and "typing" not in message.lower()
    if bad != "ragged":  # see test_ragged_input_is_named
        assert any(word in message.lower() for word in ("input", "`x`", "x of shape",
                                                        "data cardinality", "batched")), message
    for a, b in zip(before, model.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert model.optimizer.iterations == 0


def test_ragged_input_is_named():
    model = build(2, [1], ["linear"], [True], "float32")
    with pytest.raises(ValueError, match="input"):
        model([[0.0, 1.0], [0.0]])


def test_scalar_input_is_reported_as_scalar():
    model = build(2, [1], ["linear"], [True], "float32")
    with pytest.raises(ValueError, match=r"ndim=0|scalar"):
        model(np.float32(1.0))


def mutate_weights(weights, how, data):
    weights = [w.copy() for w in weights]
    i = data.draw(st.integers(0, len(weights) - 1))
    if how == "drop":
        del weights[i]
    elif how == "extra":
        weights.append(np.zeros(3, np.float32))
    elif how == "transpose" and weights[i].ndim == 2 and weights[i].shape[0] != weights[i].shape[1]:
        weights[i] = weights[i].T
    elif how == "grow":
        weights[i] = np.zeros(tuple(d + 1 for d in weights[i].shape), np.float32)
    elif how == "rank":
        weights[i] = weights[i][None]
    elif how == "object":
        weights[i] = weights[i].astype(object)
    elif how == "strings":
        weights[i] = np.full(weights[i].shape, "w")
    else:
        return None
    return weights


@given(config=stacks(), width=st.integers(1, 4),
       how=st.sampled_from(["drop", "extra", "transpose", "grow", "rank", "object", "strings"]),
       target=st.sampled_from(["model", "layer"]), data=st.data())
@fuzz(120)
def test_mismatched_set_weights_raise_and_change_nothing(config, width, how, target, data):
    RUNS["set_weights"] += 1
    units, acts, biases = config
    model = build(width, units, acts, biases, "float32")
    obj = model if target == "model" else model.layers[data.draw(st.integers(0, len(units) - 1))]
    before = model.get_weights()
    if not obj.get_weights():
        return
    bad = mutate_weights(obj.get_weights(), how, data)
    if bad is None or all(a.shape == b.shape and a.dtype == b.dtype
                          for a, b in zip(bad, obj.get_weights())) and len(bad) == len(
                              obj.get_weights()):
        return
    with pytest.raises((ValueError, TypeError), match="weight"):
        obj.set_weights(bad)
    for a, b in zip(before, model.get_weights()):
        np.testing.assert_array_equal(a, b)


@given(config=stacks(), width=st.integers(1, 4), source=st.sampled_from(
    ["float64", "int32", "bool", "list", "fortran", "readonly"]))
@fuzz(60)
def test_set_weights_accepts_any_numeric_layout(config, width, source):
    RUNS["set_weights ok"] += 1
    units, acts, biases = config
    model = build(width, units, acts, biases, "float32")
    rng = np.random.default_rng(len(units))
    new = [np.round(rng.normal(size=w.shape) * 4) for w in model.get_weights()]
    given_w = {"float64": new, "int32": [w.astype(np.int32) for w in new],
               "bool": [w > 0 for w in new], "list": [w.tolist() for w in new],
               "fortran": [np.asfortranarray(w) for w in new],
               "readonly": [arrange(w, "readonly") for w in new]}[source]
    model.set_weights(given_w)
    expected = [np.asarray(w, np.float64).astype(np.float32) for w in given_w]
    for a, b in zip(model.get_weights(), expected):
        np.testing.assert_array_equal(a, b)
    x = np.linspace(-1, 1, 3 * width).reshape(3, width)
    np.testing.assert_allclose(model(x), dense_stack(x.astype(np.float32),
                                                     reference_weights(model), acts),
                               **tolerance("float32"))


OPTIMIZERS = ["sgd", "adam", "adamw", "rmsprop", "adagrad", "adadelta", "adamax", "nadam", "lion"]
OUTPUT_FOR_LOSS = {
    "binary_crossentropy": "sigmoid", "poisson": "softplus", "kl_divergence": "softmax",
    "categorical_crossentropy": "softmax", "sparse_categorical_crossentropy": "softmax",
    "mean_squared_logarithmic_error": "softplus",
}


def targets(loss, data, n, classes):
    rng = np.random.default_rng(data.draw(st.integers(0, 2**16)))
    if loss == "sparse_categorical_crossentropy":
        return rng.integers(0, classes, n)
    if loss in ("categorical_crossentropy", "kl_divergence", "categorical_hinge"):
        return np.eye(classes)[rng.integers(0, classes, n)]
    if loss in ("binary_crossentropy", "hinge", "squared_hinge"):
        return rng.integers(0, 2, (n, classes)).astype(np.float64)
    return rng.uniform(0.1, 2.0, (n, classes))


@given(optimizer=st.sampled_from(OPTIMIZERS), loss=st.sampled_from(sorted(LOSSES)),
       n=st.integers(1, 9), weighted=st.booleans(), data=st.data())
@fuzz(150)
def test_every_optimizer_and_loss_trains_like_the_reference(optimizer, loss, n, weighted, data):
    """One train_on_batch: the reported loss is the NumPy loss of the pre-update predictions,
    the compiled and the per-layer paths give the same weights, and evaluate after the update
    is the NumPy loss of the new predictions."""
    RUNS["optimizer x loss"] += 1
    classes, dtype = 3, "float32"  # float64: test_float64_model_trains_like_the_reference
    x = draw_input(data, (n, 4), "float32")
    y = targets(loss, data, n, classes)
    sw = np.linspace(0.5, 1.5, n) if weighted else None
    out_act = OUTPUT_FOR_LOSS.get(loss)
    results = []
    for python_path in (False, True):
        nd.utils.set_random_seed(7)
        model = nd.Sequential([nd.Input((4,), dtype=dtype),
                               Dense(5, activation="tanh", dtype=dtype),
                               Dense(classes, activation=out_act, dtype=dtype)])
        model.compile(optimizer=optimizer, loss=loss)
        model._force_python_path = python_path
        logits_before = logits(model, x, dtype)
        reported = model.train_on_batch(x, y, sample_weight=sw)
        evaluated = model.evaluate(x, y, sample_weight=sw, verbose=0)
        results.append((logits_before, reported, model.get_weights(), evaluated,
                        logits(model, x, dtype)))
    tol = dict(rtol=2e-3, atol=2e-5) if dtype == "float32" else dict(rtol=1e-7, atol=1e-9)
    for before, reported, _, evaluated, after in results:
        np.testing.assert_allclose(reported, model_loss(loss, y, before, out_act, sw), **tol)
        np.testing.assert_allclose(evaluated, model_loss(loss, y, after, out_act, sw), **tol)
    for a, b in zip(results[0][2], results[1][2]):
        np.testing.assert_allclose(a, b, **tol)


def logits(model, x, dtype):
    """The output layer's pre-activation values, in float64 from the model's weights."""
    weights = reference_weights(model)
    hidden = dense_stack(np.asarray(x, dtype).astype(np.float64), weights[:-1], ["tanh"])
    return dense_stack(hidden, weights[-1:], ["linear"])


def test_float64_model_trains_like_the_reference():
    x = np.linspace(-1, 1, 12).reshape(3, 4)
    y = np.array([[1.0, 0.0, 1.0], [0.0, 1.0, 1.0], [1.0, 1.0, 0.0]])
    model = nd.Sequential([nd.Input((4,), dtype="float64"), Dense(5, "tanh", dtype="float64"),
                           Dense(3, "sigmoid", dtype="float64")])
    model.compile(optimizer="sgd", loss="binary_crossentropy")
    for _ in range(3):
        expected = model_loss("binary_crossentropy", y, logits(model, x, "float64"), "sigmoid")
        np.testing.assert_allclose(model.train_on_batch(x, y), expected, rtol=1e-10)
