"""``PyDataset``: a dataset of batches produced by Python code, indexable by batch (Keras 3)."""

import itertools
import warnings


class PyDataset:
    """Base class for datasets that produce batches on demand, e.g. read from disk chunk by chunk.

    A subclass implements ``__len__`` (the number of batches) and ``__getitem__(index)``, which
    returns one complete batch: ``(x, y)``, ``(x, y, sample_weight)`` or ``(x,)`` (for
    ``predict``). ``fit`` reads batches ``0 .. len - 1`` every epoch (in a shuffled order when
    ``fit(shuffle=True)``) and calls ``on_epoch_begin()`` / ``on_epoch_end()`` around each epoch,
    so only the batches in flight are held in memory.

    Args:
        workers: number of threads reading batches ahead (1: read in the training thread).
        use_multiprocessing: accepted for Keras compatibility; numdense reads with threads,
            which suits I/O-bound loading (files, zarr, Dask chunks).
        max_queue_size: how many batches the workers may read ahead.

    Example:

    ```python
    class Chunks(numdense.utils.PyDataset):
        def __init__(self, x, y, batch_size, **kwargs):
            super().__init__(**kwargs)
            self.x, self.y, self.batch_size = x, y, batch_size   # e.g. np.memmap arrays

        def __len__(self):
            return -(-len(self.x) // self.batch_size)

        def __getitem__(self, index):
            s = slice(index * self.batch_size, (index + 1) * self.batch_size)
            return np.asarray(self.x[s]), np.asarray(self.y[s])
    ```
    """

    def __init__(self, workers=1, use_multiprocessing=False, max_queue_size=10):
        self._workers = workers
        self._use_multiprocessing = use_multiprocessing
        self._max_queue_size = max_queue_size

    def _warn_if_super_not_called(self):
        missing = [name for name in ("_workers", "_use_multiprocessing", "_max_queue_size")
                   if not hasattr(self, name)]
        if missing:
            self._workers = getattr(self, "_workers", 1)
            self._use_multiprocessing = getattr(self, "_use_multiprocessing", False)
            self._max_queue_size = getattr(self, "_max_queue_size", 10)
            warnings.warn(
                "Your `PyDataset` class should call `super().__init__(**kwargs)` in its "
                "constructor. `**kwargs` can include `workers`, `use_multiprocessing`, "
                "`max_queue_size`.",
                stacklevel=3,
            )

    @property
    def workers(self):
        self._warn_if_super_not_called()
        return self._workers

    @workers.setter
    def workers(self, value):
        self._workers = value

    @property
    def use_multiprocessing(self):
        self._warn_if_super_not_called()
        return self._use_multiprocessing

    @use_multiprocessing.setter
    def use_multiprocessing(self, value):
        self._use_multiprocessing = value

    @property
    def max_queue_size(self):
        self._warn_if_super_not_called()
        return self._max_queue_size

    @max_queue_size.setter
    def max_queue_size(self, value):
        self._max_queue_size = value

    def __getitem__(self, index):
        """Returns batch number ``index``.

        Args:
            index: position of the batch, ``0 <= index < len(self)``.
        """
        raise NotImplementedError(f"{type(self).__name__} must implement `__getitem__`.")

    def __len__(self):
        raise NotImplementedError(f"{type(self).__name__} must implement `__len__`.")

    @property
    def num_batches(self):
        """Number of batches: ``len(self)``. A subclass may return None for an infinite
        dataset, which ``fit`` then reads with ``steps_per_epoch``."""
        return len(self)

    def __iter__(self):
        n = self.num_batches
        for index in itertools.count() if n is None else range(n):
            yield self[index]

    def on_epoch_begin(self):
        """Called at the beginning of every epoch."""

    def on_epoch_end(self):
        """Called at the end of every epoch."""


Sequence = PyDataset  # the legacy Keras name, kept as an alias by Keras 3
