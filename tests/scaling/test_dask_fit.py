"""``fit`` on dask arrays: streamed one row chunk at a time, equal to NumPy fit."""

import weakref

import numpy as np
import pytest

import numdense as nd
from numdense.layers import Dense
from numdense.models import dask_fit
from tests.test_fit_streaming import assert_same_fit

dask = pytest.importorskip("dask")
da = pytest.importorskip("dask.array")

N, CHUNK, BATCH = 200, 64, 20  # batches 3, 6 and 9 span two chunks


@pytest.fixture(autouse=True)
def seeded():
    nd.clear_session()
    nd.utils.set_random_seed(7)


def data(n=N, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, 3)).astype("float32")
    y = (x @ np.array([[1.0], [-2.0], [0.5]], "float32") + 0.3).astype("float32")
    w = rng.random(n).astype("float32")
    return x, y, w


def model_pair(metrics=("mae",), loss="mse", activation=None):
    """Two models with identical initial weights."""
    models = []
    for _ in range(2):
        nd.utils.set_random_seed(11)
        m = nd.Sequential([nd.Input((3,)), Dense(4, activation="tanh"),
                           Dense(1, activation=activation)])
        m.compile(optimizer=nd.optimizers.Adam(0.01), loss=loss, metrics=list(metrics))
        models.append(m)
    return models



