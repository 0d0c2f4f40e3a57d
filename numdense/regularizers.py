"""Weight penalties with Keras 3 names, defaults, formulas, errors and configs.

Besides ``__call__(w)`` (the penalty, as a Python float), every regularizer has
``penalty(w)``, ``add_gradient(w, g)`` (``g += d penalty / d w`` in place) and ``kernel_spec()``,
which is ``(l1, l2)`` for the L1/L2 family, so a compiled optimizer step can call
``numdense.kernels.cpu.regularizers.l1l2_grad_into`` itself, and ``None`` otherwise.
"""

import math

import numpy as np

from .kernels.cpu import regularizers as _k
from .utils.serialization import deserialize_object, get_object, serialize_object

_MODULE = "keras.regularizers"


def validate_float_arg(value, name):
    """Returns ``value`` as a float if it is a non-negative finite int or float.

    Args:
        value: the coefficient.
        name: the argument name, for the error message.

    Raises:
        ValueError: otherwise, with Keras' message.
    """
    if (
        not isinstance(value, (float, int))
        or math.isinf(value)
        or math.isnan(value)
        or value < 0
    ):
        raise ValueError(
            f"Invalid value for argument {name}: expected a non-negative float."
            f"Received: {name}={value}"
        )
    return float(value)


def _weights(w):
    w = np.asarray(w)
    if w.dtype.kind != "f":
        w = w.astype(np.float64)
    return np.ascontiguousarray(w)


def _check_grad(w, g):
    if not (
        isinstance(g, np.ndarray)
        and g.dtype.kind == "f"
        and g.shape == w.shape
        and g.flags.c_contiguous
        and g.flags.writeable
    ):
        raise ValueError(
            "`g` must be a writeable C-contiguous float array of the weight's shape "
            f"{w.shape}. Received: {getattr(g, 'shape', type(g))}"
        )


class Regularizer:
    """Base class: a penalty on a weight. The base penalty is 0.

    Subclasses implement ``__call__(x)`` and ``get_config()``; to be trained with, they also
    implement ``add_gradient(w, g)``.
    """

    def __call__(self, x):
        """Returns the penalty of ``x`` as a Python float.

        Args:
            x: a NumPy array.
        """
        return 0.0

    def penalty(self, w):
        """The penalty of ``w`` as a Python float (same as calling the regularizer).

        Args:
            w: a NumPy array.
        """
        return float(self(w))

    def add_gradient(self, w, g):
        """Adds ``d penalty / d w`` to ``g`` in place.

        Args:
            w: the weight (NumPy array).
            g: writeable C-contiguous float array of ``w``'s shape.
        """
        if type(self).__call__ is not Regularizer.__call__:
            raise NotImplementedError(
                f"{type(self).__name__} does not implement `add_gradient(w, g)`."
            )

    def kernel_spec(self):
        """``(l1, l2)`` if the penalty is ``l1*sum|w| + l2*sum w**2``, else ``None``."""
        return (0.0, 0.0) if type(self).__call__ is Regularizer.__call__ else None

    @classmethod
    def from_config(cls, config):
        """Builds a regularizer from the output of ``get_config()``.

        Args:
            config: a dict of constructor arguments.
        """
        return cls(**config)

    def get_config(self):
        """Returns the constructor arguments as a JSON-serializable dict."""
        raise NotImplementedError(f"{self} does not implement get_config()")


class _L1L2Family(Regularizer):
    """Shared kernel-backed penalty and gradient for L1, L2 and L1L2."""

    def kernel_spec(self):
        raise NotImplementedError

    def __call__(self, x):
        l1, l2 = self.kernel_spec()
        return float(_k.l1l2_penalty(_weights(x), l1, l2))

    def add_gradient(self, w, g):
        w = _weights(w)
        _check_grad(w, g)
        l1, l2 = self.kernel_spec()
        _k.l1l2_grad_into(w, g, l1, l2)


class L1L2(_L1L2Family):
    """Penalty ``l1 * sum(|x|) + l2 * sum(x**2)``; a term with coefficient 0 is skipped.

    Args:
        l1: non-negative L1 factor (``None`` means 0).
        l2: non-negative L2 factor (``None`` means 0).
    """

    def __init__(self, l1=0.0, l2=0.0):
        self.l1 = validate_float_arg(0.0 if l1 is None else l1, name="l1")
        self.l2 = validate_float_arg(0.0 if l2 is None else l2, name="l2")

    def kernel_spec(self):
        return (self.l1, self.l2)

    def get_config(self):
        return {"l1": self.l1, "l2": self.l2}


class L1(_L1L2Family):
    """Penalty ``l1 * sum(|x|)``.

    Keras keeps ``l1`` as a float32 scalar, so the coefficient actually used and the config
    value are ``float32(l1)`` (``0.01`` becomes ``0.009999999776482582``); numdense does too.

    Args:
        l1: non-negative factor (``None`` means 0.01).
    """

    def __init__(self, l1=0.01):
        self.l1 = np.float32(validate_float_arg(0.01 if l1 is None else l1, name="l1"))

    def kernel_spec(self):
        return (float(self.l1), 0.0)

    def get_config(self):
        return {"l1": float(self.l1)}


