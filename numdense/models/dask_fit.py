"""``fit`` on ``dask.array`` inputs: the data streams from its source one row chunk at a time.

``DaskArrayDataset`` is a ``PyDataset`` over dask arrays ``x``, ``y`` (and ``sample_weight``)
that computes one row chunk of all of them together (``dask.compute``, so shared graph parts
run once), cuts it into batches of ``batch_size`` rows and drops it before computing the next:
at most one row chunk plus one batch is held. Batch boundaries follow the global row index (a
batch may take the end of one chunk and the start of the next), so without shuffling the
batches, and hence the trained weights and History, are those of ``fit`` on the same data as
NumPy arrays with ``shuffle=False``.

Shuffling is two-level, not a global permutation: each epoch visits the chunks in a random
order and the rows of each chunk in a random order (reading whole chunks is what keeps disk
reads sequential and memory bounded). Batches can still span two consecutive chunks of that
order.
"""

import numpy as np

from numdense.models import batch_stream, dask_support
from numdense.models.trainer import validation_tuple
from numdense.utils.py_dataset import PyDataset


class DaskArrayDataset(PyDataset):
    """Batches of ``batch_size`` rows of dask arrays, computed one row chunk at a time.

    One epoch is one pass over ``len(self)`` batches. Reading the batches in order (as ``fit``
    does) computes every chunk once; reading them out of order works but may compute a chunk
    again.

    Args:
        x: a ``dask.array.Array`` of samples.
        y: targets: a dask array (rechunked to ``x``'s row chunks), a NumPy array, or None.
        sample_weight: optional per-sample weights (dask or NumPy).
        batch_size: rows per batch (the last batch of a pass may be shorter).
        shuffle: each epoch, visit the chunks in a random order and the rows of each chunk in
            a random order (a two-level shuffle, not a global permutation).
        steps: if given, a pass takes at most this many batches (the first ones).
        seed: seed of the shuffle (default: drawn from numdense's global generator).
    """

    def __init__(self, x, y=None, sample_weight=None, batch_size=32, shuffle=False, steps=None,
                 seed=None):
        super().__init__(workers=1)  # one chunk cache, read in the training thread
        if not dask_support._is_dask_array(x):
            raise TypeError(f"`x` must be a dask array; received {type(x).__name__}.")
        x, y, sample_weight = _aligned(x, y, sample_weight)
        self._arrays = [a for a in (x, y, sample_weight) if a is not None]
        self._sizes = np.asarray(x.chunks[0], dtype=np.int64)
        self._n = int(self._sizes.sum())
        if self._n == 0:
            raise ValueError("`x` is a dask array with no samples; fit needs at least one.")
        self.batch_size = dask_support._batch_size(batch_size)
        self._batches = -(-self._n // self.batch_size)
        if steps is not None:
            self._batches = min(self._batches, int(steps))
        self.shuffle = bool(shuffle)
        if seed is None:
            from numdense.utils.random import draw_seed

            seed = draw_seed()
        self._rng = np.random.default_rng(seed)
        self._epoch_seed = None
        self._cached = None  # (chunk index, computed blocks, row order or None)
        self._set_order()

    def __len__(self):
        return self._batches

    def _set_order(self):
        """The chunk order of the coming pass (and, when shuffling, its row-order seed)."""
        count = len(self._sizes)
        if self.shuffle:
            self._order = self._rng.permutation(count)
            self._epoch_seed = int(self._rng.integers(2**31 - 1))
        else:
            self._order = np.arange(count)
        self._starts = np.concatenate([[0], np.cumsum(self._sizes[self._order])])
        self._cached = None

    def on_epoch_begin(self):
        # fit makes each epoch one pass (steps_per_epoch caps len), so a new order per epoch
        # never changes the order in the middle of a pass.
        if self.shuffle:
            self._set_order()

    def _chunk(self, chunk):
        """The computed blocks of row chunk ``chunk`` and their row order (None: as stored)."""
        if self._cached is not None and self._cached[0] == chunk:
            return self._cached[1], self._cached[2]
        self._cached = None  # release the previous chunk before computing the next one
        dask, _ = dask_support._dask()
        blocks = dask.compute(*(a.blocks[chunk] for a in self._arrays))
        rows = None
        if self.shuffle:
            rows = np.random.default_rng([self._epoch_seed, int(chunk)]).permutation(
                int(self._sizes[chunk]))
        self._cached = (chunk, blocks, rows)
        return blocks, rows

    def __getitem__(self, index):
        if not 0 <= index < self._batches:
            raise IndexError(f"Batch index {index} out of range for {self._batches} batches.")
        start = index * self.batch_size
        stop = min(start + self.batch_size, self._n)
        pieces = [[] for _ in self._arrays]
        position = int(np.searchsorted(self._starts, start, side="right")) - 1
        while position < len(self._order) and self._starts[position] < stop:
            offset = int(self._starts[position])
            lo, hi = max(start - offset, 0), min(stop, int(self._starts[position + 1])) - offset
            if hi > lo:
                blocks, rows = self._chunk(int(self._order[position]))
                take = slice(lo, hi) if rows is None else rows[lo:hi]
                for out, block in zip(pieces, blocks):
                    # A copy, so that no batch keeps the whole chunk alive.
                    out.append(np.array(block[take], copy=True))
            position += 1
        if index == self._batches - 1:
            self._cached = None  # the pass is over: hold nothing between epochs
        return tuple(p[0] if len(p) == 1 else np.concatenate(p) for p in pieces)

    def on_epoch_end(self):
        self._cached = None


def fit(model, x, y, batch_size, epochs, verbose, callbacks, validation_split, validation_data,
        shuffle, class_weight, sample_weight, initial_epoch, steps_per_epoch, validation_steps,
        validation_batch_size, validation_freq):
    """``Model.fit`` when ``x``, ``y`` or ``sample_weight`` is a dask array; the arguments are
    ``fit``'s.

    Training streams row chunks through a ``DaskArrayDataset`` (see the module docstring for
    the shuffle). ``steps_per_epoch`` caps each epoch's batches, starting from the first each
    epoch, as for NumPy arrays. ``validation_data`` may hold dask arrays (also streamed, in
    batches of ``validation_batch_size or batch_size``); ``validation_split`` slices the last
    fraction of the rows off lazily.
    """
    if getattr(model, "_distribute_strategy", None) is not None:
        raise NotImplementedError(
            "`fit` on dask arrays is not supported under a distribution strategy; pass NumPy "
            "arrays (each rank's shard) instead."
        )
    model._assert_compiled("fit")
    if dask_support._is_functional(model) and getattr(model, "_specs", None) is not None:
        raise NotImplementedError(
            f"Model '{model.name}' was compiled for several inputs or outputs: dask arrays "
            "are supported for models with one input and one output only."
        )
    dask_support._check_single_io(model)
    from numdense.models import data as data_utils
    from numdense.models.trainer import _positive_int

    batch_size = 32 if batch_size is None else _positive_int(batch_size, "batch_size")
    steps_per_epoch = (None if steps_per_epoch is None
                       else _positive_int(steps_per_epoch, "steps_per_epoch"))
    validation_steps = (None if validation_steps is None
                        else _positive_int(validation_steps, "validation_steps"))
    if class_weight is not None and sample_weight is not None:
        raise ValueError("You cannot specify `class_weight` and `sample_weight` at the same time.")
    x, y = dask_support._single(model, x, "x"), dask_support._single(model, y, "y")
    if y is None:
        raise ValueError("Argument `y` (the targets) is required for training and evaluation.")
    x, y, sample_weight = _aligned(x, y, sample_weight)
    dask_support._check_input_shape(model, x)
    val = None
    if validation_data is not None:
        val = validation_tuple(validation_data)
    elif validation_split:
        (x, y, sample_weight), val = data_utils.validation_split_arrays(
            [x, y, sample_weight], validation_split)
        val = tuple(val)
    val_batch_size = validation_batch_size or batch_size
    if val is not None and dask_support.is_dask_input(*val):
        vx, vy, vw = (dask_support._single(model, v, n) for v, n in
                      zip(val + (None,) * (3 - len(val)), ("x", "y", "sample_weight")))
        if vy is None:
            raise ValueError("`validation_data` needs targets: (x_val, y_val[, sample_weight]).")
        vx, vy, vw = _aligned(vx, vy, vw)
        # Capped to validation_steps here, so every validation starts from the first batch
        # (as for NumPy arrays) instead of continuing where the last one stopped.
        val = DaskArrayDataset(vx, vy, vw, batch_size=val_batch_size, steps=validation_steps)
        val_batch_size = validation_steps = None
    dataset = DaskArrayDataset(x, y, sample_weight, batch_size=batch_size, shuffle=shuffle,
                               steps=steps_per_epoch)
    # The dataset batches and shuffles itself: fit_stream's batch-order shuffle would break
    # the chunk-by-chunk reading, and steps_per_epoch is already its length.
    return batch_stream.fit_stream(
        model, dataset, None, None, epochs, verbose, callbacks, 0.0, val, False, class_weight,
        None, initial_epoch, None, validation_steps, val_batch_size, validation_freq)


def _aligned(x, y, sample_weight):
    """``x``, ``y``, ``sample_weight`` as dask arrays with the row chunks of the first dask
    one among them (one chunk along the other axes); checks their lengths first."""
    from numdense.models import data as data_utils

    _, da = dask_support._dask()
    names = ("x", "y", "sample_weight")
    values = [v if v is None or dask_support._is_dask_array(v) else np.asarray(v)
              for v in (x, y, sample_weight)]
    for name, value in zip(names, values):
        if value is None:
            continue
        if value.ndim == 0:
            raise ValueError(f"`{name}` must be a batched array; received a scalar.")
        if dask_support._is_dask_array(value) and any(np.isnan(c) for c in value.chunks[0]):
            raise ValueError(
                f"`{name}` is a dask array with unknown chunk sizes; call "
                "`.compute_chunk_sizes()` on it first."
            )
    data_utils.check_lengths(**dict(zip(names, values)))
    ref, ref_name = next((v, n) for v, n in zip(values, names)
                         if dask_support._is_dask_array(v))
    ref = dask_support._as_dask(ref, ref, da, ref_name)
    x = dask_support._as_dask(values[0], ref, da, "x")
    return (x, dask_support._as_dask(values[1], x, da, "y"),
            dask_support._as_dask(values[2], x, da, "sample_weight"))
