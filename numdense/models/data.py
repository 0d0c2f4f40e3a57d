"""Validation and conversion of the arrays given to ``fit`` / ``evaluate``.

Every check runs before training starts, so bad input raises a clear error and leaves the
model untouched.
"""

import numpy as np

from numdense.kernels.cpu.finite import all_finite
from numdense.layers.layer import to_float_array

# From this many elements the check runs as a compiled pass on all threads (MNIST's 47 million
# floats: ~6 ms against NumPy's ~12 ms for a sum); smaller arrays do not repay its compile.
_COMPILED_CHECK_MIN = 1 << 20


def as_float_array(value, dtype, name):
    """``value`` as a C-contiguous float array, or TypeError naming the argument."""
    if value is None:
        raise ValueError(f"Argument `{name}` is required.")
    return to_float_array(value, dtype, what=f"`{name}`")


def check_finite(arr, name):
    """ValueError naming the first NaN/inf element of ``arr``."""
    if not arr.size:
        return
    if arr.size >= _COMPILED_CHECK_MIN and arr.dtype in (np.float32, np.float64) \
            and arr.flags.c_contiguous:
        if all_finite(arr.reshape(arr.shape[0], -1)):
            return
    else:
        with np.errstate(over="ignore", invalid="ignore"):
            if np.isfinite(arr.sum()):  # one fast pass; NaN/inf always propagate into the sum
                return
    bad = ~np.isfinite(arr)
    if bad.any():  # otherwise the sum merely overflowed
        index = tuple(int(i) for i in np.argwhere(bad)[0])
        raise ValueError(
            f"`{name}` contains NaN or inf values (first at index {index}: {arr[index]}). "
            "Clean the data before training."
        )


def check_lengths(**arrays):
    lengths = {name: a.shape[0] for name, a in arrays.items() if a is not None}
    if len(set(lengths.values())) > 1:
        detail = ", ".join(f"{name}: {n}" for name, n in lengths.items())
        raise ValueError(
            f"Data cardinality is ambiguous: make sure all arrays contain the same number of "
            f"samples ({detail})."
        )


def sample_weights(n, sample_weight, class_weight, y, sparse, dtype):
    """Per-sample weights (n,) combining ``sample_weight`` and ``class_weight``."""
    weights = np.ones(n, dtype=dtype)
    if sample_weight is not None:
        sw = as_float_array(sample_weight, dtype, "sample_weight")
        if sw.ndim == 2 and sw.shape[1] == 1:
            sw = sw[:, 0]
        if sw.shape != (n,):
            raise ValueError(
                f"`sample_weight` must have shape ({n},) to match the {n} samples; received "
                f"shape {sw.shape}."
            )
        check_finite(sw, "sample_weight")
        if (sw < 0).any():
            raise ValueError("`sample_weight` must be non-negative.")
        weights *= sw
    if class_weight is not None:
        if not isinstance(class_weight, dict):
            raise TypeError(f"`class_weight` must be a dict; received {type(class_weight).__name__}.")
        if sparse or y.shape[-1] == 1:
            labels = np.round(y.reshape(n)).astype(np.int64)
        else:
            labels = np.argmax(y, axis=-1)
        table = np.ones(int(labels.max(initial=0)) + 1, dtype=dtype)
        for cls, w in class_weight.items():
            if isinstance(cls, bool) or not isinstance(cls, (int, np.integer)):
                raise ValueError(
                    f"`class_weight` keys must be integer class indices. Received: {cls!r}"
                )
            if not isinstance(w, (int, float, np.integer, np.floating)) or not np.isfinite(w):
                raise ValueError(
                    f"`class_weight` values must be finite numbers. Received: {cls}: {w!r}"
                )
            if 0 <= cls < table.size:  # classes absent from the labels weigh nothing (Keras)
                table[cls] = w
        weights *= table[labels]
    return weights


def validation_split_arrays(arrays, split):
    """Splits off the last ``split`` fraction of every array, before any shuffling (Keras)."""
    if not 0 < split < 1:
        raise ValueError(f"`validation_split` must be between 0 and 1. Received: {split}")
    n = arrays[0].shape[0]
    split_at = int(np.floor(n * (1.0 - split)))
    if split_at == 0 or split_at == n:
        raise ValueError(
            f"Training data contains {n} samples, which is not sufficient to split it into a "
            f"validation and training set as specified by `validation_split={split}`. Either "
            "provide more data, or a different value for the `validation_split` argument."
        )
    train = [None if a is None else a[:split_at] for a in arrays]
    val = [None if a is None else a[split_at:] for a in arrays]
    return train, val
