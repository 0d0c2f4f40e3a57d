"""fit / evaluate / predict behaviour beyond the Keras reference trajectories."""

import re

import numpy as np
import pytest

import numdense as nd
from numdense.layers import Dense, Dropout


@pytest.fixture(autouse=True)
def seeded():
    nd.clear_session()
    nd.utils.set_random_seed(123)


def regression_data(n=70, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, 3)).astype("float32")
    y = x @ np.array([[1.0], [-2.0], [0.5]], "float32") + 0.3
    return x, y


def small_model(**dense_kwargs):
    model = nd.Sequential([nd.Input((3,)), Dense(4, activation="tanh", **dense_kwargs), Dense(1)])
    model.compile(optimizer=nd.optimizers.SGD(0.05), loss="mse")
    return model


def test_fit_before_compile_raises():
    model = nd.Sequential([nd.Input((3,)), Dense(1)])
    with pytest.raises(ValueError, match=r"You must call `compile\(\)` before calling `fit\(\)`"):
        model.fit(*regression_data())


def test_partial_last_batch_is_kept():
    x, y = regression_data(70)
    history = small_model().fit(x, y, batch_size=32, epochs=2, verbose=0)
    assert history.params["steps"] == 3
    assert len(history.history["loss"]) == 2 and history.epoch == [0, 1]


def test_a_silent_fit_records_every_epoch_as_a_fit_with_epoch_hooks_does(monkeypatch):
    # History alone: chunks of many epochs per compiled call, their losses handed over at once.
    # Any other callback: one epoch at a time through the hooks. Same epochs, same losses.
    from numdense.models import trainer

    monkeypatch.setattr(trainer, "_CHUNK_SECONDS", 1e-6)  # several chunks, not one
    x, y = regression_data(70)
    histories, weights = [], []
    for callbacks in (None, [nd.callbacks.Callback()]):
        nd.utils.set_random_seed(5)
        model = small_model()
        model.fit(x, y, batch_size=32, epochs=2, verbose=0)
        history = model.fit(x, y, batch_size=32, epochs=9, initial_epoch=3, verbose=0,
                            callbacks=callbacks)
        assert model.history is history
        histories.append(history)
        weights.append(model.get_weights())
    silent, hooked = histories
    assert silent.epoch == hooked.epoch == [3, 4, 5, 6, 7, 8]
    assert silent.history == hooked.history and len(silent.history["loss"]) == 6
    assert all(type(v) is float for v in silent.history["loss"])
    assert all(np.array_equal(a, b) for a, b in zip(*weights))


def test_validation_split_takes_the_last_samples_before_shuffling():
    x, y = regression_data(70)
    model = small_model()
    history = model.fit(x, y, batch_size=32, epochs=1, validation_split=0.1, verbose=0)
    assert history.params["steps"] == 2  # 63 training samples
    val = model.evaluate(x[63:], y[63:], verbose=0)
    np.testing.assert_allclose(history.history["val_loss"][0], val, rtol=1e-5)


def test_loss_decreases_and_history_is_returned():
    x, y = regression_data(200)
    model = small_model()
    history = model.fit(x, y, epochs=20, batch_size=16, verbose=0)
    assert history.history["loss"][-1] < 0.2 * history.history["loss"][0]
    assert model.history is history