class L2(_L1L2Family):
    """Penalty ``l2 * sum(x**2)``.

    Args:
        l2: non-negative factor (``None`` means 0.01).
    """

    def __init__(self, l2=0.01):
        self.l2 = validate_float_arg(0.01 if l2 is None else l2, name="l2")

    def kernel_spec(self):
        return (0.0, self.l2)

    def get_config(self):
        return {"l2": self.l2}


class OrthogonalRegularizer(Regularizer):
    """Penalizes non-orthogonality of the L2-normalized rows (or columns) of a 2-D weight.

    Penalty ``factor * 0.5 * sum(|P * (1 - I)|) / (n (n - 1) / 2)`` with ``P = N N^T`` for the
    ``n`` row-normalized rows ``N`` (``N^T N`` over columns in ``"columns"`` mode). Vectors are
    normalized as ``v / max(|v|, 1e-7)``. With a single row (column) the penalty is nan, as
    in Keras. ``factor`` is kept as float32, as in Keras.

    Args:
        factor: non-negative factor.
        mode: ``"rows"`` or ``"columns"``.
    """

    def __init__(self, factor=0.01, mode="rows"):
        self.factor = np.float32(validate_float_arg(factor, name="factor"))
        if mode not in {"rows", "columns"}:
            raise ValueError(
                "Invalid value for argument `mode`. Expected one of "
                f'{{"rows", "columns"}}. Received: mode={mode}'
            )
        self.mode = mode

    def _vectors(self, x):
        x = _weights(x)
        if x.ndim != 2:
            raise ValueError(
                "Inputs to OrthogonalRegularizer must have rank 2. Received: "
                f"inputs.shape={x.shape}"
            )
        v = x.astype(np.float64)
        return v if self.mode == "rows" else v.T

    def _terms(self, v):
        # Keras' ops.normalize clamps the norm at epsilon (1e-7).
        r = np.maximum(np.sqrt(np.sum(v * v, axis=1, keepdims=True)), 1e-7)
        n = v / r
        p = n @ n.T
        np.fill_diagonal(p, 0.0)
        size = v.shape[0]
        return n, r, p, float(self.factor) / (size * (size - 1.0))

    def __call__(self, x):
        v = self._vectors(x)
        _, _, p, c = self._terms(v)
        with np.errstate(divide="ignore", invalid="ignore"):
            return float(c * np.sum(np.abs(p)))

    def add_gradient(self, w, g):
        w = _weights(w)
        _check_grad(w, g)
        v = self._vectors(w)
        n, r, p, c = self._terms(v)
        with np.errstate(divide="ignore", invalid="ignore"):
            dn = 2.0 * c * (np.sign(p) @ n)
            # Through n = v / |v|: project out the radial part, except where the norm is clamped.
            radial = np.where(r > 1e-7, np.sum(dn * n, axis=1, keepdims=True), 0.0)
            dv = (dn - radial * n) / r
        g += (dv if self.mode == "rows" else dv.T).astype(g.dtype, copy=False)

    def kernel_spec(self):
        return None

    def get_config(self):
        return {"factor": float(self.factor), "mode": self.mode}


ALL_OBJECTS = (Regularizer, L1, L2, L1L2, OrthogonalRegularizer)
ALL_OBJECTS_DICT = {cls.__name__: cls for cls in ALL_OBJECTS}
ALL_OBJECTS_DICT.update(
    {
        "regularizer": Regularizer,
        "l1": L1,
        "l2": L2,
        "l1l2": L1L2,
        "orthogonal_regularizer": OrthogonalRegularizer,
    }
)

# Keras' lower-case function aliases (``l1_l2`` is one, although the string "l1_l2" is not).
l1, l2, l1_l2, orthogonal_regularizer = L1, L2, L1L2, OrthogonalRegularizer


def _check_name(name, custom_objects=None):
    # Exact names only: the shared lookup's folding would accept "l1_l2", which Keras 3 rejects.
    if name not in ALL_OBJECTS_DICT and name not in (custom_objects or {}):
        raise ValueError(f"Could not interpret regularizer identifier: {name}")


def serialize(regularizer):
    """Returns the Keras 3 dict of a regularizer (module ``"keras.regularizers"``).

    Args:
        regularizer: a ``Regularizer`` instance.
    """
    return serialize_object(regularizer, _MODULE)


def deserialize(config, custom_objects=None):
    """Builds a regularizer from a Keras config dict or a name.

    Args:
        config: a dict with ``class_name`` and ``config``, or a string name.
        custom_objects: optional dict of extra names to classes.
    """
    if isinstance(config, str):
        _check_name(config, custom_objects)
    elif isinstance(config, dict) and "class_name" in config:
        _check_name(config["class_name"], custom_objects)
    return deserialize_object(config, ALL_OBJECTS_DICT, "regularizer", custom_objects)


def get(identifier):
    """Resolves a regularizer identifier.

    Args:
        identifier: ``None``, an exact name (``"l1"``, ``"l2"``, ``"l1l2"``, ``"L1L2"``,
            ``"orthogonal_regularizer"``, ...; ``"l1_l2"`` raises as in Keras 3), a config
            dict, a class, or a callable.

    Returns:
        A regularizer, or ``None``.
    """
    if isinstance(identifier, str):
        _check_name(identifier)
    elif isinstance(identifier, dict) and "class_name" in identifier:
        _check_name(identifier["class_name"])
    return get_object(identifier, ALL_OBJECTS_DICT, "regularizer")
