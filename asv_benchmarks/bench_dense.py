"""Fused Dense (784 -> 128, relu, float32): numdense kernels next to the same math in NumPy."""

import numpy as np

from numdense.kernels.activation_kinds import RELU
from numdense.kernels.cpu.dense import dense_backward_into, dense_forward_into

from .common import CALLS, TIMEOUT

INF = np.inf


class DenseRelu:
    timeout = TIMEOUT
    params = [[1, 32, 256]]
    param_names = ["batch"]

    def setup(self, batch):
        rng = np.random.default_rng(0)
        self.x = rng.random((batch, 784), dtype=np.float32)
        self.w = (rng.standard_normal((784, 128)) * 0.05).astype(np.float32)
        self.b = (rng.standard_normal(128) * 0.1).astype(np.float32)
        self.dy = rng.standard_normal((batch, 128)).astype(np.float32)
        self.out = np.empty((batch, 128), np.float32)
        self.pre = np.empty((batch, 128), np.float32)
        self.nopre = np.empty((0, 0), np.float32)
        self.dz = np.empty_like(self.out)
        self.dx = np.empty_like(self.x)
        self.dw = np.empty_like(self.w)
        self.db = np.empty_like(self.b)
        self.time_numdense_forward(batch)
        self.time_numdense_forward_backward(batch)

    def time_numdense_forward(self, batch):
        for _ in range(CALLS):
            dense_forward_into(self.x, self.w, self.b, self.out, self.nopre, RELU, 0.0, INF, 0.0)

    def time_numpy_forward(self, batch):
        for _ in range(CALLS):
            np.maximum(self.x @ self.w + self.b, 0)

    def time_numdense_forward_backward(self, batch):
        for _ in range(CALLS):
            self._numdense_forward_backward()

    def time_numpy_forward_backward(self, batch):
        for _ in range(CALLS):
            self._numpy_forward_backward()

    def _numdense_forward_backward(self):
        dense_forward_into(self.x, self.w, self.b, self.out, self.pre, RELU, 0.0, INF, 0.0)
        dense_backward_into(
            self.x, self.w, self.pre, self.out, self.dy, self.dz, self.dx, self.dw, self.db, RELU, 0.0, INF, 0.0, True
        )

    def _numpy_forward_backward(self):
        z = self.x @ self.w + self.b
        np.maximum(z, 0)
        dz = self.dy * (z > 0)
        self.x.T @ dz
        dz.sum(axis=0)
        dz @ self.w.T
