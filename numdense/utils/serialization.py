"""Keras-3-style ``get`` / ``serialize`` / ``deserialize`` shared by every identifier namespace
(activations, initializers, regularizers, constraints, losses, optimizers, metrics)."""


def serialize_object(obj, module):
    """The Keras 3 dict for a configurable object: module, class name, config (None for None)."""
    if obj is None:
        return None
    return {
        "module": module,
        "class_name": type(obj).__name__,
        "config": obj.get_config(),
        "registered_name": None,
    }


def lookup(name, registry, what):
    """Finds ``name`` in ``registry`` (exact, then snake/Camel-insensitive)."""
    if name in registry:
        return registry[name]
    folded = name.replace("_", "").lower()
    for key, value in registry.items():
        if key.replace("_", "").lower() == folded:
            return value
    raise ValueError(f"Could not interpret {what} identifier: {name}")


def deserialize_object(config, registry, what, custom_objects=None):
    """Builds an object from a Keras config dict (``{"class_name", "config"}``) or a string name."""
    if isinstance(config, str):
        found = lookup(config, {**registry, **(custom_objects or {})}, what)
        return found() if isinstance(found, type) else found
    if not isinstance(config, dict) or "class_name" not in config:
        raise ValueError(f"Could not interpret {what} identifier: {config}")
    cls = lookup(config["class_name"], {**registry, **(custom_objects or {})}, what)
    inner = config.get("config") or {}
    if isinstance(cls, type):
        if hasattr(cls, "from_config"):
            return cls.from_config(dict(inner))
        return cls(**inner)
    return cls


def get_object(identifier, registry, what, custom_objects=None):
    """Resolves ``None``, a string, a config dict, a class instance or a callable."""
    if identifier is None:
        return None
    if isinstance(identifier, (str, dict)):
        return deserialize_object(identifier, registry, what, custom_objects)
    if isinstance(identifier, type):
        return identifier()
    if callable(identifier):
        return identifier
    raise ValueError(f"Could not interpret {what} identifier: {identifier}")
