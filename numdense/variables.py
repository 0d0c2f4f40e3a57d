"""``Variable``: a named weight array that kernels update in place."""

import numpy as np

from numdense import backend


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
        device: ``"cpu"`` (default: a NumPy array) or ``"cuda"`` (a numba device array; then
            ``value`` is the device array and ``numpy()`` / ``np.asarray`` copy it to the host).
    """

    def __init__(self, value, name, path=None, trainable=True, regularizer=None, constraint=None,
                 device="cpu"):
        self.device = device
        host = backend.aligned_copy(backend.to_host(value))
        self._value = backend.to_device(host) if device == "cuda" else host
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
        return tuple(self._value.shape)

    @property
    def dtype(self):
        return np.dtype(self._value.dtype)

    @property
    def ndim(self):
        return self._value.ndim

    @property
    def size(self):
        return self._value.size

    def numpy(self):
        """A host (NumPy) copy of the value."""
        if self.device == "cuda":
            return self._value.copy_to_host()
        return self._value.copy()

    def assign(self, value):
        """Copies ``value`` (host or device array) into the variable's storage."""
        if self.device == "cuda" and backend.is_device_array(value):
            if tuple(value.shape) != self.shape or np.dtype(value.dtype) != self.dtype:
                value = backend.to_host(value)
            else:
                self._value.copy_to_device(value)
                return
        value = np.asarray(backend.to_host(value))
        if value.shape != self.shape:
            raise ValueError(
                f"Cannot assign a value of shape {value.shape} to variable '{self.path}' "
                f"of shape {self.shape}."
            )
        if self.device == "cuda":
            self._value.copy_to_device(np.ascontiguousarray(value, dtype=self.dtype))
        else:
            np.copyto(self._value, value, casting="unsafe")

    def __setstate__(self, state):
        # An unpickled (or deep-copied) value is a plain NumPy allocation: align it again.
        self.__dict__.update(state)
        if self.device == "cpu":
            self._value = backend.aligned_copy(self._value)

    def __array__(self, dtype=None, copy=None):
        host = self.numpy()
        return host.astype(dtype) if dtype is not None else host

    def __repr__(self):
        return f"<Variable path={self.path}, shape={self.shape}, dtype={self.dtype.name}>"
