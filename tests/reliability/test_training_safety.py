"""Numerical safety in training: non-finite losses stop training with a message naming where,
clipping keeps exploding gradients finite, and bad training arguments raise named errors."""

import re

import numpy as np
import pytest

import numdense as nd
from numdense.layers import Dense

PATHS = pytest.mark.parametrize("python_path", [False, True], ids=["compiled", "python"])


def exploding(python_path, optimizer):
    """A linear model whose first sample (1e19) makes the second update overflow float32."""
    nd.utils.set_random_seed(0)
    model = nd.Sequential([nd.Input((3,)), Dense(1)])
    model.compile(optimizer=optimizer, loss="mse")
    model._force_python_path = python_path
    x = np.ones((16, 3), np.float32)
    x[0] = 1e19
    return model, x, np.zeros((16, 1), np.float32)


@PATHS
@pytest.mark.parametrize("verbose", [0, 1])
def test_terminate_on_nan_names_epoch_and_batch(capsys, python_path, verbose):
    model, x, y = exploding(python_path, nd.optimizers.SGD(1.0))
    history = model.fit(x, y, batch_size=4, epochs=5, shuffle=False, verbose=verbose,
                        callbacks=[nd.callbacks.TerminateOnNaN()])
    out = capsys.readouterr().out
    found = re.search(r"Epoch (\d+), batch (\d+): Invalid loss \((inf|nan)\), terminating training",
                      out)
    assert found, out
    epoch, batch = int(found.group(1)), int(found.group(2))
    assert epoch == len(history.history["loss"]) == 1
    assert batch == 1  # the batch whose loss overflowed in float32 (both paths)
    assert not np.isfinite(history.history["loss"][-1])
    assert model.stop_training


@PATHS
def test_terminate_on_nan_raise_error_names_epoch(python_path):
    model, x, y = exploding(python_path, nd.optimizers.SGD(1.0))
    with pytest.raises(RuntimeError, match=r"NaN or Inf loss encountered at epoch 1, batch \d"):
        model.fit(x, y, batch_size=4, epochs=5, shuffle=False, verbose=0,
                  callbacks=[nd.callbacks.TerminateOnNaN(raise_error=True)])


def test_both_paths_stop_at_the_same_batch():
    messages = []
    for python_path in (False, True):
        model, x, y = exploding(python_path, nd.optimizers.SGD(1.0))
        with pytest.raises(RuntimeError) as error:
            model.fit(x, y, batch_size=4, epochs=5, shuffle=False, verbose=0,
                      callbacks=[nd.callbacks.TerminateOnNaN(raise_error=True)])
        messages.append(str(error.value).split(".")[0])
    assert messages[0] == messages[1]


@PATHS
@pytest.mark.parametrize("clip", [{"clipnorm": 1.0}, {"global_clipnorm": 1.0},
                                  {"clipvalue": 0.5}])
@pytest.mark.parametrize("opt", ["SGD", "Adam", "RMSprop"])
def test_clipping_keeps_exploding_gradients_finite(python_path, clip, opt):
    """Gradients of 1e30: every update stays bounded and the weights stay finite."""
    lr = 0.1
    model, x, y = exploding(python_path, getattr(nd.optimizers, opt)(learning_rate=lr, **clip))
    x[:] = 1e15
    before = model.get_weights()
    for _ in range(20):
        loss = model.train_on_batch(x[:4], y[:4] + 1.0)
        after = model.get_weights()
        assert np.isfinite(loss)
        assert all(np.isfinite(w).all() for w in after)
        if opt == "SGD":  # the step is lr * clipped gradient
            step = np.sqrt(sum(((a - b) ** 2).sum() for a, b in zip(after, before)))
            per_var = max(np.sqrt(((a - b) ** 2).sum()) for a, b in zip(after, before))
            bound = {"clipnorm": per_var <= lr * 1.0 * 1.0001,
                     "global_clipnorm": step <= lr * 1.0001,
                     "clipvalue": max(np.abs(a - b).max() for a, b in zip(after, before))
                     <= lr * 0.5 * 1.0001}[next(iter(clip))]
            assert bound
        before = after


def test_without_clipping_the_same_run_blows_up():
    """The control for the test above: the data really does explode the weights."""
    model, x, y = exploding(True, nd.optimizers.SGD(0.1))
    x[:] = 1e15
    with np.errstate(all="ignore"):
        for _ in range(5):
            model.train_on_batch(x[:4], y[:4] + 1.0)
    assert not all(np.isfinite(w).all() for w in model.get_weights())


# ------------------------------------------------------------------ argument errors
def sparse_model():
    nd.utils.set_random_seed(1)
    model = nd.Sequential([nd.Input((4,)), Dense(3, activation="softmax")])
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    return model


def sparse_data():
    rng = np.random.default_rng(0)
    return rng.normal(size=(6, 4)).astype("float32"), np.array([0, 1, 2, 0, 1, 2])


@pytest.mark.parametrize("class_weight", [{-1: 5.0}, {10**12: 5.0}, {3: 2.0}])
def test_class_weight_keys_outside_the_labels_weigh_nothing(class_weight):
    """Keras looks each label up in the dict: keys matching no label change nothing (a key
    of -1 used to reweight the last class, 10**12 to allocate terabytes)."""
    x, y = sparse_data()
    plain, weighted = sparse_model(), sparse_model()
    a = plain.fit(x, y, epochs=2, shuffle=False, verbose=0).history["loss"]
    b = weighted.fit(x, y, epochs=2, shuffle=False, verbose=0,
                     class_weight=class_weight).history["loss"]
    np.testing.assert_allclose(a, b, rtol=1e-6)


@pytest.mark.parametrize("class_weight, match", [({"a": 1.0}, "keys"), ({0: np.nan}, "finite"),
                                                 ({0: "x"}, "finite")])
def test_bad_class_weight_is_named(class_weight, match):
    x, y = sparse_data()
    model = sparse_model()
    before = model.get_weights()
    with pytest.raises(ValueError, match=f"`class_weight` .*{match}"):
        model.fit(x, y, verbose=0, class_weight=class_weight)
    for a, b in zip(before, model.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_callbacks_not_a_list_is_named():
    x, y = sparse_data()
    with pytest.raises(TypeError, match="`callbacks`"):
        sparse_model().fit(x, y, verbose=0, callbacks=nd.callbacks.TerminateOnNaN())


@pytest.mark.parametrize("name", ["epochs", "initial_epoch"])
def test_non_integer_epochs_are_named(name):
    x, y = sparse_data()
    with pytest.raises((TypeError, ValueError), match=f"`?{name}`?"):
        sparse_model().fit(x, y, verbose=0, **{name: "x"})


def test_train_on_empty_batch():
    model = sparse_model()
    before = model.get_weights()
    try:
        model.train_on_batch(np.zeros((0, 4), np.float32), np.zeros((0,), np.int64))
    except ValueError as e:
        assert "empty" in str(e) or "`x`" in str(e)
    assert model.optimizer.iterations == 0
    for a, b in zip(before, model.get_weights()):
        np.testing.assert_array_equal(a, b)
