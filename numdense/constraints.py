"""Weight constraints with Keras 3 names, defaults, formulas and configs.

Keras applies constraints in the optimizer, after each update (not at initialization or in
``set_weights``). Each constraint maps a weight of any rank onto the in-place kernel
``numdense.kernels.cpu.constraints.constraint_apply_into`` through ``kernel_spec(shape)``:
``(kind, p0, p1, p2, axis_mode, shape_2d)``, to be applied to ``w.reshape(shape_2d)`` (a view of
a C-contiguous weight); it is ``None`` for a custom constraint, which must then be called.
"""

import math
import numbers

import numpy as np

from . import config
from .kernels.cpu import constraints as _k
from .utils.serialization import deserialize_object, get_object, serialize_object

_MODULE = "keras.constraints"


def _norm_layout(shape, axis):
    """Maps the norm axes of a weight of ``shape`` onto ``(axis_mode, shape_2d)``."""
    shape = tuple(int(d) for d in shape)
    rank = len(shape)
    size = math.prod(shape)
    if axis is None:
        return _k.AXIS_ALL, (1, size)
    axes = [axis] if isinstance(axis, numbers.Integral) else list(axis)
    reduced = set()
    for a in axes:
        if not isinstance(a, numbers.Integral) or not -max(rank, 1) <= a < max(rank, 1):
            raise ValueError(
                f"Invalid `axis` {axis!r} for a weight of shape {shape} (rank {rank})."
            )
        reduced.add(int(a) % max(rank, 1))
    if rank <= 1 or reduced == set(range(rank)):
        return _k.AXIS_ALL, (1, size)
    k = len(reduced)
    if reduced == set(range(k)):
        return _k.AXIS_COLUMNS, (math.prod(shape[:k]), math.prod(shape[k:]))
    if reduced == set(range(rank - k, rank)):
        return _k.AXIS_ROWS, (math.prod(shape[: rank - k]), math.prod(shape[rank - k :]))
    raise ValueError(
        f"Unsupported `axis` {axis!r} for a weight of shape {shape}: the norm axes must be "
        "all axes, or a block of leading or trailing axes (e.g. [0, 1, 2] for a conv kernel)."
    )


class Constraint:
    """Base class: a projection of a weight. The base constraint is the identity."""

    def __call__(self, w):
        """Returns the constrained weight as a new NumPy array.

        Args:
            w: the weight (NumPy array).
        """
        return w

    def kernel_spec(self, shape):
        """``(kind, p0, p1, p2, axis_mode, shape_2d)`` for ``constraint_apply_into``, or ``None``.

        Args:
            shape: the weight's shape.
        """
        if type(self).__call__ is not Constraint.__call__:
            return None
        return (_k.NONE, 0.0, 0.0, 0.0, _k.AXIS_ALL, (1, math.prod(shape)))

    def get_config(self):
        """Returns the constructor arguments as a JSON-serializable dict."""
        return {}

    @classmethod
    def from_config(cls, config):
        """Builds a constraint from the output of ``get_config()``.

        Args:
            config: a dict of constructor arguments.
        """
        return cls(**config)


class _KernelConstraint(Constraint):
    def __call__(self, w):
        w = np.asarray(w)
        dtype = w.dtype if w.dtype.kind == "f" else np.dtype(config.floatx())
        out = np.array(w, dtype=dtype, order="C", copy=True)
        kind, p0, p1, p2, axis_mode, shape_2d = self.kernel_spec(out.shape)
        if out.size:
            _k.constraint_apply_into(
                out.reshape(shape_2d), kind, p0, p1, p2, axis_mode, config.epsilon()
            )
        return out


class MaxNorm(_KernelConstraint):
    """Rescales each weight vector whose L2 norm exceeds ``max_value`` down to it.

    ``w * clip(norms, 0, max_value) / (epsilon + norms)``, norms taken over ``axis``.

    Args:
        max_value: maximum norm.
        axis: int or list of ints, the axes the norms are taken over (0 for a Dense kernel
            ``(input_dim, units)``: one norm per unit; ``[0, 1, 2]`` for a conv kernel
            ``(rows, cols, in, out)``).
    """

    def __init__(self, max_value=2, axis=0):
        self.max_value = max_value
        self.axis = axis

    def kernel_spec(self, shape):
        axis_mode, shape_2d = _norm_layout(shape, self.axis)
        return (_k.MAX_NORM, float(self.max_value), 0.0, 0.0, axis_mode, shape_2d)

    def get_config(self):
        return {"max_value": self.max_value, "axis": self.axis}