def test_mismatched_lengths_raise_and_leave_model_untouched():
    x, y = regression_data(10)
    model = small_model()
    before = model.get_weights()
    with pytest.raises(ValueError, match="same number of samples"):
        model.fit(x, y[:9], verbose=0)
    for a, b in zip(before, model.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert model.optimizer.iterations == 0


def test_nan_in_data_is_located():
    x, y = regression_data(10)
    x[4, 2] = np.nan
    with pytest.raises(ValueError, match=r"`x` contains NaN or inf values \(first at index \(4, 2\)"):
        small_model().fit(x, y, verbose=0)


def test_uncastable_dtype_raises_type_error():
    x, y = regression_data(4)
    with pytest.raises(TypeError, match="`x`"):
        small_model().fit(np.array([["a"] * 3] * 4, dtype=object), y, verbose=0)


def test_sparse_labels_out_of_range():
    model = nd.Sequential([nd.Input((3,)), Dense(3, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    x = np.zeros((4, 3), "float32")
    with pytest.raises(ValueError, match=r"label value of 3.0 \(at index 2\).*\[0, 2\]"):
        model.fit(x, np.array([0, 1, 3, 2]), verbose=0)
    with pytest.raises(ValueError, match="label value of -1"):
        model.fit(x, np.array([0, -1, 1, 2]), verbose=0)


def test_target_shape_mismatch():
    model = small_model()
    with pytest.raises(ValueError, match="do not match the model output shape"):
        model.fit(np.zeros((4, 3)), np.zeros((4, 2)), verbose=0)


def test_progress_output_keras2_format(capsys):
    x, y = regression_data(70)
    small_model().fit(x, y, batch_size=32, epochs=2, verbose=1)
    out = capsys.readouterr().out
    lines = [l for l in out.splitlines() if l.strip()]
    assert lines[0] == "Epoch 1/2" and lines[2] == "Epoch 2/2"
    assert re.fullmatch(r"3/3 \[==============================\] - \d+s \d+(ms|us|s)/step - loss: \d+\.\d{4}\s*", lines[1])


def test_progress_verbose_2_and_0(capsys):
    x, y = regression_data(70)
    small_model().fit(x, y, batch_size=32, epochs=1, verbose=2)
    out = capsys.readouterr().out
    assert re.fullmatch(r"3/3 - \d+s - loss: \d+\.\d{4} - \d+(ms|us|s)/epoch - \d+(ms|us|s)/step\n", out)
    small_model().fit(x, y, epochs=1, verbose=0)
    assert capsys.readouterr().out == ""


@pytest.mark.parametrize("force_python", [False, True])
def test_sample_weight_zero_ignores_samples(force_python):
    x, y = regression_data(32)
    w = np.ones(32)
    w[16:] = 0
    a, b = small_model(), small_model()
    w0 = a.get_weights()
    b.set_weights(w0)
    a._force_python_path = b._force_python_path = force_python
    a.fit(x, y, batch_size=32, sample_weight=w, shuffle=False, verbose=0)
    b.fit(x[:16], y[:16], batch_size=32, shuffle=False, verbose=0)
    # One SGD step each; Keras divides by the full batch size, so a's step is half of b's.
    for wa, wb, start in zip(a.get_weights(), b.get_weights(), w0):
        np.testing.assert_allclose(wa - start, (wb - start) / 2, rtol=1e-4, atol=1e-6)


def test_regularization_penalty_is_in_the_reported_loss():
    x, y = regression_data(32)
    model = small_model(kernel_regularizer=nd.regularizers.L2(0.5), kernel_initializer="ones")
    loss = model.evaluate(x, y, verbose=0)
    plain = small_model(kernel_initializer="ones")
    plain.set_weights(model.get_weights())
    assert loss == pytest.approx(plain.evaluate(x, y, verbose=0) + 0.5 * 12, rel=1e-5)


@pytest.mark.parametrize("force_python", [False, True])
def test_constraints_take_effect_in_fit(force_python):
    x, y = regression_data(64)
    model = nd.Sequential([nd.Input((3,)), Dense(4, kernel_constraint="non_neg"),
                           Dense(1, kernel_constraint=nd.constraints.MaxNorm(0.1))])
    model._force_python_path = force_python
    model.compile(optimizer=nd.optimizers.SGD(0.5), loss="mse")
    model.fit(x, y, epochs=3, verbose=0)
    assert model.layers[0].kernel.numpy().min() >= 0
    assert np.linalg.norm(model.layers[1].kernel.numpy(), axis=0).max() <= 0.1 + 1e-6


def test_compiled_and_python_paths_agree_with_dropout_off_and_shuffle():
    x, y = regression_data(50)
    results = []
    for force in (False, True):
        nd.utils.set_random_seed(7)
        model = nd.Sequential([nd.Input((3,)), Dense(5, activation="relu"), Dense(1)])
        model.compile(optimizer="adam", loss="mae")
        model._force_python_path = force
        model.fit(x, y, epochs=3, batch_size=8, verbose=0)
        results.append(model.get_weights())
    for a, b in zip(*results):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_custom_python_activation_trains_with_correct_gradients():
    x, y = regression_data(32)
    x = x * 0.1
    square = lambda t: t ** 2  # noqa: E731
    model = nd.Sequential([nd.Input((3,)), Dense(2, activation=square), Dense(1)])
    model.compile(optimizer=nd.optimizers.SGD(0.1), loss="mse")
    w0 = model.get_weights()
    model.train_on_batch(x, y)
    # Reference: the same step computed by hand in float64.
    k1, b1, k2, b2 = [w.astype(np.float64) for w in w0]
    z = x @ k1 + b1
    h = z ** 2
    pred = h @ k2 + b2
    d = 2 * (pred - y) / len(x)
    dk2, db2 = h.T @ d, d.sum(0)
    dz = (d @ k2.T) * 2 * z
    dk1, db1 = x.T @ dz, dz.sum(0)
    expected = [k1 - 0.1 * dk1, b1 - 0.1 * db1, k2 - 0.1 * dk2, b2 - 0.1 * db2]
    for got, want in zip(model.get_weights(), expected):
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-6)


def test_train_and_test_on_batch():
    x, y = regression_data(16)
    model = small_model()
    before = model.test_on_batch(x, y)
    loss = model.train_on_batch(x, y)
    assert loss == pytest.approx(before, rel=1e-5)
    assert model.test_on_batch(x, y) < before
    assert model.optimizer.iterations == 1


def test_metrics_and_evaluate_return_forms():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((40, 3)).astype("float32")
    y = (x[:, 0] > 0).astype("float32")
    model = nd.Sequential([nd.Input((3,)), Dense(1, activation="sigmoid")])
    model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy", "mae"])
    history = model.fit(x, y, epochs=2, verbose=0)
    assert set(history.history) == {"loss", "accuracy", "mae"}
    result = model.evaluate(x, y, verbose=0)
    assert isinstance(result, list) and len(result) == 3
    logs = model.evaluate(x, y, verbose=0, return_dict=True)
    assert set(logs) == {"loss", "accuracy", "mae"}
    assert 0 <= logs["accuracy"] <= 1


def test_dropout_model_trains_and_is_reproducible():
    x, y = regression_data(64)
    weights = []
    for _ in range(2):
        nd.utils.set_random_seed(3)
        model = nd.Sequential([nd.Input((3,)), Dense(8, activation="relu"), Dropout(0.5),
                               Dense(1)])
        model.compile(optimizer="adam", loss="mse")
        model.fit(x, y, epochs=2, verbose=0)
        weights.append(model.get_weights())
    for a, b in zip(*weights):
        np.testing.assert_array_equal(a, b)


def test_early_stopping_restores_best_weights():
    x, y = regression_data(64)
    model = small_model()
    stop = nd.callbacks.EarlyStopping(monitor="loss", patience=0, restore_best_weights=True)
    model.compile(optimizer=nd.optimizers.SGD(5.0), loss="mse")  # diverges: loss goes up
    history = model.fit(x, y, epochs=10, verbose=0, callbacks=[stop])
    assert len(history.history["loss"]) < 10


def test_terminate_on_nan_stops_training(capsys):
    x, y = regression_data(64)
    model = small_model()
    model.compile(optimizer=nd.optimizers.SGD(1e6), loss="mse")
    history = model.fit(x, y, epochs=5, batch_size=8, verbose=0,
                        callbacks=[nd.callbacks.TerminateOnNaN()])
    assert len(history.history["loss"]) == 1
    assert "Invalid loss" in capsys.readouterr().out


def test_huge_but_finite_data_is_not_flagged():
    from numdense.models.data import check_finite

    check_finite(np.full((4, 3), 3e38, np.float32), "x")  # the sum overflows, the data is fine
    with pytest.raises(ValueError, match=r"index \(3, 1\)"):
        bad = np.full((4, 3), 3e38, np.float32)
        bad[3, 1] = np.inf
        check_finite(bad, "x")


class _ClipToHalf(nd.constraints.Constraint):
    """A constraint with no kernel form: it must still run after every update."""

    def __call__(self, w):
        return np.clip(w, -0.5, 0.5)


def test_python_constraints_and_ema_fall_back_to_the_python_path():
    x, y = regression_data(64)
    model = nd.Sequential([nd.Input((3,)), Dense(4, kernel_constraint=_ClipToHalf()), Dense(1)])
    model.compile(optimizer=nd.optimizers.SGD(0.5), loss="mse")
    model.fit(x, y, epochs=3, verbose=0)
    assert all(plan is None for plan in model._plans.values())
    assert np.abs(model.layers[0].kernel.numpy()).max() <= 0.5

    ema = small_model()
    ema.compile(optimizer=nd.optimizers.Adam(use_ema=True), loss="mse")
    ema.fit(x, y, epochs=1, verbose=0)
    assert all(plan is None for plan in ema._plans.values())


def test_frozen_model_trains_nothing_in_the_compiled_path():
    x, y = regression_data(16)
    model = small_model()
    model.trainable = False
    before = model.get_weights()
    model.fit(x, y, epochs=2, verbose=0)
    assert all(plan is not None for plan in model._plans.values())
    for a, b in zip(before, model.get_weights()):
        np.testing.assert_array_equal(a, b)
