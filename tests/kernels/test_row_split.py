"""The atomics, the depth-split product and its helper thread (kernels/cpu/row_split.py)."""

import threading
import time

import numpy as np
import pytest
from numba import njit

from numdense import row_helper
from numdense.kernels.cpu import row_split
from numdense.kernels.cpu._sync import (LINUX, PTHREAD_BYTES, POSIX, compare_exchange,
                                        cond_signal, cond_wait, cpu_relax, current_cpu,
                                        load_acquire, mutex_lock, mutex_unlock, pthread_init,
                                        set_thread_affinity, store_release, yield_cpu)
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


@njit(nogil=True)
def _wait_for_flag(words, mutex, cond):
    mutex_lock(mutex)
    while load_acquire(words, 0) == 0:
        cond_wait(cond, mutex)
    mutex_unlock(mutex)
    store_release(words, 1, 1)


@njit
def _raise_flag(words, mutex, cond):
    yield_cpu()
    mutex_lock(mutex)
    store_release(words, 0, 1)
    cond_signal(cond)
    mutex_unlock(mutex)


@njit
def _init(mutex, cond):
    pthread_init(mutex, cond)


@pytest.mark.skipif(not POSIX, reason="pthreads")
def test_a_thread_blocked_on_the_condition_wakes_when_signalled():
    memory = np.zeros(2 * PTHREAD_BYTES, np.uint8)
    mutex, cond = memory.ctypes.data, memory.ctypes.data + PTHREAD_BYTES
    _init(mutex, cond)
    words = np.zeros(2, np.int64)
    waiter = threading.Thread(target=_wait_for_flag, args=(words, mutex, cond))
    waiter.start()
    time.sleep(0.05)
    assert words[1] == 0 and waiter.is_alive()  # blocked
    _raise_flag(words, mutex, cond)
    waiter.join(timeout=10)
    assert not waiter.is_alive() and words.tolist() == [1, 1]


@njit(nogil=True)
def _pin_and_report(words):
    words[16] = set_thread_affinity(words, 0)
    for _ in range(1000):
        yield_cpu()
    words[17] = current_cpu()


@pytest.mark.skipif(not LINUX, reason="sched_getcpu and sched_setaffinity")
def test_a_thread_pins_itself_and_sees_its_cpu():
    import os

    allowed = sorted(os.sched_getaffinity(0))
    assert current_cpu_from_python() in allowed
    target = allowed[-1]
    words = np.zeros(18, np.int64)
    words[target // 64] = 1 << (target % 64)
    thread = threading.Thread(target=_pin_and_report, args=(words,))
    thread.start()
    thread.join()
    assert words[16] == 0 and words[17] == target
    assert sorted(os.sched_getaffinity(0)) == allowed  # the caller's own set is untouched


@njit
def current_cpu_from_python():
    return current_cpu()


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


# A polling window a test can see even on a loaded machine (~7 ms instead of ~0.25 ms).
_WATCHABLE_TICKS = 1 << 24


def _woken():
    """Wake the helper and see it poll: it polls only for a short window without jobs, so look
    without sleeping in between."""
    row_helper.wake()
    return _wait_for(row_helper.is_polling, pause=0)


@pytest.fixture
def polling_helper(monkeypatch):
    if not row_split.HELPER_PLATFORM:
        pytest.skip("the helper runs on x86-64 POSIX systems")
    # A fresh helper thread that keeps polling through the test's Python between jobs: an idle
    # window of ~0.4 s instead of ~0.25 ms.
    row_helper.set_enabled(False)
    monkeypatch.setattr(row_helper, "POLL_TICKS", 1 << 30)
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


posix_only = pytest.mark.skipif(not row_split.HELPER_PLATFORM,
                                reason="the helper runs on x86-64 POSIX systems")


@posix_only
def test_an_idle_helper_blocks_and_a_caller_wakes_it(monkeypatch):
    _fresh_helper(monkeypatch, POLL_TICKS=_WATCHABLE_TICKS)
    assert _woken()
    assert _wait_for(lambda: row_split.words[row_split.BLOCKED] == 1, seconds=5.0)
    time.sleep(0.05)
    assert not row_helper.is_polling() and row_helper.is_running()
    assert row_helper._thread.is_alive()
    assert _woken()  # wake_helper signals the condition
    assert row_split.words[row_split.BLOCKED] == 0


@posix_only
def test_disabling_ends_the_helper_thread(monkeypatch):
    _fresh_helper(monkeypatch, POLL_TICKS=_WATCHABLE_TICKS)
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