class NonNeg(_KernelConstraint):
    """Sets negative weights to 0: ``maximum(w, 0)``."""

    def kernel_spec(self, shape):
        return (_k.NON_NEG, 0.0, 0.0, 0.0, _k.AXIS_ALL, (1, math.prod(shape)))


class UnitNorm(_KernelConstraint):
    """Rescales each weight vector to unit L2 norm: ``w / (epsilon + norms)``.

    Args:
        axis: int or list of ints, the axes the norms are taken over (see ``MaxNorm``).
    """

    def __init__(self, axis=0):
        self.axis = axis

    def kernel_spec(self, shape):
        axis_mode, shape_2d = _norm_layout(shape, self.axis)
        return (_k.UNIT_NORM, 0.0, 0.0, 0.0, axis_mode, shape_2d)

    def get_config(self):
        return {"axis": self.axis}


class MinMaxNorm(_KernelConstraint):
    """Moves each weight vector's L2 norm into ``[min_value, max_value]`` at ``rate``.

    ``desired = rate * clip(norms, min_value, max_value) + (1 - rate) * norms`` and
    ``w * desired / (epsilon + norms)``.

    Args:
        min_value: minimum norm.
        max_value: maximum norm.
        rate: 1.0 enforces the bounds strictly; less moves the norms part of the way.
        axis: int or list of ints, the axes the norms are taken over (see ``MaxNorm``).
    """

    def __init__(self, min_value=0.0, max_value=1.0, rate=1.0, axis=0):
        self.min_value = min_value
        self.max_value = max_value
        self.rate = rate
        self.axis = axis

    def kernel_spec(self, shape):
        axis_mode, shape_2d = _norm_layout(shape, self.axis)
        return (
            _k.MIN_MAX_NORM,
            float(self.min_value),
            float(self.max_value),
            float(self.rate),
            axis_mode,
            shape_2d,
        )

    def get_config(self):
        return {
            "min_value": self.min_value,
            "max_value": self.max_value,
            "rate": self.rate,
            "axis": self.axis,
        }


ALL_OBJECTS = (Constraint, MaxNorm, MinMaxNorm, NonNeg, UnitNorm)
ALL_OBJECTS_DICT = {cls.__name__: cls for cls in ALL_OBJECTS}
ALL_OBJECTS_DICT.update(
    {
        "constraint": Constraint,
        "max_norm": MaxNorm,
        "min_max_norm": MinMaxNorm,
        "non_neg": NonNeg,
        "unit_norm": UnitNorm,
    }
)

# Keras' lower-case function aliases.
max_norm, min_max_norm, non_neg, unit_norm = MaxNorm, MinMaxNorm, NonNeg, UnitNorm


def serialize(constraint):
    """Returns the Keras 3 dict of a constraint (module ``"keras.constraints"``).

    Args:
        constraint: a ``Constraint`` instance.
    """
    return serialize_object(constraint, _MODULE)


def deserialize(config, custom_objects=None):
    """Builds a constraint from a Keras config dict or a name.

    Args:
        config: a dict with ``class_name`` and ``config``, or a string name.
        custom_objects: optional dict of extra names to classes.
    """
    return deserialize_object(config, ALL_OBJECTS_DICT, "constraint", custom_objects)


def get(identifier):
    """Resolves a constraint identifier.

    Args:
        identifier: ``None``, a name (``"max_norm"``, ``"MaxNorm"``, ``"non_neg"``,
            ``"unit_norm"``, ``"min_max_norm"``, ...), a config dict, a class, or a callable.

    Returns:
        A constraint, or ``None``.
    """
    return get_object(identifier, ALL_OBJECTS_DICT, "constraint")
