"""Callbacks driven by explicit hook calls on a fake model, as the fit loop will call them."""

import csv
import re
import warnings

import numpy as np
import pytest

from numdense import callbacks, metrics


class FakeOptimizer:
    def __init__(self, learning_rate=0.01):
        self.learning_rate = learning_rate


class FakeModel:
    def __init__(self, metrics_list=()):
        self.stop_training = False
        self.optimizer = FakeOptimizer()
        self.weights = [np.zeros(3)]
        self.metrics = list(metrics_list)
        self.saved = []

    def get_weights(self):
        return [w.copy() for w in self.weights]

    def set_weights(self, weights):
        self.weights = [np.array(w) for w in weights]

    def save(self, path, overwrite=True):
        self.saved.append(("model", path))

    def save_weights(self, path, overwrite=True):
        self.saved.append(("weights", path))


def run_fit(cbs, model, epoch_logs, steps=4, verbose=0, batch_every=1):
    """Drives the callbacks like ``fit`` does; returns the CallbackList."""
    cl = callbacks.CallbackList(cbs, add_history=True, add_progbar=verbose != 0, model=model,
                                verbose=verbose, epochs=len(epoch_logs), steps=steps)
    cl.on_train_begin()
    for epoch, logs in enumerate(epoch_logs):
        cl.on_epoch_begin(epoch)
        for batch in range(0, steps, batch_every):
            cl.on_train_batch_begin(batch)
            cl.on_train_batch_end(batch, {"loss": logs.get("loss", 0.0)})
        model.weights[0] = model.weights[0] + 1
        cl.on_epoch_end(epoch, dict(logs))
        if model.stop_training:
            break
    cl.on_train_end()
    return cl


# --------------------------------------------------------------- base, list, history
def test_callback_hooks_and_aliases():
    seen = []

    class Recorder(callbacks.Callback):
        def on_batch_begin(self, batch, logs=None):
            seen.append(("batch_begin", batch))

        def on_batch_end(self, batch, logs=None):
            seen.append(("batch_end", batch, logs))

    cb = Recorder()
    cl = callbacks.CallbackList([cb], model="m", verbose=0, epochs=1, steps=1)
    assert cb.model == "m" and cb.params == {"verbose": 0, "epochs": 1, "steps": 1}
    cl.on_train_batch_begin(0)
    cl.on_train_batch_end(0, {"loss": np.float32(0.5)})
    assert seen == [("batch_begin", 0), ("batch_end", 0, {"loss": 0.5})]
    assert type(seen[1][2]["loss"]) is float
    for hook in ("on_test_begin", "on_test_end", "on_predict_begin", "on_predict_end",
                 "on_train_begin", "on_train_end"):
        getattr(cl, hook)()
    cl.on_test_batch_begin(0), cl.on_test_batch_end(0), cl.on_predict_batch_begin(0)
    cl.on_predict_batch_end(0)


def test_callback_list_adds_history_and_progbar_once():
    model = FakeModel()
    h = callbacks.History()
    cl = callbacks.CallbackList([h], add_history=True, add_progbar=True, model=model)
    assert cl.callbacks[0] is h and isinstance(cl.callbacks[1], callbacks.ProgbarLogger)
    assert len(cl.callbacks) == 2 and model.history is h


def test_history_records_epochs():
    model = FakeModel()
    cl = run_fit([], model, [{"loss": 1.0, "val_loss": 2.0}, {"loss": 0.5, "val_loss": 1.0}])
    h = model.history
    assert h is cl.history
    assert h.history == {"loss": [1.0, 0.5], "val_loss": [2.0, 1.0]}
    assert h.epoch == [0, 1]
    assert h.params == {"verbose": 0, "epochs": 2, "steps": 4}


def test_logs_nested_dicts_flattened_and_sorted():
    got = []
    cb = callbacks.LambdaCallback(on_epoch_end=lambda epoch, logs: got.append(logs))
    callbacks.CallbackList([cb]).on_epoch_end(0, {"val_loss": 1, "loss": {"a": np.float64(2)}})
    assert list(got[0]) == ["a", "val_loss"] and got[0]["a"] == 2.0


# --------------------------------------------------------------- progress bar
BAR = "=" * 30


def test_progbar_verbose_1_text(capsys):
    run_fit([], FakeModel(), [{"loss": 0.5, "val_loss": 0.25}, {"loss": 0.0095, "val_loss": 2e-4}],
            steps=32, verbose=1)
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "Epoch 1/2"
    assert re.fullmatch(rf"32/32 \[{BAR}\] - 0s \d+(us|ms)/step - loss: 0\.5000 - "
                        r"val_loss: 0\.2500", lines[1])
    assert lines[2] == "Epoch 2/2"
    assert re.fullmatch(rf"32/32 \[{BAR}\] - 0s \d+(us|ms)/step - loss: 0\.0095 - "
                        r"val_loss: 2\.0000e-04", lines[3])
    assert len(lines) == 4


