"""Inference latency and throughput of the 784-128-10 MLP."""

import numpy as np

import numdense as nd

from .common import CALLS, TIMEOUT, mlp, mnist_like


class SingleSample:
    """``model(x)``, ``predict_on_batch`` and ``predict`` on one sample, ``CALLS`` calls each."""

    timeout = TIMEOUT

    def setup(self):
        self.model = mlp(nd)
        self.x = np.random.default_rng(1).random((1, 784), dtype=np.float32)
        self.model(self.x)
        self.model.predict(self.x, verbose=0)

    def time_call(self):
        for _ in range(CALLS):
            self.model(self.x)

    def time_predict_on_batch(self):
        for _ in range(CALLS):
            self.model.predict_on_batch(self.x)

    def time_predict(self):
        for _ in range(CALLS):
            self.model.predict(self.x, verbose=0)


class PredictLarge:
    """``predict`` over 60,000 samples at the default batch size (32) and at 1024."""

    timeout = TIMEOUT
    params = [32, 1024]
    param_names = ["batch_size"]

    def setup(self, batch_size):
        self.model = mlp(nd)
        self.x, _ = mnist_like()
        self.model.predict(self.x[:2048], batch_size=batch_size, verbose=0)

    def time_predict(self, batch_size):
        self.model.predict(self.x, batch_size=batch_size, verbose=0)
