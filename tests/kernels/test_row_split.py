"""The atomics, the depth-split product and its helper thread (kernels/cpu/row_split.py)."""

import threading
import time

import numpy as np
import pytest
from numba import njit

from numdense import row_helper
from numdense.kernels.cpu import row_split
from numdense.kernels.cpu._sync import (POSIX, compare_exchange, cpu_relax, load_acquire,
                                        sleep_microseconds, store_release, yield_cpu)
from numdense.kernels.cpu._gemm import small_nn, small_nn_depth
from numdense.kernels.cpu.row_split import small_nn_split, split_depth, worth_splitting

SHAPES = [(1, 784, 128), (1, 67, 512), (3, 130, 300), (5, 257, 129), (2, 64, 1024)]


@njit
def _atomics_roundtrip(words):
    store_release(words, 1, 41)
    seen = load_acquire(words, 1)
    swapped_wrong = compare_exchange(words, 1, 40, 7)
    after_wrong = words[1]
    swapped_right = compare_exchange(words, 1, 41, 7)
    cpu_relax()
    return seen, swapped_wrong, after_wrong, swapped_right, words[1]


def test_atomic_load_store_and_compare_exchange():
    words = np.zeros(4, dtype=np.int64)
    assert _atomics_roundtrip(words) == (41, False, 41, True, 7)
    assert words.tolist() == [0, 7, 0, 0]


@njit
def _waits(microseconds):
    yield_cpu()
    sleep_microseconds(microseconds)


@pytest.mark.skipif(not POSIX, reason="sched_yield and usleep")
def test_the_waits_yield_and_sleep():
    _waits(0)
    start = time.perf_counter()
    _waits(20000)
    assert time.perf_counter() - start >= 0.019


def _operands(m, k, n, dtype, seed=0):
    rng = np.random.default_rng(seed)
    return (rng.standard_normal((m, k)).astype(dtype), rng.standard_normal((k, n)).astype(dtype))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("m,k,n", SHAPES)
def test_depth_halves_chain_as_one_product(m, k, n, dtype):
    a, b = _operands(m, k, n, dtype)
    whole = np.empty((m, n), dtype)
    small_nn(a, b, whole, False)
    k0 = split_depth(k)
    assert k0 % 4 == 0 and 0 < k0 < k
    chained = np.full((m, n), np.nan, dtype)
    small_nn_depth(a, b, chained, 0, k0, False)
    small_nn_depth(a, b, chained, k0, k, True)
    np.testing.assert_array_equal(chained, whole)  # four depth rows a pass, in order
    np.testing.assert_allclose(whole, a.astype(np.float64) @ b.astype(np.float64),
                               rtol=1e-4 if dtype == np.float32 else 1e-12, atol=1e-4)


def _two_halves(a, b):
    k = a.shape[1]
    k0 = split_depth(k)
    first = np.empty((a.shape[0], b.shape[1]), a.dtype)
    second = np.empty_like(first)
    small_nn_depth(a, b, first, 0, k0, False)
    small_nn_depth(a, b, second, k0, k, False)
    return first + second


def _wait_for(condition, seconds=20.0, pause=0.001):
    end = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > end:
            return False
        if pause:  # time.sleep(0) is a system call: it can miss a 50 us polling window
            time.sleep(pause)
    return True


# Idle polls in a window a test can see even on a loaded machine (~6 ms instead of ~50 us).
_WATCHABLE_SPINS = 1 << 16


def _woken():
    """Wake the helper and see it poll: it polls only for a short window without jobs, so look
    without sleeping in between."""
    row_helper.wake()
    return _wait_for(row_helper.is_polling, pause=0)


@pytest.fixture
def polling_helper(monkeypatch):
    if not POSIX:
        pytest.skip("the helper runs where usleep exists")
    # A fresh helper thread that keeps polling through the test's Python between jobs: an idle
    # window of ~0.4 s instead of ~60 us.
    row_helper.set_enabled(False)
    monkeypatch.setattr(row_helper, "SPINS", 1 << 22)
    row_helper.set_enabled(True)
    assert _woken(), "the helper never started polling"
    yield
    row_helper.set_enabled(False)  # the long-polling thread ends here
    row_helper.set_enabled(True)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("m,k,n", SHAPES)
