"""NumPy/OpenBLAS matmul in a process where numdense's parallel (OpenMP) kernels have run, or
where a burst of ``model(x)`` calls has woken the row helper thread.

Numba's OpenMP workers spin after a parallel region; ``numdense.kernels.cpu._threading`` shortens
that spin so OpenBLAS is not slowed. The row helper (``numdense.row_helper``) polls for ~0.2 ms
after the last one-sample call. Both ``track_*_ratio_*`` benchmarks should stay near 1.
"""

import time

import numpy as np

import numdense as nd
from numdense.kernels.cpu.matmul import matmul_into

from .common import TIMEOUT, mlp

N = 1024


def _ratio_after(work, numpy_call, rounds, pause):
    """Median NumPy time right after ``work`` / median NumPy time after ``pause`` s of idling."""
    idle = []
    after = []
    for _ in range(rounds):
        time.sleep(pause)
        idle.append(_median_ms(numpy_call, 1))
        work()
        after.append(_median_ms(numpy_call, 1))
    return float(np.median(after) / np.median(idle))


def _median_ms(fn, reps=7):
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return 1e3 * float(np.median(times))


class NumpyAfterNumdense:
    timeout = TIMEOUT
    def setup(self):
        rng = np.random.default_rng(0)
        self.a = rng.standard_normal((N, N)).astype(np.float32)
        self.b = rng.standard_normal((N, N)).astype(np.float32)
        self.out = np.empty((N, N), np.float32)
        matmul_into(self.a, self.b, self.out, False)

    def _numpy(self):
        np.matmul(self.a, self.b, out=self.out)

    def _numdense(self):
        matmul_into(self.a, self.b, self.out, False)

    def time_numpy_right_after_numdense(self):
        self._numdense()
        self._numpy()

    def track_numpy_ratio_after(self):
        """numpy time right after a numdense call / numpy time after idling (1.0 = no slowdown)."""
        return _ratio_after(self._numdense, self._numpy, rounds=7, pause=0.3)

    track_numpy_ratio_after.unit = "ratio"


class NumpyAfterModelCalls:
    """A 512^3 float32 NumPy matmul (~1.5 ms on 2 cores) right after 200 ``model(x)`` calls, whose
    row helper is still polling, against the same matmul after idling."""

    timeout = TIMEOUT

    def setup(self):
        rng = np.random.default_rng(0)
        self.a = rng.standard_normal((512, 512)).astype(np.float32)
        self.b = rng.standard_normal((512, 512)).astype(np.float32)
        self.out = np.empty((512, 512), np.float32)
        self.model = mlp(nd)
        self.x = rng.random((1, 784), dtype=np.float32)
        self._calls()
        self._numpy()

    def _numpy(self):
        np.matmul(self.a, self.b, out=self.out)

    def _calls(self):
        for _ in range(200):
            self.model(self.x)

    def track_numpy_ratio_after_calls(self):
        """numpy time right after the calls / numpy time after idling (1.0 = no slowdown)."""
        return _ratio_after(self._calls, self._numpy, rounds=15, pause=0.05)

    track_numpy_ratio_after_calls.unit = "ratio"
