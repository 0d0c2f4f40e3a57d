"""``Variable``: a named weight array that kernels update in place."""

import numpy as np


class Variable:
    """A layer weight.

    The array in ``value`` is the storage itself: kernels (forward, optimizer updates) read and
    write it in place, and ``numpy()`` returns a copy.

    Args:
        value: initial array.
        name: short name, e.g. ``"kernel"``.
        path: full name, e.g. ``"dense/kernel"``.
        trainable: whether optimizers update it.
        regularizer: a ``numdense.regularizers.Regularizer`` or None.
        constraint: a ``numdense.constraints.Constraint`` or None (applied by the optimizer after
            each update, never at creation or on ``assign``).
    """

    def __init__(self, value, name, path=None, trainable=True, regularizer=None, constraint=None):
        self._value = np.array(value, copy=True, order="C")
        self.name = name
        self.path = path or name
        self.trainable = trainable
        self.regularizer = regularizer
        self.constraint = constraint

    @property
    def value(self):
        return self._value

    @property
    def shape(self):
        return self._value.shape

    @property
    def dtype(self):
        return self._value.dtype

    @property
    def ndim(self):
        return self._value.ndim

    @property
    def size(self):
        return self._value.size

    def numpy(self):
        return self._value.copy()

    def assign(self, value):
        value = np.asarray(value)
        if value.shape != self._value.shape:
            raise ValueError(
                f"Cannot assign a value of shape {value.shape} to variable '{self.path}' "
                f"of shape {self._value.shape}."
            )
        np.copyto(self._value, value, casting="unsafe")

    def __array__(self, dtype=None, copy=None):
        return self._value.astype(dtype) if dtype is not None else self._value.copy()

    def __repr__(self):
        return f"<Variable path={self.path}, shape={self.shape}, dtype={self.dtype.name}>"
