"""``Metric``: streaming state in NumPy arrays, updated batch by batch (as in Keras)."""

import numpy as np

from numdense.config import floatx
from numdense.utils.naming import to_snake_case, uniquify


def standardize_dtype(dtype):
    """The metric dtype name: ``floatx()`` for ``None``, else ``"float32"`` or ``"float64"``."""
    if dtype is None:
        return floatx()
    name = getattr(dtype, "name", None) or np.dtype(dtype).name
    if name not in ("float32", "float64"):
        raise ValueError(f"Metric dtype must be 'float32' or 'float64'. Received: dtype={dtype!r}")
    return name


class Metric:
    """Encapsulates metric logic and state.

    Subclasses create their state with ``add_variable`` in ``__init__`` and implement
    ``update_state(...)`` and ``result()``. ``reset_state()`` zeroes every variable.

    Args:
        dtype: dtype of the state and the computations (default ``floatx()``).
        name: name of the metric instance (default: the snake-case class name, made unique).
    """

    def __init__(self, dtype=None, name=None):
        if name is not None and not isinstance(name, str):
            raise TypeError(f"Metric name must be a string. Received: name={name!r}")
        self.name = name or uniquify(to_snake_case(type(self).__name__))
        self._dtype = standardize_dtype(dtype)
        self._variables = []

    @property
    def dtype(self):
        return self._dtype

    @property
    def variables(self):
        """The state arrays, in creation order."""
        return list(self._variables)

    def add_variable(self, shape=(), initializer="zeros", dtype=None, name=None):
        """Creates a zero-initialized state array tracked by ``reset_state``.

        Args:
            shape: shape of the array (``()`` for a scalar).
            initializer: only ``"zeros"`` is supported.
            dtype: dtype (default: the metric dtype).
            name: accepted for Keras compatibility.
        """
        if initializer not in ("zeros", None) and type(initializer).__name__ != "Zeros":
            raise ValueError(f"Metric variables support only zeros. Received: {initializer!r}")
        var = np.zeros(tuple(shape), dtype=dtype or self._dtype)
        self._variables.append(var)
        return var

    add_weight = add_variable

    def reset_state(self):
        """Resets all state variables to zero."""
        for v in self._variables:
            v[...] = 0

    def update_state(self, *args, **kwargs):
        """Accumulates statistics for the metric."""
        raise NotImplementedError

    def result(self):
        """Returns the current value (a Python float)."""
        raise NotImplementedError

    def __call__(self, *args, **kwargs):
        """Updates the state with one batch and returns the result."""
        self.update_state(*args, **kwargs)
        return self.result()

    def get_config(self):
        """Returns the constructor arguments as a JSON-serializable dict."""
        return {"name": self.name, "dtype": self.dtype}

    @classmethod
    def from_config(cls, config):
        """Builds a metric from the output of ``get_config()``."""
        return cls(**config)

    def __repr__(self):
        return f"<{type(self).__name__} name={self.name}>"