def test_progbar_single_epoch_has_no_header(capsys):
    run_fit([], FakeModel(), [{"loss": 0.5}], steps=3, verbose="auto")
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"3/3 [{BAR}] - 0s ")


def test_progbar_verbose_2_one_line(capsys):
    run_fit([], FakeModel(), [{"loss": 0.5, "val_loss": 0.25}], steps=32, verbose=2)
    out = capsys.readouterr().out
    assert re.fullmatch(r"32/32 - 0s - loss: 0\.5000 - val_loss: 0\.2500 - \d+(us|ms)/epoch - "
                        r"\d+(us|ms)/step\n", out)


def test_progbar_verbose_0_silent(capsys):
    run_fit([callbacks.ProgbarLogger()], FakeModel(), [{"loss": 0.5}, {"loss": 0.4}], verbose=0)
    assert capsys.readouterr().out == ""


def test_progbar_sparse_batch_reports_still_finish(capsys):
    run_fit([], FakeModel(), [{"loss": 0.5}, {"loss": 0.25}], steps=10, verbose=1,
            batch_every=4)
    lines = capsys.readouterr().out.splitlines()
    assert lines[1].startswith(f"10/10 [{BAR}] - ") and lines[1].endswith("loss: 0.5000")
    assert lines[3].startswith(f"10/10 [{BAR}] - ") and lines[3].endswith("loss: 0.2500")


def test_progbar_unknown_steps_uses_seen_batches(capsys):
    cl = callbacks.CallbackList([], add_progbar=True, model=FakeModel(), verbose=1, epochs=1,
                                steps=None)
    cl.on_train_begin()
    cl.on_epoch_begin(0)
    for b in range(5):
        cl.on_train_batch_end(b, {"loss": 1.0})
    cl.on_epoch_end(0, {"loss": 1.0})
    assert capsys.readouterr().out.startswith(f"5/5 [{BAR}]")


def test_progbar_evaluate_and_predict(capsys):
    pl = callbacks.ProgbarLogger()
    pl.set_params({"verbose": 1, "epochs": 1, "steps": 2})
    pl.on_test_begin()
    pl.on_test_batch_end(0, {"loss": 1.0})
    pl.on_test_batch_end(1, {"loss": 2.0})
    pl.on_test_end({"loss": 1.5})
    pl.on_predict_begin()
    pl.on_predict_batch_end(1)
    pl.on_predict_end()
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith(f"2/2 [{BAR}] - 0s ") and lines[0].endswith("loss: 1.5000")
    assert re.fullmatch(rf"2/2 \[{BAR}\] - 0s \d+(us|ms)/step", lines[1])


# --------------------------------------------------------------- EarlyStopping
def test_early_stopping_patience_and_messages(capsys):
    model = FakeModel()
    es = callbacks.EarlyStopping(patience=2, verbose=1, restore_best_weights=True)
    logs = [{"val_loss": v} for v in (1.0, 0.5, 0.6, 0.55, 0.4)]
    run_fit([es], model, logs)
    assert model.stop_training and es.stopped_epoch == 3 and es.best_epoch == 1
    assert model.history.epoch == [0, 1, 2, 3]
    assert model.weights[0].tolist() == [2, 2, 2]
    assert capsys.readouterr().out.splitlines() == [
        "Epoch 4: early stopping",
        "Restoring model weights from the end of the best epoch: 2.",
    ]


def test_early_stopping_patience_0_never_stops_at_epoch_0():
    model = FakeModel()
    es = callbacks.EarlyStopping(monitor="loss")
    run_fit([es], model, [{"loss": 1.0}, {"loss": 2.0}, {"loss": 0.1}])
    assert es.stopped_epoch == 1 and model.history.epoch == [0, 1]


def test_early_stopping_min_delta_and_max_mode():
    model = FakeModel()
    es = callbacks.EarlyStopping(monitor="acc", mode="max", min_delta=0.1, patience=1)
    run_fit([es], model, [{"acc": 0.5}, {"acc": 0.55}, {"acc": 0.9}])
    assert es.stopped_epoch == 1 and es.best == 0.5