def recorded_chunks(x):
    """``x`` as a dask array whose row chunks come from a loader that records each load."""
    loads = []

    def load(i):
        loads.append(i)
        return x[i * CHUNK:(i + 1) * CHUNK].copy()

    parts = [da.from_delayed(dask.delayed(load)(i), (len(x[i * CHUNK:(i + 1) * CHUNK]), 3),
                             dtype="float32") for i in range(-(-len(x) // CHUNK))]
    return da.concatenate(parts), loads


class Probe(nd.callbacks.Callback):
    def __init__(self, fn):
        super().__init__()
        self.fn, self.seen = fn, []

    def on_train_batch_begin(self, batch, logs=None):
        self.seen.append(self.fn())


@pytest.mark.parametrize("python_path", [False, True])
def test_matches_numpy_fit_without_shuffle(python_path):
    x, y, w = data()
    ref, got = model_pair()
    ref._force_python_path = got._force_python_path = python_path
    h_ref = ref.fit(x, y, sample_weight=w, batch_size=BATCH, epochs=2, shuffle=False, verbose=0)
    # y in other row chunks than x (rechunked to x's), sample_weight a NumPy array
    h_got = got.fit(da.from_array(x, chunks=(CHUNK, 2)), da.from_array(y, chunks=50),
                    sample_weight=w, batch_size=BATCH, epochs=2, shuffle=False, verbose=0)
    assert_same_fit(ref, got, h_ref, h_got)
    assert len(h_got.history["loss"]) == 2


def test_one_chunk_held_and_each_chunk_computed_once_per_epoch(monkeypatch):
    x, y, _ = data()
    xd, loads = recorded_chunks(x)
    computed = []  # per dask.compute call: its row-chunk counts and weak refs to its results
    compute = dask.compute

    def recording(*arrays, **kwargs):
        results = compute(*arrays, **kwargs)
        computed.append(([a.numblocks[0] for a in arrays], [weakref.ref(r) for r in results]))
        return results

    monkeypatch.setattr(dask, "compute", recording)
    held = lambda: sum(r() is not None for _, refs in computed for r in refs)  # noqa: E731
    probe = Probe(lambda: (held(), len(loads)))
    ref, got = model_pair(metrics=())
    h_ref = ref.fit(x, y, batch_size=BATCH, epochs=2, shuffle=False, verbose=0)
    h_got = got.fit(xd, da.from_array(y, chunks=CHUNK), batch_size=BATCH, epochs=2,
                    shuffle=False, verbose=0, callbacks=[probe])
    assert_same_fit(ref, got, h_ref, h_got)
    assert loads == [0, 1, 2, 3] * 2
    # one row chunk of x and of y per compute call
    assert [counts for counts, _ in computed] == [[1, 1]] * 8
    steps = -(-N // BATCH)
    assert len(probe.seen) == 2 * steps
    # Before each step: the x and y blocks of one chunk held (none after the last batch of
    # the epoch), and only the chunks up to the batch's last row loaded (no reading ahead).
    for step, (arrays_held, loaded) in enumerate(probe.seen):
        last_row = min((step % steps + 1) * BATCH, N) - 1
        assert arrays_held == (0 if step % steps == steps - 1 else 2)
        assert loaded == 4 * (step // steps) + last_row // CHUNK + 1
    assert held() == 0


def test_shuffle_sees_every_sample_once_per_epoch(monkeypatch):
    x, y, _ = data()
    x[:, 0] = np.arange(N)  # feature 0 names the row
    seen = []
    getitem = dask_fit.DaskArrayDataset.__getitem__

    def record(self, index):
        batch = getitem(self, index)
        seen.append(batch[0][:, 0].astype(int))
        return batch

    monkeypatch.setattr(dask_fit.DaskArrayDataset, "__getitem__", record)
    model = model_pair(metrics=())[0]
    history = model.fit(da.from_array(x, chunks=CHUNK), da.from_array(y, chunks=CHUNK),
                        batch_size=BATCH, epochs=2, shuffle=True, verbose=0)
    assert np.all(np.isfinite(history.history["loss"]))
    steps = -(-N // BATCH)
    assert len(seen) == 2 * steps and [len(b) for b in seen[:steps]] == [BATCH] * steps
    orders = [np.concatenate(seen[:steps]), np.concatenate(seen[steps:])]
    for order in orders:
        np.testing.assert_array_equal(np.sort(order), np.arange(N))
        assert not np.array_equal(order, np.arange(N))
        # two-level: the rows of each chunk come together, in a shuffled order
        chunk_of = order // CHUNK
        assert np.count_nonzero(np.diff(chunk_of)) == 3
    assert not np.array_equal(orders[0], orders[1])


def test_dask_validation_data_and_steps_per_epoch_match_numpy():
    x, y, w = data()
    vx, vy, vw = data(90, seed=1)
    ref, got = model_pair()
    h_ref = ref.fit(x, y, batch_size=BATCH, epochs=2, shuffle=False, verbose=0,
                    steps_per_epoch=4, validation_data=(vx, vy, vw),
                    validation_batch_size=16, validation_steps=3)
    xd, loads = recorded_chunks(x)
    h_got = got.fit(xd, da.from_array(y, chunks=CHUNK), batch_size=BATCH, epochs=2,
                    shuffle=False, verbose=0, steps_per_epoch=4,
                    validation_data=(da.from_array(vx, chunks=40), vy, da.from_array(vw, 30)),
                    validation_batch_size=16, validation_steps=3)
    assert_same_fit(ref, got, h_ref, h_got)
    assert "val_loss" in h_got.history and "val_mae" in h_got.history
    assert loads == [0, 1] * 2  # 4 batches of 20 rows: each epoch restarts at row 0


def test_validation_split_and_numpy_validation_data_match_numpy():
    x, y, _ = data()
    ref, got = model_pair()
    h_ref = ref.fit(x, y, batch_size=BATCH, epochs=2, shuffle=False, verbose=0,
                    validation_split=0.25)
    h_got = got.fit(da.from_array(x, chunks=CHUNK), da.from_array(y, chunks=CHUNK),
                    batch_size=BATCH, epochs=2, shuffle=False, verbose=0, validation_split=0.25)
    assert_same_fit(ref, got, h_ref, h_got)
    ref, got = model_pair()
    h_ref = ref.fit(x, y, batch_size=BATCH, epochs=1, shuffle=False, verbose=0,
                    validation_data=(x[:50], y[:50]))
    h_got = got.fit(da.from_array(x, chunks=CHUNK), y, batch_size=BATCH, epochs=1,
                    shuffle=False, verbose=0, validation_data=(x[:50], y[:50]))
    assert_same_fit(ref, got, h_ref, h_got)


def test_class_weight_matches_numpy():
    x, _, _ = data()
    labels = (x[:, 0] > 0).astype("float32")
    ref, got = model_pair(metrics=("accuracy",), loss="binary_crossentropy",
                          activation="sigmoid")
    h_ref = ref.fit(x, labels, batch_size=BATCH, shuffle=False, verbose=0,
                    class_weight={0: 1.0, 1: 3.0})
    h_got = got.fit(da.from_array(x, chunks=CHUNK), da.from_array(labels, chunks=CHUNK),
                    batch_size=BATCH, shuffle=False, verbose=0, class_weight={0: 1.0, 1: 3.0})
    assert_same_fit(ref, got, h_ref, h_got)


def test_errors():
    x, y, w = data()
    xd, yd = da.from_array(x, chunks=CHUNK), da.from_array(y, chunks=CHUNK)
    model = model_pair()[0]
    before = [v.copy() for v in model.get_weights()]
    with pytest.raises(ValueError, match="class_weight.*sample_weight"):
        model.fit(xd, yd, sample_weight=w, class_weight={0: 1.0}, verbose=0)
    with pytest.raises(ValueError, match="cardinality"):
        model.fit(xd, yd[:150], verbose=0)
    with pytest.raises(ValueError, match="unknown chunk sizes"):
        model.fit(xd[xd[:, 0] > 0], yd, verbose=0)
    with pytest.raises(ValueError, match="batch_size"):
        model.fit(xd, yd, batch_size=0, verbose=0)
    model._distribute_strategy = object()
    with pytest.raises(NotImplementedError, match="dask arrays.*distribution strategy"):
        model.fit(xd, yd, verbose=0)
    model._distribute_strategy = None
    for a, b in zip(before, model.get_weights()):
        np.testing.assert_array_equal(a, b)
