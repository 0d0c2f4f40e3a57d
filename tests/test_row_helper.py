"""model(x) and the row helper thread (numdense/row_helper.py): when it wakes, what it computes,
and processes that fork or forbid it."""

import os
import subprocess
import sys
import textwrap
import time

import numba
import numpy as np
import pytest

import numdense as nd
from numdense import row_helper
from numdense.kernels.cpu import row_split

posix_only = pytest.mark.skipif(not row_split.HELPER_PLATFORM,
                                reason="the helper runs on x86-64 POSIX systems")


def _mlp(seed=0):
    nd.utils.set_random_seed(seed)
    return nd.Sequential([nd.Input((784,)), nd.layers.Dense(128, activation="relu"),
                          nd.layers.Dense(10)])


@pytest.fixture
def fresh_helper():
    """No helper thread, and no model has asked for one; the helper allowed."""
    row_helper.set_enabled(False)
    row_helper._requested = False
    row_helper.set_enabled(True)
    yield
    row_helper.set_enabled(True)


def _burst(model, x, calls=2000):
    return [model(x) for _ in range(calls)]


def _helped():
    return int(row_split.words[row_split.HELPED])


@posix_only
def test_a_burst_of_calls_wakes_the_helper_and_keeps_the_bits(fresh_helper):
    model = _mlp()
    x = np.random.default_rng(0).random((1, 784), dtype=np.float32)
    alone = model(x)
    assert row_helper._thread is not None  # started when the model planned its forward
    helped_before = _helped()
    helped = 0
    end = time.monotonic() + 60
    while helped < 100 and time.monotonic() < end:  # a busy machine may keep the helper off
        for out in _burst(model, x, 500):
            np.testing.assert_array_equal(out, alone)
        helped = _helped() - helped_before
    assert helped >= 100


@posix_only
def test_isolated_calls_leave_the_helper_asleep(fresh_helper):
    model = _mlp()
    x = np.random.default_rng(1).random((1, 784), dtype=np.float32)
    model(x)  # plans, starts the helper (which polls a moment, then sleeps)
    assert row_helper._thread is not None
    time.sleep(0.05)
    helped_before = _helped()
    for _ in range(5):
        time.sleep(0.002)
        model(x)
    assert _helped() == helped_before
    assert row_split.words[row_split.WANTED] == 0 and not row_helper.is_polling()


def test_small_models_never_start_it(fresh_helper):
    nd.utils.set_random_seed(0)
    model = nd.Sequential([nd.Input((2,)), nd.layers.Dense(16), nd.layers.Dense(1)])
    x = np.ones((1, 2), np.float32)
    _burst(model, x, 200)
    assert row_helper._thread is None


def test_rows_of_a_few_row_batch_match_single_calls(fresh_helper):
    model = _mlp(3)
    x = np.random.default_rng(2).random((5, 784), dtype=np.float32)
    batch = model(x)
    for i in range(5):
        for _ in range(3):  # alone and (after the first calls of the burst) with the helper
            np.testing.assert_array_equal(model(x[i:i + 1]), batch[i:i + 1])
    np.testing.assert_allclose(batch, model.predict(x, verbose=0), rtol=1e-5, atol=1e-6)


def test_one_numba_thread_means_no_helper(fresh_helper):
    threads = numba.get_num_threads()
    numba.set_num_threads(1)
    try:
        model = _mlp()
        x = np.ones((1, 784), np.float32)
        _burst(model, x, 200)
        assert row_helper._thread is None and not row_helper.is_running()
    finally:
        numba.set_num_threads(threads)


def _run(script, **env):
    return subprocess.run([sys.executable, "-c", textwrap.dedent(script)], capture_output=True,
                          text=True, timeout=600, env={**os.environ, **env})


def test_the_environment_variable_forbids_it():
    result = _run("""
        import numpy as np, numdense as nd
        from numdense import row_helper
        m = nd.Sequential([nd.Input((784,)), nd.layers.Dense(128), nd.layers.Dense(10)])
        x = np.ones((1, 784), np.float32)
        for _ in range(500):
            m(x)
        print("enabled", row_helper.enabled(), "thread", row_helper._thread)
    """, NUMDENSE_ROW_HELPER="0")
    assert result.returncode == 0, result.stderr
    assert "enabled False thread None" in result.stdout


@posix_only
@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_forked_child_computes_without_its_parents_helper():
    result = _run("""
        import os, numpy as np, numdense as nd
        from numdense import row_helper
        nd.utils.set_random_seed(0)
        m = nd.Sequential([nd.Input((784,)), nd.layers.Dense(128), nd.layers.Dense(10)])
        x = np.random.default_rng(0).random((1, 784), dtype=np.float32)
        ref = m(x)
        for _ in range(2000):
            m(x)                                  # the parent's helper is running now
        assert row_helper._thread is not None
        pid = os.fork()
        if pid == 0:
            ok = row_helper._thread is None and not row_helper.is_polling()
            ok = ok and all(np.array_equal(m(x), ref) for _ in range(2000))
            row_helper.set_enabled(True)  # the child's own helper
            ok = ok and row_helper._thread is not None
            ok = ok and all(np.array_equal(m(x), ref) for _ in range(2000))
            os._exit(0 if ok else 3)
        _, status = os.waitpid(pid, 0)
        print("child", os.waitstatus_to_exitcode(status), "parent", np.array_equal(m(x), ref))
    """)
    assert result.returncode == 0, result.stderr
    assert "child 0 parent True" in result.stdout