def test_early_stopping_baseline_keeps_counting():
    model = FakeModel()
    es = callbacks.EarlyStopping(monitor="val_loss", patience=3, baseline=0.1,
                                 restore_best_weights=True)
    run_fit([es], model, [{"val_loss": v} for v in (1.0, 0.9, 0.8, 0.7, 0.6)])
    # Improvements that miss the baseline do not reset the wait counter.
    assert es.stopped_epoch == 0 and not model.stop_training
    assert es.wait == 5 and es.best == 0.6
    model = FakeModel()
    es = callbacks.EarlyStopping(monitor="val_loss", patience=2, baseline=0.1)
    run_fit([es], model, [{"val_loss": v} for v in (1.0, 1.0, 1.0)])
    # Epoch 0 improves on None but not on the baseline, so its wait of 1 stays.
    assert es.stopped_epoch == 1


def test_early_stopping_start_from_epoch():
    model = FakeModel()
    es = callbacks.EarlyStopping(monitor="loss", start_from_epoch=2)
    run_fit([es], model, [{"loss": v} for v in (1.0, 2.0, 3.0, 4.0)])
    assert es.stopped_epoch == 3


def test_early_stopping_auto_mode_uses_metric_direction():
    acc = metrics.BinaryAccuracy(name="accuracy")
    model = FakeModel(metrics_list=[acc])
    es = callbacks.EarlyStopping(monitor="val_accuracy")
    run_fit([es], model, [{"val_accuracy": 0.5}, {"val_accuracy": 0.6}, {"val_accuracy": 0.4}])
    assert es.stopped_epoch == 2
    with pytest.raises(ValueError, match="isn't able to automatically determine"):
        run_fit([callbacks.EarlyStopping(monitor="foo")], FakeModel(), [{"foo": 1.0}])


def test_early_stopping_missing_monitor_warns():
    with pytest.warns(UserWarning, match=r"Early stopping conditioned on metric `val_loss` "
                                         r"which is not available\. Available metrics are: "
                                         r"loss,acc"):
        callbacks.EarlyStopping().on_epoch_end(0, {"loss": 1.0, "acc": 0.2})


def test_unknown_mode_warns():
    with pytest.warns(UserWarning, match="mode 'sideways' is unknown"):
        cb = callbacks.EarlyStopping(mode="sideways")
    assert cb.mode == "auto"


# --------------------------------------------------------------- ModelCheckpoint
def test_model_checkpoint_every_epoch_with_format(tmp_path):
    model = FakeModel()
    path = str(tmp_path / "ck" / "m-{epoch:02d}-{val_loss:.2f}.keras")
    run_fit([callbacks.ModelCheckpoint(path)], model, [{"val_loss": 0.5}, {"val_loss": 0.25}])
    assert model.saved == [("model", str(tmp_path / "ck" / "m-01-0.50.keras")),
                           ("model", str(tmp_path / "ck" / "m-02-0.25.keras"))]
    assert (tmp_path / "ck").is_dir()


def test_model_checkpoint_save_best_only_weights(tmp_path, capsys):
    model = FakeModel()
    path = str(tmp_path / "best.weights.h5")
    cb = callbacks.ModelCheckpoint(path, save_best_only=True, save_weights_only=True, verbose=1)
    run_fit([cb], model, [{"val_loss": v} for v in (0.5, 0.7, 0.3)])
    assert model.saved == [("weights", path)] * 2
    out = capsys.readouterr().out
    assert f"Epoch 1: val_loss improved from None to 0.50000, saving model to {path}" in out
    assert "Epoch 2: val_loss did not improve from 0.50000" in out
    assert "Epoch 3: val_loss improved from 0.50000 to 0.30000" in out


def test_model_checkpoint_initial_threshold_and_batches(tmp_path):
    model = FakeModel()
    cb = callbacks.ModelCheckpoint(str(tmp_path / "x.keras"), save_best_only=True,
                                   initial_value_threshold=0.4)
    run_fit([cb], model, [{"val_loss": 0.5}, {"val_loss": 0.3}])
    assert len(model.saved) == 1
    model = FakeModel()
    cb = callbacks.ModelCheckpoint(str(tmp_path / "b{epoch}-{batch}.keras"), save_freq=3)
    run_fit([cb], model, [{"loss": 1.0}, {"loss": 1.0}], steps=4)
    assert [p for _, p in model.saved] == [str(tmp_path / n) for n in
                                           ("b1-3.keras", "b2-2.keras")]


def test_model_checkpoint_validation():
    with pytest.raises(ValueError, match=r"must end in `\.weights\.h5`"):
        callbacks.ModelCheckpoint("a.keras", save_weights_only=True)
    with pytest.raises(ValueError, match=r"must end in `\.keras`"):
        callbacks.ModelCheckpoint("a.txt")
    with pytest.raises(ValueError, match="Unrecognized save_freq"):
        callbacks.ModelCheckpoint("a.keras", save_freq="batch")
    cb = callbacks.ModelCheckpoint("{nope}.keras")
    cb.set_model(FakeModel())
    with pytest.raises(KeyError, match="Failed to format"):
        cb.on_epoch_end(0, {"val_loss": 1.0})


