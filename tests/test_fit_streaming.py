"""fit / evaluate / predict on generators and PyDataset (streamed batches)."""

import io
import re
import sys
import warnings

import numpy as np
import pytest

import numdense as nd
from numdense.layers import Dense
from tests.test_fit import regression_data as data


@pytest.fixture(autouse=True)
def seeded():
    nd.clear_session()
    nd.utils.set_random_seed(7)




def model_pair(metrics=("mae",), **compile_kwargs):
    """Two models with identical initial weights."""
    models = []
    for _ in range(2):
        nd.utils.set_random_seed(11)
        m = nd.Sequential([nd.Input((3,)), Dense(4, activation="tanh"), Dense(1)])
        m.compile(optimizer=nd.optimizers.Adam(0.01), loss="mse", metrics=list(metrics),
                  **compile_kwargs)
        models.append(m)
    return models


class Batches(nd.utils.PyDataset):
    """The batches ``fit(x, y, batch_size, shuffle=False)`` makes; records epoch-end calls."""

    def __init__(self, x, y, batch_size, w=None, **kwargs):
        super().__init__(**kwargs)
        self.x, self.y, self.w, self.batch_size = x, y, w, batch_size
        self.epochs_ended = 0
        self.read = []

    def __len__(self):
        return -(-len(self.x) // self.batch_size)

    def __getitem__(self, i):
        self.read.append(i)
        s = slice(i * self.batch_size, (i + 1) * self.batch_size)
        if self.w is None:
            return self.x[s], self.y[s]
        return self.x[s], self.y[s], self.w[s]

    def on_epoch_end(self):
        self.epochs_ended += 1


def gen(x, y, batch_size, w=None):
    for i in range(0, len(x), batch_size):
        s = slice(i, i + batch_size)
        yield (x[s], y[s]) if w is None else (x[s], y[s], w[s])


def assert_same_fit(ref, got, h_ref, h_got):
    for a, b in zip(ref.get_weights(), got.get_weights()):
        np.testing.assert_allclose(b, a, rtol=1e-6, atol=1e-7)
    assert h_got.history.keys() == h_ref.history.keys()
    for key in h_ref.history:
        np.testing.assert_allclose(h_got.history[key], h_ref.history[key], rtol=1e-6)


# ------------------------------------------------------------ equivalence
@pytest.mark.parametrize("python_path", [False, True])
def test_pydataset_matches_array_fit(python_path):
    x, y = data(70)
    w = np.linspace(0.5, 2.0, 70).astype("float32")
    ref, got = model_pair()
    for m in (ref, got):
        m._force_python_path = python_path
    h_ref = ref.fit(x, y, batch_size=16, epochs=3, shuffle=False, sample_weight=w, verbose=0,
                    validation_data=(x[:20], y[:20]))
    ds = Batches(x, y, 16, w)
    h_got = got.fit(ds, epochs=3, shuffle=False, verbose=0, validation_data=(x[:20], y[:20]))
    assert_same_fit(ref, got, h_ref, h_got)
    assert ds.epochs_ended == 3 and ds.read == list(range(5)) * 3
    assert h_got.params["steps"] == 5 and len(h_got.history["loss"]) == 3


def test_generator_matches_array_fit_with_steps_per_epoch_continuing():
    x, y = data(64)
    ref, got = model_pair()
    # 8 batches of 8, 4 per epoch: epoch 2 continues with batches 4..7, as array fit does not
    # (it restarts), so compare with two array fits over the two halves.
    h1 = ref.fit(x[:32], y[:32], batch_size=8, epochs=1, shuffle=False, verbose=0)
    h2 = ref.fit(x[32:], y[32:], batch_size=8, epochs=1, shuffle=False, verbose=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # 8 batches for 2 x 4 steps: no "ran out" warning
        h = got.fit(gen(x, y, 8), epochs=2, steps_per_epoch=4, verbose=0)
    for a, b in zip(ref.get_weights(), got.get_weights()):
        np.testing.assert_allclose(b, a, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(h.history["loss"], h1.history["loss"] + h2.history["loss"],
                               rtol=1e-6)


def test_evaluate_and_predict_on_streams_match_arrays():
    x, y = data(50)
    model = model_pair()[0]
    model.fit(x, y, epochs=1, verbose=0)
    ref = model.evaluate(x, y, batch_size=16, verbose=0, return_dict=True)
    got = model.evaluate(Batches(x, y, 16), verbose=0, return_dict=True)
    assert got.keys() == ref.keys()
    for key in ref:
        np.testing.assert_allclose(got[key], ref[key], rtol=1e-5)
    got = model.evaluate(gen(x, y, 16), verbose=0, return_dict=True)
    np.testing.assert_allclose(got["loss"], ref["loss"], rtol=1e-5)
    expected = model.predict(x, verbose=0)
    np.testing.assert_allclose(model.predict(Batches(x, y, 16), verbose=0), expected, rtol=1e-6)
    x_only = ((x[i:i + 7],) for i in range(0, 50, 7))
    np.testing.assert_allclose(model.predict(x_only, verbose=0), expected, rtol=1e-6)
    assert model.predict(gen(x, y, 16), steps=2, verbose=0).shape == (32, 1)


# ------------------------------------------------------- epochs and data end
def test_one_shot_generator_runs_out_after_first_epoch():
    x, y = data(40)
    model = model_pair()[0]
    with pytest.warns(UserWarning, match="Your input ran out of data; interrupting training"):
        history = model.fit(gen(x, y, 10), epochs=3, verbose=0)
    assert history.epoch == [0] and history.params["steps"] is None


def test_steps_per_epoch_beyond_generator_end_warns_and_stops():
    x, y = data(40)
    model = model_pair()[0]
    with pytest.warns(UserWarning, match="ran out of data"):
        history = model.fit(gen(x, y, 10), epochs=3, steps_per_epoch=3, verbose=0)
    assert history.epoch == [0, 1]  # 3 + 1 of the 4 batches; then the generator is done
    assert model.optimizer.iterations == 4


def test_reiterable_object_restarts_every_epoch():
    x, y = data(30)

    class Chunks:
        def __iter__(self):
            return gen(x, y, 10)

    model = model_pair()[0]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        history = model.fit(Chunks(), epochs=3, verbose=0)
    assert history.epoch == [0, 1, 2] and model.optimizer.iterations == 9


def test_pydataset_steps_per_epoch_continues_then_restarts_and_shuffle_reorders():
    x, y = data(50)
    ds = Batches(x, y, 10)  # 5 batches
    model = model_pair()[0]
    # As Keras: epoch 3 ends early with the pass (warning), epoch 4 starts a new pass.
    with pytest.warns(UserWarning, match="ran out of data"):
        history = model.fit(ds, epochs=4, steps_per_epoch=2, shuffle=False, verbose=0)
    assert ds.read == [0, 1, 2, 3, 4, 0, 1] and ds.epochs_ended == 4
    assert history.epoch == [0, 1, 2, 3] and model.optimizer.iterations == 7
    ds = Batches(x, y, 10)
    model_pair()[0].fit(ds, epochs=2, shuffle=True, verbose=0)
    assert sorted(ds.read[:5]) == sorted(ds.read[5:]) == [0, 1, 2, 3, 4]
    assert ds.read != [0, 1, 2, 3, 4] * 2


def test_pydataset_workers_read_ahead_in_order():
    x, y = data(70)
    ref, got = model_pair()
    h_ref = ref.fit(x, y, batch_size=16, epochs=2, shuffle=False, verbose=0)
    h_got = got.fit(Batches(x, y, 16, workers=3, max_queue_size=2), epochs=2, shuffle=False,
                    verbose=0)
    assert_same_fit(ref, got, h_ref, h_got)


def test_class_weight_on_pydataset_and_validation_generator():
    x, y = data(40)
    labels = (y[:, 0] > 0).astype("float32")
    models = []
    for _ in range(2):
        nd.utils.set_random_seed(3)
        m = nd.Sequential([nd.Input((3,)), Dense(1, activation="sigmoid")])
        m.compile(optimizer="sgd", loss="binary_crossentropy", metrics=["accuracy"])
        models.append(m)
    cw = {0: 1.0, 1: 3.0}
    h_ref = models[0].fit(x, labels, batch_size=8, epochs=2, shuffle=False, class_weight=cw,
                          verbose=0, validation_data=(x[:16], labels[:16]))

    class Val:
        def __iter__(self):
            return gen(x[:16], labels[:16], 5)

    h_got = models[1].fit(Batches(x, labels, 8), epochs=2, shuffle=False, class_weight=cw,
                          verbose=0, validation_data=Val())
    assert_same_fit(models[0], models[1], h_ref, h_got)


def test_memmap_chunks_stream_from_disk(tmp_path):
    """A zarr-like store: a file on disk read one chunk per batch through a PyDataset."""
    x, y = data(90)
    path = tmp_path / "xy.f32"
    store = np.memmap(path, dtype="float32", mode="w+", shape=(90, 4))
    store[:, :3], store[:, 3] = x, y[:, 0]
    store.flush()
    del store

    class DiskChunks(nd.utils.PyDataset):
        def __init__(self, path, rows, chunk):
            super().__init__()
            self.path, self.rows, self.chunk = path, rows, chunk
            self.max_rows_read = 0

        def __len__(self):
            return -(-self.rows // self.chunk)

        def __getitem__(self, i):
            table = np.memmap(self.path, dtype="float32", mode="r", shape=(self.rows, 4))
            block = np.array(table[i * self.chunk:(i + 1) * self.chunk])  # one chunk in memory
            self.max_rows_read = max(self.max_rows_read, len(block))
            return block[:, :3], block[:, 3:]

    ref, got = model_pair()
    h_ref = ref.fit(x, y, batch_size=25, epochs=2, shuffle=False, verbose=0)
    ds = DiskChunks(path, 90, 25)
    h_got = got.fit(ds, epochs=2, shuffle=False, verbose=0)
    assert_same_fit(ref, got, h_ref, h_got)
    assert ds.max_rows_read == 25


# ------------------------------------------------------------------ errors
@pytest.mark.parametrize("kwargs, message", [
    ({"y": np.zeros(3)}, r"When providing `x` as a generator, `y` should not be passed"),
    ({"sample_weight": np.ones(3)}, r"`sample_weight` should not be passed"),
    ({"batch_size": 8}, r"The `batch_size` argument must not be specified"),
    ({"validation_split": 0.2}, r"`validation_split` is only supported for tensors or NumPy"),
    ({"class_weight": {0: 1.0}}, r"`class_weight` is not supported for Python generator"),
])
def test_stream_argument_errors(kwargs, message):
    x, y = data(20)
    model = model_pair()[0]
    before = [w.copy() for w in model.get_weights()]
    with pytest.raises(ValueError, match=message):
        model.fit(gen(x, y, 5), verbose=0, **kwargs)
    for a, b in zip(before, model.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_batch_errors():
    x, y = data(20)
    model = model_pair()[0]
    with pytest.raises(ValueError, match=r"`fit` needs targets.*Batch 0"):
        model.fit(((x[i:i + 5],) for i in range(0, 20, 5)), verbose=0)
    with pytest.raises(ValueError, match="yielded no batches"):
        model.fit(iter([]), verbose=0)
    with pytest.raises(ValueError, match=r"\(inputs, targets, sample_weights\)"):
        model.fit(iter([(x, y, y, y)]), verbose=0)
    with pytest.raises(ValueError, match="`class_weight` and `sample_weight` at the same time"):
        model.fit(Batches(x, y, 5, np.ones(20, "float32")), class_weight={0: 1.0}, verbose=0)


# ---------------------------------------------------------------- progress
class FakeTerminal(io.StringIO):
    def isatty(self):
        return True


def test_progress_shows_unknown_then_known_count(monkeypatch):
    x, y = data(30)
    model = model_pair(metrics=())[0]

    class Chunks:
        def __iter__(self):
            return gen(x, y, 10)

    out = FakeTerminal()
    monkeypatch.setattr(sys, "stdout", out)
    model.fit(Chunks(), epochs=2, verbose=1)
    text = out.getvalue()
    first, second = text.split("Epoch 2/2")
    assert re.search(r"\r\s+1/Unknown - 0s \d+(us|ms)/step - loss: \d", first)
    assert re.search(r"3/3 \[=+\] - 0s \d+(us|ms)/step - loss: \d\.\d{4}\s*\n$", first)
    assert "Unknown" not in second and re.search(r"\r1/3 \[=+>?\.*\] - ETA", second)


def test_progress_without_terminal_prints_final_lines(capsys):
    x, y = data(30)
    model = model_pair(metrics=())[0]
    model.fit(gen(x, y, 10), epochs=1, verbose=1)
    assert re.fullmatch(r"3/3 \[=+\] - 0s \d+(us|ms)/step - loss: \d\.\d{4}\n",
                        capsys.readouterr().out)
    model.evaluate(gen(x, y, 10), verbose=2)
    assert re.fullmatch(r"3/3 - 0s - loss: \d\.\d{4} - \d+(us|ms)/epoch - \d+(us|ms)/step\n",
                        capsys.readouterr().out)


# ------------------------------------------------------------- other models
def test_functional_model_streams_and_multi_output_refusal():
    x, y = data(30)
    inp = nd.Input((3,))
    model = nd.Model(inp, Dense(1)(inp))
    model.compile(optimizer="sgd", loss="mse")
    model.fit(Batches(x, y, 10), epochs=1, verbose=0)
    assert model.optimizer.iterations == 3
    np.testing.assert_allclose(model.predict(gen(x, y, 7), verbose=0), model.predict(x, verbose=0),
                               rtol=1e-6)
    a, b = nd.Input((3,)), nd.Input((2,))
    two = nd.Model([a, b], [Dense(1)(a), Dense(1)(b)])
    two.compile(optimizer="sgd", loss=["mse", "mse"])
    with pytest.raises(NotImplementedError, match="2 inputs and 2 outputs"):
        two.fit(iter([((x, x[:, :2]), (y, y))]), verbose=0)


def test_callback_stop_training_and_pydataset_api():
    x, y = data(50)

    class StopAfterTwo(nd.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            if batch == 1:
                self.model.stop_training = True

    ds = Batches(x, y, 10)
    assert nd.utils.Sequence is nd.utils.PyDataset and ds.num_batches == 5
    assert (ds.workers, ds.use_multiprocessing, ds.max_queue_size) == (1, False, 10)
    model = model_pair()[0]
    history = model.fit(ds, epochs=3, callbacks=[StopAfterTwo()], shuffle=False, verbose=0)
    assert history.epoch == [0] and ds.read == [0, 1] and model.optimizer.iterations == 2


def test_infinite_pydataset_needs_steps_per_epoch():
    x, y = data(8)

    class Forever(nd.utils.PyDataset):
        num_batches = None
        read = []

        def __getitem__(self, i):
            self.read.append(i)
            return x, y

    model = model_pair()[0]
    with pytest.raises(ValueError, match=r"infinite .* pass `steps_per_epoch`"):
        model.fit(Forever(), verbose=0)
    history = model.fit(Forever(), epochs=2, steps_per_epoch=3, verbose=0)
    assert Forever.read == list(range(6)) and history.params["steps"] == 3
