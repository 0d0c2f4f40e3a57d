"""Concurrency (shared models used from 8 threads) and long runs (memory, speed, determinism).

The full-size long runs (10,000 steps, cross-process at full size) are marked ``slow``: run them
with ``pytest tests/reliability --runslow``.
"""

import os
import resource
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

import numdense as nd
from numdense.layers import Dense, Dropout

THREADS = 8


def mlp(seed=0, dropout=False):
    nd.utils.set_random_seed(seed)
    layers = [nd.Input((20,)), Dense(64, activation="relu")]
    if dropout:
        layers.append(Dropout(0.2))
    layers += [Dense(32, activation="tanh"), Dense(5, activation="softmax")]
    model = nd.Sequential(layers)
    model.compile(optimizer=nd.optimizers.Adam(1e-3, clipnorm=1.0),
                  loss="sparse_categorical_crossentropy")
    return model


def data(n=512, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 20)).astype(np.float32)
    return x, (x[:, :5].argmax(axis=1)).astype(np.int64)


def run_threads(target, count=THREADS):
    errors, barrier = [], threading.Barrier(count)

    def wrapped(i):
        try:
            barrier.wait()
            target(i)
        except BaseException as e:  # reported by the main thread
            errors.append(e)

    threads = [threading.Thread(target=wrapped, args=(i,)) for i in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not any(t.is_alive() for t in threads), "a thread hung"
    assert not errors, errors


def test_shared_model_predict_and_call_from_8_threads():
    model = mlp()
    x, _ = data(1000)
    batches = [x[i * 125:(i + 1) * 125] for i in range(THREADS)]
    serial_predict = [model.predict(b, verbose=0, batch_size=32) for b in batches]
    serial_call = [model(b) for b in batches]
    results = {}

    def work(i):
        for repeat in range(20):
            results[i, repeat] = (model.predict(batches[i], verbose=0, batch_size=32),
                                  model(batches[i]), model(batches[i][:1]))

    run_threads(work)
    for (i, _), (pred, call, one) in results.items():
        np.testing.assert_array_equal(pred, serial_predict[i])
        np.testing.assert_array_equal(call, serial_call[i])
        np.testing.assert_array_equal(one, serial_call[i][:1])


def test_every_cpu_kernel_releases_the_gil():
    """Threads can run kernels in parallel: every compiled CPU kernel is built with nogil (a
    structural check; how fast two threads go is a benchmark's business, not a test's)."""
    import importlib
    import pkgutil

    from numba.core.registry import CPUDispatcher

    import numdense.kernels.cpu as cpu_kernels

    checked = []
    for info in pkgutil.iter_modules(cpu_kernels.__path__):
        module = importlib.import_module(f"numdense.kernels.cpu.{info.name}")
        for name, obj in vars(module).items():
            if isinstance(obj, CPUDispatcher) and obj.py_func.__module__ == module.__name__:
                checked.append(name)
                assert obj.targetoptions.get("nogil"), f"{info.name}.{name} holds the GIL"
    assert len(checked) > 50, checked


def test_fit_on_one_model_while_another_thread_predicts():
    trained, reference = mlp(1), mlp(1)
    other = mlp(2)
    x, y = data()
    expected = other.predict(x, verbose=0)
    stop, seen = threading.Event(), []

    def predict_loop():
        while not stop.is_set():
            seen.append(other.predict(x, verbose=0))

    thread = threading.Thread(target=predict_loop)
    thread.start()
    try:
        nd.utils.set_random_seed(5)
        trained.fit(x, y, epochs=1, batch_size=32, verbose=0)
    finally:
        stop.set()
        thread.join(timeout=60)
    assert seen and not thread.is_alive()
    for out in seen:
        np.testing.assert_array_equal(out, expected)
    nd.utils.set_random_seed(5)
    reference.fit(x, y, epochs=1, batch_size=32, verbose=0)
    for a, b in zip(trained.get_weights(), reference.get_weights()):
        np.testing.assert_array_equal(a, b)


def rss_mib():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize() / 2**20


def train_steps(steps, python_path=False):
    """Runs ``steps`` train_on_batch calls; returns (RSS growth after warm-up in MiB, time of
    the first and the last tenth of the steps)."""
    model = mlp(3, dropout=True)
    model._force_python_path = python_path
    x, y = data(64)
    warm = max(steps // 10, 50)
    for _ in range(warm):
        model.train_on_batch(x, y)
    base = rss_mib()
    times = []
    for _ in range(steps):
        t0 = time.perf_counter()
        model.train_on_batch(x, y)
        times.append(time.perf_counter() - t0)
    tenth = max(steps // 10, 1)
    return rss_mib() - base, float(np.median(times[:tenth])), float(np.median(times[-tenth:]))


@pytest.mark.skipif(not os.path.exists("/proc/self/statm"), reason="needs /proc")
@pytest.mark.parametrize("python_path", [False, True], ids=["compiled", "python"])
def test_1000_steps_no_memory_growth_or_slowdown(python_path):
    growth, first, last = train_steps(1000, python_path)
    print(f"\n1000 steps: RSS +{growth:.2f} MiB, median step {first * 1e6:.0f} -> "
          f"{last * 1e6:.0f} us")
    assert growth < 4.0
    assert last < 2.0 * first + 50e-6  # a shared CI machine: only a real slowdown fails


@pytest.mark.slow
@pytest.mark.skipif(not os.path.exists("/proc/self/statm"), reason="needs /proc")
@pytest.mark.parametrize("python_path", [False, True], ids=["compiled", "python"])
def test_10000_steps_no_memory_growth_or_slowdown(python_path):
    growth, first, last = train_steps(10_000, python_path)
    print(f"\n10000 steps: RSS +{growth:.2f} MiB, median step {first * 1e6:.0f} -> "
          f"{last * 1e6:.0f} us")
    assert growth < 4.0
    assert last < 2.0 * first + 50e-6  # a shared CI machine: only a real slowdown fails


def seeded_fit(seed, n, epochs):
    """Weights after a seeded fit (dropout and shuffling draw from the seed)."""
    nd.utils.set_random_seed(seed)
    model = nd.Sequential([nd.Input((20,)), Dense(64, activation="relu"), Dropout(0.2),
                           Dense(5, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    x, y = data(n)
    model.fit(x, y, epochs=epochs, batch_size=32, verbose=0)
    return model.get_weights()


ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CHILD = """
import sys, numpy as np
sys.path.insert(0, sys.argv[1])
from tests.reliability.test_threads_and_long_runs import seeded_fit
np.savez(sys.argv[5], *seeded_fit(int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])))
"""


def child_weights(tmp_path, name, n, epochs, seed=11):
    out = tmp_path / f"{name}.npz"
    subprocess.run([sys.executable, "-c", CHILD, ROOT, str(seed), str(n), str(epochs), str(out)],
                   check=True, timeout=600)
    with np.load(out) as z:
        return [z[f"arr_{i}"] for i in range(len(z.files))]


def test_same_seed_bit_identical_in_process():
    a, b = seeded_fit(11, 256, 2), seeded_fit(11, 256, 2)
    for u, v in zip(a, b):
        np.testing.assert_array_equal(u, v)
    c = seeded_fit(12, 256, 2)
    assert any(not np.array_equal(u, w) for u, w in zip(a, c))


def test_same_seed_bit_identical_in_another_process(tmp_path):
    for u, v in zip(child_weights(tmp_path, "a", 256, 2), seeded_fit(11, 256, 2)):
        np.testing.assert_array_equal(u, v)


@pytest.mark.slow
def test_same_seed_bit_identical_across_processes_full_size(tmp_path):
    a = child_weights(tmp_path, "a", 4096, 80)  # 10,240 steps each
    b = child_weights(tmp_path, "b", 4096, 80)
    here = seeded_fit(11, 4096, 80)
    for u, v, w in zip(a, b, here):
        np.testing.assert_array_equal(u, v)
        np.testing.assert_array_equal(u, w)
