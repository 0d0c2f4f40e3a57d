"""``predict`` / ``evaluate`` of the 784-128-10 MLP over a chunked dask array (threaded
scheduler; numdense's kernels release the GIL). Skipped when dask is not installed."""

import numdense as nd

from .common import TIMEOUT, mlp, mnist_like


def _dask():
    try:
        import dask
        import dask.array as da
    except ImportError:
        raise NotImplementedError("dask is not installed") from None
    return dask, da


class DaskPredict:
    """``predict(x).compute()`` on 60,000 samples in chunks of 10,000 rows, 1 or 2 threads."""

    timeout = TIMEOUT
    params = [1, 2]
    param_names = ["num_workers"]

    def setup(self, num_workers):
        self.dask, da = _dask()
        self.model = mlp(nd)
        x, self.y = mnist_like()
        self.x = da.from_array(x, chunks=(10000, 784))
        self.y = da.from_array(self.y, chunks=10000)
        self.model.predict(x[:2048], batch_size=1024, verbose=0)

    def time_predict(self, num_workers):
        with self.dask.config.set(scheduler="threads", num_workers=num_workers):
            self.model.predict(self.x, batch_size=1024).compute()

    def time_evaluate(self, num_workers):
        with self.dask.config.set(scheduler="threads", num_workers=num_workers):
            self.model.evaluate(self.x, self.y, batch_size=1024, verbose=0)
