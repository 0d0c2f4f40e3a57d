"""Optimizers with Keras 3 names, defaults, formulas, errors and configs.

Every update runs in the Numba kernels of ``numdense.kernels.cpu.optimizers``;
``Optimizer.kernel_plan`` exposes them to compiled training loops.
"""

from . import schedules
from .adadelta import Adadelta
from .adagrad import Adagrad
from .adam import Adam
from .adamax import Adamax
from .adamw import AdamW
from .base_optimizer import KernelPlan, Optimizer
from .lion import Lion
from .nadam import Nadam
from .rmsprop import RMSprop
from .sgd import SGD
from ..utils.serialization import serialize_object

_MODULE = "keras.optimizers"

ALL_OBJECTS = (Optimizer, Adam, SGD, RMSprop, Adadelta, AdamW, Adagrad, Adamax, Nadam, Lion)
ALL_OBJECTS_DICT = {cls.__name__.lower(): cls for cls in ALL_OBJECTS}


def serialize(optimizer):
    """Returns the Keras 3 dict of an optimizer (module ``"keras.optimizers"``).

    Args:
        optimizer: an ``Optimizer`` instance.
    """
    return serialize_object(optimizer, _MODULE)


def deserialize(config, custom_objects=None):
    """Builds an optimizer from a Keras config dict.

    Args:
        config: a dict with ``class_name`` (built-in names are case-insensitive: ``"Adam"``,
            ``"adam"``) and ``config``.
        custom_objects: optional dict of extra names to classes.

    Raises:
        ValueError: for an unknown class name or a malformed config.
    """
    if not isinstance(config, dict) or "class_name" not in config:
        raise ValueError(f"Could not interpret optimizer identifier: {config}")
    name = config["class_name"]
    cls = (custom_objects or {}).get(name)
    if cls is None:
        cls = ALL_OBJECTS_DICT.get(str(name).lower())
    if cls is None:
        raise ValueError(f"Could not interpret optimizer identifier: {name}")
    return cls.from_config(dict(config.get("config") or {}), custom_objects=custom_objects)


def get(identifier):
    """Resolves an optimizer identifier.

    Args:
        identifier: ``None``, a name (``"sgd"``, ``"adam"``, ``"adamw"``, ``"rmsprop"``,
            ``"adagrad"``, ``"adadelta"``, ``"adamax"``, ``"nadam"``, ``"lion"``, or a class
            name such as ``"RMSprop"``), a config dict, or an ``Optimizer`` instance (returned
            as is).

    Returns:
        An ``Optimizer``, or ``None``.
    """
    if identifier is None:
        return None
    if isinstance(identifier, dict):
        obj = deserialize(identifier)
    elif isinstance(identifier, str):
        obj = deserialize({"class_name": identifier, "config": {}})
    else:
        obj = identifier
    if isinstance(obj, Optimizer):
        return obj
    raise ValueError(f"Could not interpret optimizer identifier: {identifier}")


__all__ = [
    "Adadelta", "Adagrad", "Adam", "Adamax", "AdamW", "KernelPlan", "Lion", "Nadam",
    "Optimizer", "RMSprop", "SGD", "deserialize", "get", "schedules", "serialize",
]
