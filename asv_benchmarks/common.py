"""Shared, seeded fixtures for the benchmark suites (append only: changing them breaks history)."""

import numpy as np

# The first benchmark run in a fresh asv environment compiles numdense's kernels cold (minutes on
# 2 cores); under asv's default 60 s limit `asv continuous` reported such a benchmark as failed
# instead of comparing it.
TIMEOUT = 900

# asv_runner times each call of a benchmark that has a setup() method on its own, and re-runs
# setup between the calls (asv#966). A microsecond benchmark timed that way measures one call on
# cold caches plus the timer: `model(x)` read 19-22 us under asv against 8-11 us in a loop, and
# a 30 % speed-up of it went unnoticed by `asv continuous`. Latency benchmarks therefore make
# CALLS calls per timed call; their times are per CALLS calls.
CALLS = 100


def mlp(nd, inputs=784, hidden=128, outputs=10, optimizer="adam"):
    """The 784-128-10 MLP of the benchmarks, compiled with sparse crossentropy."""
    from numdense.layers import Dense

    nd.utils.set_random_seed(0)
    model = nd.Sequential([nd.Input((inputs,)), Dense(hidden, activation="relu"),
                           Dense(outputs, activation="softmax")])
    model.compile(optimizer=optimizer, loss="sparse_categorical_crossentropy")
    return model


def mnist_like(n=60000, inputs=784, classes=10, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.random((n, inputs), dtype=np.float32)
    y = rng.integers(0, classes, n).astype(np.int64)
    return x, y


def regression(n=1000, seed=42):
    np.random.seed(seed)
    x = np.random.rand(n, 2)
    y = 2 * x[:, 0] + 3 * x[:, 1] + 4 + np.random.randn(n) * 0.1
    return x, y