# --------------------------------------------------------------- learning rate callbacks
def test_learning_rate_scheduler(capsys):
    model = FakeModel()
    sched = callbacks.LearningRateScheduler(lambda epoch, lr: lr * 0.5 if epoch else lr,
                                            verbose=1)
    run_fit([sched], model, [{"loss": 1.0}] * 3)
    assert model.optimizer.learning_rate == pytest.approx(0.0025)
    assert model.history.history["learning_rate"] == pytest.approx([0.01, 0.005, 0.0025])
    assert "\nEpoch 2: LearningRateScheduler setting learning rate to 0.005." in \
        capsys.readouterr().out
    one_arg = callbacks.LearningRateScheduler(lambda epoch: 0.1)
    run_fit([one_arg], model, [{"loss": 1.0}])
    assert model.optimizer.learning_rate == 0.1
    with pytest.raises(ValueError, match="should be a float"):
        run_fit([callbacks.LearningRateScheduler(lambda e, lr: "x")], model, [{"loss": 1.0}])


def test_reduce_lr_on_plateau(capsys):
    model = FakeModel()
    cb = callbacks.ReduceLROnPlateau(monitor="val_loss", factor=0.5, patience=1, cooldown=1,
                                     min_lr=0.003, verbose=1)
    run_fit([cb], model, [{"val_loss": v} for v in (1.0, 1.0, 1.0, 1.0, 1.0, 1.0)])
    # Logged rates are those used during the epoch. As in Keras, the cooldown counter is
    # decremented before the check, so cooldown=1 does not skip epoch 3; 0.0025 is floored.
    assert model.history.history["learning_rate"] == pytest.approx(
        [0.01, 0.01, 0.005, 0.003, 0.003, 0.003])
    assert model.optimizer.learning_rate == pytest.approx(0.003)
    out = capsys.readouterr().out
    assert "\nEpoch 2: ReduceLROnPlateau reducing learning rate to 0.005." in out
    with pytest.raises(ValueError, match="factor >= 1.0"):
        callbacks.ReduceLROnPlateau(factor=1.0)


def test_reduce_lr_min_delta():
    model = FakeModel()
    cb = callbacks.ReduceLROnPlateau(monitor="loss", patience=1, min_delta=0.1)
    run_fit([cb], model, [{"loss": 1.0}, {"loss": 0.95}])
    assert model.optimizer.learning_rate == pytest.approx(0.001)


# --------------------------------------------------------------- others
def test_terminate_on_nan(capsys):
    model = FakeModel()
    cl = callbacks.CallbackList([callbacks.TerminateOnNaN()], model=model)
    cl.on_train_batch_end(2, {"loss": 1.0})
    assert not model.stop_training
    cl.on_train_batch_end(3, {"loss": float("nan")})
    assert model.stop_training
    assert capsys.readouterr().out == "Batch 3: Invalid loss, terminating training\n"
    strict = callbacks.CallbackList([callbacks.TerminateOnNaN(raise_error=True)], model=model)
    with pytest.raises(RuntimeError, match="NaN or Inf loss encountered at batch 1"):
        strict.on_train_batch_end(1, {"loss": np.inf})


def test_csv_logger(tmp_path):
    path = tmp_path / "log.csv"
    run_fit([callbacks.CSVLogger(path)], FakeModel(), [{"loss": 1.0, "acc": 0.5}, {"loss": 0.5,
                                                                                    "acc": 0.7}])
    rows = list(csv.reader(open(path)))
    assert rows[0] == ["epoch", "acc", "loss", "val_acc", "val_loss"]
    assert rows[1] == ["0", "0.5", "1.0", "NA", "NA"]
    run_fit([callbacks.CSVLogger(path, separator=";", append=True)], FakeModel(),
            [{"loss": 0.1, "val_loss": 0.2}])
    lines = open(path).read().splitlines()
    assert len(lines) == 4 and lines[3] == "0;0.1;0.2"


def test_lambda_callback():
    events = []
    cb = callbacks.LambdaCallback(
        on_epoch_begin=lambda epoch, logs: events.append(("eb", epoch)),
        on_train_batch_end=lambda batch, logs: events.append(("be", batch, logs["loss"])),
        on_train_end=lambda logs: events.append("end"),
        on_test_end=lambda logs: events.append("test_end"),
    )
    run_fit([cb], FakeModel(), [{"loss": 0.5}], steps=2)
    callbacks.CallbackList([cb]).on_test_end()
    assert events == [("eb", 0), ("be", 0, 0.5), ("be", 1, 0.5), "end", "test_end"]
    with pytest.raises(ValueError, match="Unknown callback hooks"):
        callbacks.LambdaCallback(on_nothing=print)