def test_split_product_alone_is_the_sum_of_two_halves(m, k, n, dtype):
    row_helper.set_enabled(False)  # no helper thread: everything on the caller
    try:
        a, b = _operands(m, k, n, dtype, seed=1)
        out = np.full((m, n), np.nan, dtype)
        small_nn_split(a, b, out)
        np.testing.assert_array_equal(out, _two_halves(a, b))
    finally:
        row_helper.set_enabled(True)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_split_product_with_the_helper_has_the_same_bits(dtype, polling_helper):
    cases = []
    for i, (m, k, n) in enumerate(SHAPES):
        a, b = _operands(m, k, n, dtype, seed=i)
        cases.append((a, b, _two_halves(a, b)))
    helped_before = int(row_split.words[row_split.HELPED])
    helped = 0
    end = time.monotonic() + 60
    # Until the helper has run 50 of the jobs (on a busy machine it may be off the core when a
    # job comes and the caller takes it): the check is then not just the caller's own path.
    while helped < 50 and time.monotonic() < end:
        for a, b, expected in cases:
            out = np.full(expected.shape, np.nan, dtype)
            small_nn_split(a, b, out)
            np.testing.assert_array_equal(out, expected)
        helped = int(row_split.words[row_split.HELPED]) - helped_before
    assert helped >= 50
    assert row_split.words[row_split.BUSY] == 0


def test_callers_on_several_threads_share_the_helper_safely(polling_helper):
    a, b = _operands(1, 784, 128, np.float32, seed=3)
    expected = _two_halves(a, b)
    failures = []

    def caller():
        out = np.empty((1, 128), np.float32)
        for _ in range(300):
            small_nn_split(a, b, out)
            if not np.array_equal(out, expected):
                failures.append(out.copy())

    threads = [threading.Thread(target=caller) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not failures
    assert row_split.words[row_split.BUSY] == 0


def _fresh_helper(monkeypatch, **settings):
    row_helper.set_enabled(False)
    for name, value in settings.items():
        monkeypatch.setattr(row_helper, name, value)
    row_helper.set_enabled(True)


posix_only = pytest.mark.skipif(not POSIX, reason="the helper runs where usleep exists")


@posix_only
def test_an_idle_helper_sleeps_and_a_caller_gets_it_polling_again(monkeypatch):
    _fresh_helper(monkeypatch, SPINS=_WATCHABLE_SPINS)
    assert _woken()
    assert _wait_for(lambda: not row_helper.is_polling(), seconds=5.0)
    assert row_split.words[row_split.SERVING] == 1  # asleep in compiled code
    row_helper.wake()  # sets WANTED
    assert row_split.words[row_split.WANTED] == 1
    assert _wait_for(row_helper.is_polling, seconds=5.0, pause=0)


@posix_only
def test_a_helper_in_its_long_sleeps_still_comes_back(monkeypatch):
    _fresh_helper(monkeypatch, SPINS=_WATCHABLE_SPINS, DOZES=0, SLEEP_US=50000)
    assert _woken()
    assert _wait_for(lambda: not row_helper.is_polling(), seconds=5.0)
    time.sleep(0.12)  # in the 50 ms sleeps now
    assert row_split.words[row_split.SERVING] == 1 and row_helper._thread.is_alive()
    assert _woken()


@posix_only
def test_disabling_ends_the_helper_thread(monkeypatch):
    _fresh_helper(monkeypatch, SPINS=_WATCHABLE_SPINS)
    assert _woken()
    thread = row_helper._thread
    row_helper.set_enabled(False)
    try:
        assert not thread.is_alive()
        assert row_helper._thread is None and not row_helper.is_polling()
        assert row_split.words[row_split.STOP] == 0  # a later helper may start
        row_helper.wake()  # refused while disabled
        assert row_helper._thread is None
    finally:
        row_helper.set_enabled(True)


def test_worth_splitting_takes_few_rows_and_a_big_kernel():
    assert worth_splitting(1, 128, 784)
    assert worth_splitting(row_split.MAX_ROWS, 128, 784)
    assert not worth_splitting(row_split.MAX_ROWS + 1, 128, 784)
    assert not worth_splitting(1, 10, 128)  # 1,280 weights: the handshakes would cost more
    assert not worth_splitting(1, 4096, 32)  # too shallow to halve
