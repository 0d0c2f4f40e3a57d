"""The compiled per-epoch shuffle and the two fit paths that use it."""

import itertools

import numpy as np

import numdense as nd
from numdense.kernels.cpu.shuffle import shuffled_orders_into


def test_each_row_is_a_permutation_fixed_by_its_seed():
    orders = np.empty((3, 50), np.int64)
    shuffled_orders_into(np.array([1, 2, 1], np.int64), orders)
    for row in orders:
        np.testing.assert_array_equal(np.sort(row), np.arange(50))
    np.testing.assert_array_equal(orders[0], orders[2])
    assert (orders[0] != orders[1]).any() and (orders[0] != np.arange(50)).any()


def test_all_orders_of_four_are_about_equally_likely():
    seeds = np.random.default_rng(0).integers(0, 2**63 - 1, size=24_000, dtype=np.int64)
    orders = np.empty((len(seeds), 4), np.int64)
    shuffled_orders_into(seeds, orders)
    counts = {p: 0 for p in itertools.permutations(range(4))}
    for row in orders:
        counts[tuple(row)] += 1
    assert min(counts.values()) > 850 and max(counts.values()) < 1150  # 1000 expected each


def test_silent_and_reporting_fits_shuffle_alike():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((45, 3)).astype("float32")
    y = x.sum(axis=1, keepdims=True)
    weights, losses = [], []
    for verbose in (0, 2):  # many epochs per compiled call, and one epoch per call
        nd.utils.set_random_seed(11)
        model = nd.Sequential([nd.Input((3,)), nd.layers.Dense(2), nd.layers.Dense(1)])
        model.compile("adam", "mse")
        losses.append(model.fit(x, y, batch_size=8, epochs=5, verbose=verbose).history["loss"])
        weights.append(model.get_weights())
    assert losses[0] == losses[1]
    for a, b in zip(*weights):
        np.testing.assert_array_equal(a, b)
