"""numdense: Keras-style Dense/Sequential neural networks on Numba kernels.

``import numdense as nd`` then ``nd.Sequential``, ``nd.Input``, ``nd.layers.Dense``, ...
Submodules load on first use, so ``import numdense`` stays fast.
"""

import importlib

__version__ = "0.1.0"

_SUBMODULES = (
    "activations", "backend", "callbacks", "config", "constraints", "distribute", "initializers",
    "kernels", "layers", "losses", "metrics", "models", "optimizers", "regularizers", "utils",
)
_ATTRIBUTES = {
    "Input": ("numdense.layers", "Input"),
    "InputLayer": ("numdense.layers", "InputLayer"),
    "Model": ("numdense.models", "Model"),
    "Sequential": ("numdense.models", "Sequential"),
    "set_device": ("numdense.backend", "set_device"),
    "get_device": ("numdense.backend", "get_device"),
    "device": ("numdense.backend", "device"),
    "clear_session": ("numdense.backend", "clear_session"),
}

__all__ = sorted(_SUBMODULES + tuple(_ATTRIBUTES))


def __getattr__(name):
    if name in _SUBMODULES:
        return importlib.import_module(f"numdense.{name}")
    if name in _ATTRIBUTES:
        module, attr = _ATTRIBUTES[name]
        value = getattr(importlib.import_module(module), attr)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'numdense' has no attribute {name!r}")


def __dir__():
    return __all__
