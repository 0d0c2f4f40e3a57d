"""Training speed: single steps, a full MLP epoch, the tutorial regression, peak memory."""

import numpy as np

import numdense as nd

from .common import CALLS, TIMEOUT, mlp, mnist_like, regression


class TrainStep:
    """``CALLS`` x ``train_on_batch`` of the 784-128-10 MLP (Adam) at batch 1, 32 and 256."""

    timeout = TIMEOUT
    params = [1, 32, 256]
    param_names = ["batch_size"]

    def setup(self, batch_size):
        self.model = mlp(nd)
        x, y = mnist_like(n=batch_size)
        self.x, self.y = x, y
        self.model.train_on_batch(x, y)

    def time_train_on_batch(self, batch_size):
        for _ in range(CALLS):
            self.model.train_on_batch(self.x, self.y)


class Epoch:
    """One epoch of the MLP over 60,000 samples (Adam), at batch 1 (2,000 samples), 32 and 256
    and the issue's reference batch 128."""

    timeout = TIMEOUT
    params = [1, 32, 128, 256]
    param_names = ["batch_size"]
    number = 1
    repeat = (4, 6, 120.0)  # enough samples for asv continuous to call a change significant

    def setup(self, batch_size):
        self.model = mlp(nd)
        n = 2000 if batch_size == 1 else 60000
        self.x, self.y = mnist_like(n=n)
        self.model.fit(self.x[:256], self.y[:256], batch_size=batch_size, epochs=1, verbose=0)

    def time_epoch(self, batch_size):
        self.model.fit(self.x, self.y, batch_size=batch_size, epochs=1, verbose=0)


class Regression:
    """The tutorial regression: 1000 x 2, Dense(1), Adam, batch 32, 400 epochs."""

    timeout = TIMEOUT
    number = 1
    repeat = (4, 6, 60.0)

    def setup(self):
        self.x, self.y = regression()
        model = nd.Sequential([nd.layers.Dense(1, input_shape=(2,))])
        model.compile(optimizer="adam", loss="mean_squared_error")
        model.fit(self.x, self.y, epochs=2, verbose=0)

    def time_fit_400_epochs(self):
        model = nd.Sequential([nd.layers.Dense(1, input_shape=(2,))])
        model.compile(optimizer="adam", loss="mean_squared_error")
        model.fit(self.x, self.y, epochs=400, verbose=0)


class Memory:
    """Peak RSS of fitting the MLP for one epoch on 60,000 samples."""

    timeout = TIMEOUT
    def setup(self):
        self.x, self.y = mnist_like()

    def peakmem_fit_mlp_epoch(self):
        model = mlp(nd)
        model.fit(self.x, self.y, batch_size=128, epochs=1, verbose=0)
