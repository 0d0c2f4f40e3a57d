"""GEMM: numdense's Numba matmul (plain and transposed variants) next to NumPy/OpenBLAS."""

import time

import numpy as np

from numdense.kernels.cpu.matmul import matmul_into, matmul_nt_into, matmul_tn_into

from .common import CALLS, TIMEOUT

SIZES = [64, 256, 1024]
# Calls per timed call of the time_* benchmarks (see common.CALLS): a 64x64 product is ~15 us.
REPEATS = {64: CALLS, 256: CALLS // 10, 1024: 1}
DTYPES = ["float32", "float64"]


def _operands(n, dtype):
    rng = np.random.default_rng(0)
    a = rng.standard_normal((n, n)).astype(dtype)
    b = rng.standard_normal((n, n)).astype(dtype)
    return a, b, np.empty((n, n), dtype)


def _gflops(fn, n, seconds=0.3):
    """Median GFLOP/s over repeated calls (2*n^3 flops each) for about ``seconds``."""
    fn()
    times = []
    t_end = time.perf_counter() + seconds
    while time.perf_counter() < t_end or len(times) < 5:
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return 2.0 * n**3 / np.median(times) / 1e9


class Matmul:
    """Square matmul, C-contiguous; compile happens in setup."""

    timeout = TIMEOUT
    params = [SIZES, DTYPES]
    param_names = ["n", "dtype"]

    def setup(self, n, dtype):
        self.a, self.b, self.out = _operands(n, dtype)
        for core in (matmul_into, matmul_tn_into, matmul_nt_into):
            core(self.a, self.b, self.out, False)

    def time_numdense(self, n, dtype):
        for _ in range(REPEATS[n]):
            matmul_into(self.a, self.b, self.out, False)

    def time_numdense_tn(self, n, dtype):
        for _ in range(REPEATS[n]):
            matmul_tn_into(self.a, self.b, self.out, False)

    def time_numdense_nt(self, n, dtype):
        for _ in range(REPEATS[n]):
            matmul_nt_into(self.a, self.b, self.out, False)

    def time_numpy(self, n, dtype):
        for _ in range(REPEATS[n]):
            np.matmul(self.a, self.b, out=self.out)

    def track_gflops_numdense(self, n, dtype):
        return _gflops(lambda: matmul_into(self.a, self.b, self.out, False), n)

    def track_gflops_numdense_tn(self, n, dtype):
        return _gflops(lambda: matmul_tn_into(self.a, self.b, self.out, False), n)

    def track_gflops_numdense_nt(self, n, dtype):
        return _gflops(lambda: matmul_nt_into(self.a, self.b, self.out, False), n)

    def track_gflops_numpy(self, n, dtype):
        time.sleep(0.2)  # let numba's OpenMP workers go idle first (see bench_threading.py)
        return _gflops(lambda: np.matmul(self.a, self.b, out=self.out), n)

    for _name in ("numdense", "numdense_tn", "numdense_nt", "numpy"):
        locals()[f"track_gflops_{_name}"].unit = "GFLOP/s"
    del _name
