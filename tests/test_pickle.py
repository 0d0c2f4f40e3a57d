"""Models pickle as config + weights (+ compile config and optimizer state), as in Keras 3."""

import pickle

import numpy as np
import pytest

import numdense as nd
from numdense.layers import Dense


def _data(n=48, features=5, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, features)).astype("float32")
    y = (x @ rng.normal(size=(features, 1))).astype("float32")
    return x, y


def _sequential():
    return nd.Sequential([nd.Input((5,)), Dense(4, activation="relu"), Dense(1)])


def _functional():
    inp = nd.Input((5,), name="features")
    out = Dense(1, name="out")(Dense(4, activation="tanh", name="hidden")(inp))
    return nd.Model(inp, out)


def _same_weights(a, b):
    wa, wb = a.get_weights(), b.get_weights()
    return len(wa) == len(wb) and all(np.array_equal(p, q) for p, q in zip(wa, wb))


@pytest.mark.parametrize("build", [_sequential, _functional])
def test_unpickled_model_predicts_identically(build):
    x, _ = _data()
    model = build()
    copy = pickle.loads(pickle.dumps(model))
    assert type(copy) is type(model) and copy is not model
    assert copy.name == model.name and [l.name for l in copy.layers] == [
        l.name for l in model.layers]
    assert not copy.compiled
    assert np.array_equal(copy.predict(x, verbose=0), model.predict(x, verbose=0))


@pytest.mark.parametrize("build", [_sequential, _functional])
def test_trained_model_continues_training_identically(build):
    x, y = _data()
    model = build()
    model.compile(optimizer="adam", loss="mse", metrics=["mae"])
    model.fit(x, y, epochs=2, batch_size=16, shuffle=False, verbose=0)
    copy = pickle.loads(pickle.dumps(model))
    assert copy.compiled and copy.optimizer.iterations == model.optimizer.iterations == 6
    assert _same_weights(copy, model)
    for m in (model, copy):
        m.fit(x, y, epochs=1, batch_size=16, shuffle=False, verbose=0)
    assert _same_weights(copy, model)
    assert copy.optimizer.iterations == 9
    assert copy.evaluate(x, y, verbose=0) == model.evaluate(x, y, verbose=0)


def test_compiled_model_pickled_before_any_step():
    x, y = _data()
    model = _sequential()
    model.compile(optimizer=nd.optimizers.SGD(learning_rate=0.05, momentum=0.9), loss="mse")
    copy = pickle.loads(pickle.dumps(model))
    assert copy.optimizer.get_config()["momentum"] == 0.9 and copy.optimizer.iterations == 0
    for m in (model, copy):
        m.fit(x, y, epochs=1, batch_size=16, shuffle=False, verbose=0)
    assert _same_weights(copy, model)


def test_unbuilt_uncompiled_sequential_pickles():
    model = nd.Sequential([Dense(3, name="d3")])
    copy = pickle.loads(pickle.dumps(model))
    assert not copy.built and [l.name for l in copy.layers] == ["d3"]
    x = np.ones((2, 4), "float32")
    assert copy.predict(x, verbose=0).shape == (2, 3)


def test_bad_state_is_refused():
    from numdense.saving.pickling import restore_model

    with pytest.raises(ValueError, match="state format 1"):
        restore_model({"format": 99})
