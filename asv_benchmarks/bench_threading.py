"""NumPy/OpenBLAS matmul in a process where numdense's parallel (OpenMP) kernels have run.

Numba's OpenMP workers spin after a parallel region; ``numdense.kernels.cpu._threading`` shortens
that spin so OpenBLAS is not slowed. ``track_numpy_ratio_after`` should stay near 1.
"""

import time

import numpy as np

from numdense.kernels.cpu.matmul import matmul_into

from .common import TIMEOUT

N = 1024


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
        idle = []
        after = []
        for _ in range(7):
            time.sleep(0.3)
            idle.append(_median_ms(self._numpy, 1))
            self._numdense()
            after.append(_median_ms(self._numpy, 1))
        return float(np.median(after) / np.median(idle))

    track_numpy_ratio_after.unit = "ratio"
