"""CUDA kernels on a real NVIDIA GPU: GEMM GFLOP/s against cuBLAS (via CuPy or PyTorch when
importable), the fused Dense forward and one Adam step. Every benchmark is skipped (setup
raises NotImplementedError) without a usable GPU or under the CUDA simulator. Timed methods
synchronize, so they measure kernel time, not queueing."""

import time

import numpy as np


def _cuda():
    try:
        from numba import config, cuda
    except ImportError as exc:  # pragma: no cover
        raise NotImplementedError(f"numba.cuda unavailable: {exc}")
    if config.ENABLE_CUDASIM or not cuda.is_available():
        raise NotImplementedError("needs a real NVIDIA GPU")
    return cuda


def _best_seconds(fn, repeat=5):
    fn()
    best = np.inf
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def _cublas(a, b):
    """A synchronized cuBLAS matmul over the same device buffers, or None if neither CuPy nor
    PyTorch can be imported."""
    try:
        import cupy

        ca, cb = cupy.asarray(a), cupy.asarray(b)

        def run():
            ca @ cb
            cupy.cuda.runtime.deviceSynchronize()

        return run
    except ImportError:
        pass
    try:
        import torch

        ta, tb = torch.as_tensor(a, device="cuda"), torch.as_tensor(b, device="cuda")
        torch.backends.cuda.matmul.allow_tf32 = False  # compare like with like: true FP32

        def run():
            ta @ tb
            torch.cuda.synchronize()

        return run
    except ImportError:
        return None


class Matmul:
    """``matmul_into`` on n x n matrices with the default tiles (64 x 64, 4 x 4 per thread)."""

    params = [["float32", "float64"], [1024, 4096]]
    param_names = ["dtype", "n"]
    timeout = 300

    def setup(self, dtype, n):
        cuda = _cuda()
        from numdense.kernels.cuda.matmul import matmul_into

        rng = np.random.default_rng(0)
        self.a = cuda.to_device(rng.standard_normal((n, n)).astype(dtype))
        self.b = cuda.to_device(rng.standard_normal((n, n)).astype(dtype))
        self.out = cuda.device_array((n, n), dtype=dtype)
        self.flop = 2.0 * n**3

        def run():
            matmul_into(self.a, self.b, self.out, False)
            cuda.synchronize()

        self.run = run
        self.ref = _cublas(self.a, self.b)
        run()  # compile outside the timings

    def time_matmul(self, dtype, n):
        self.run()

    def track_gflops(self, dtype, n):
        return self.flop / _best_seconds(self.run) / 1e9

    track_gflops.unit = "GFLOP/s"

    def track_gflops_cublas(self, dtype, n):
        if self.ref is None:
            raise NotImplementedError("neither CuPy nor PyTorch is importable")
        return self.flop / _best_seconds(self.ref) / 1e9

    track_gflops_cublas.unit = "GFLOP/s"

    def track_percent_of_cublas(self, dtype, n):
        if self.ref is None:
            raise NotImplementedError("neither CuPy nor PyTorch is importable")
        return 100.0 * _best_seconds(self.ref) / _best_seconds(self.run)

    track_percent_of_cublas.unit = "%"


class DenseForward:
    """Fused ``relu(x @ w + b)`` for a 4096 x 784 batch into 128 units, and softmax into 10."""

    params = [[128, 10]]
    param_names = ["units"]

    def setup(self, units):
        cuda = _cuda()
        from numdense.kernels import activation_kinds as A
        from numdense.kernels.cuda.dense import dense_forward_into

        rng = np.random.default_rng(0)
        self.cuda = cuda
        self.args = (
            cuda.to_device(rng.random((4096, 784), dtype=np.float32)),
            cuda.to_device(rng.standard_normal((784, units)).astype(np.float32)),
            cuda.to_device(np.zeros(units, np.float32)),
            cuda.device_array((4096, units), np.float32),
            cuda.device_array((0, 0), np.float32),
            A.RELU if units == 128 else A.SOFTMAX, 0.0, np.inf, 0.0,
        )
        self.fn = dense_forward_into
        self.time_forward(units)

    def time_forward(self, units):
        self.fn(*self.args)
        self.cuda.synchronize()


class AdamStep:
    """One fused Adam update of a 1,000,000-parameter vector (with clipnorm: one reduction more)."""

    params = [[0.0, 1.0]]
    param_names = ["clipnorm"]

    def setup(self, clipnorm):
        cuda = _cuda()
        from numdense.kernels import optimizer_kinds as K
        from numdense.kernels.cuda.optimizers import optimizer_update_into

        n = 1_000_000
        rng = np.random.default_rng(0)
        self.cuda = cuda
        self.w = cuda.to_device(rng.standard_normal(n).astype(np.float32))
        self.g = cuda.to_device(rng.standard_normal(n).astype(np.float32))
        self.slots = [cuda.to_device(np.zeros(n, np.float32)) for _ in range(2)] + [cuda.device_array(0, np.float32)]
        self.hp = K.pack_hp(0.9, 0.999, 1e-7, 0.0)
        self.state = K.initial_state(K.ADAM)
        self.fn = optimizer_update_into
        self.kind = K.ADAM
        self.time_step(clipnorm)

    def time_step(self, clipnorm):
        self.fn(self.kind, self.w, self.g, *self.slots, self.hp, self.state, 1e-3, 1,
                0.0, 0.0, 0.0, clipnorm, 1.0, 0.0, 0, 0.0, 0.0, 0.0, 0, 1, self.w.shape[0])
        self.cuda.synchronize()
