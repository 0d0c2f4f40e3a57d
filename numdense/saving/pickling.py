"""Pickling models as Keras 3 does: by config and weights, not by their Python objects.

A model holds objects that cannot be pickled (compiled Numba plans, address tables); what defines
it is its Keras 3 config (``serialize_model``), its weights and, when compiled, its compile
config and optimizer variables. ``pickle.loads(pickle.dumps(model))`` rebuilds the model from
those, so the copy predicts identically and, if compiled, continues training identically.
Needs only NumPy (no h5py).
"""

_FORMAT = 1


def reduce_model(model):
    """``Model.__reduce__``: the function that rebuilds ``model`` and its one argument.

    Args:
        model: a numdense Sequential or functional model (built or not, compiled or not).
    """
    return restore_model, (model_state(model),)


def _custom_layer_classes(model):
    """Layer classes of ``model`` that the deserializer does not know by name (pickled by
    reference, so the unpickling process must be able to import them)."""
    from numdense import layers

    custom = {}
    for layer in model.layers:
        cls = type(layer)
        if layers._LAYERS.get(cls.__name__) is not cls:
            custom[cls.__name__] = cls
    return custom


def model_state(model):
    """A dict of plain Python and NumPy values from which ``restore_model`` rebuilds ``model``.

    Args:
        model: a numdense Sequential or functional model.
    """
    from numdense.saving.json_io import serialize_model

    weights = model.get_weights()
    if weights and not model.built:
        raise ValueError(
            f"Cannot pickle model '{model.name}': it has weights but is not built, so its "
            "config cannot rebuild them. Build it first (`model.build(input_shape)`)."
        )
    state = {
        "format": _FORMAT,
        "config": serialize_model(model),  # carries the compile config when compiled
        "custom_objects": _custom_layer_classes(model),
        "weights": weights,
        "optimizer": None,
    }
    optimizer = getattr(model, "optimizer", None)
    if getattr(model, "compiled", False) and optimizer is not None:
        state["optimizer"] = {"built": bool(optimizer.built),
                              "variables": [v.numpy() for v in optimizer.variables]}
    return state


def restore_model(state):
    """Rebuilds the model described by ``model_state(model)``.

    Args:
        state: the dict from ``model_state``.

    Raises:
        ValueError: for a state of an unknown format, or weights or optimizer variables that
            do not fit the rebuilt model.
    """
    from numdense.saving.json_io import deserialize_model

    if not isinstance(state, dict) or state.get("format") != _FORMAT:
        found = state.get("format") if isinstance(state, dict) else type(state).__name__
        raise ValueError(
            f"Cannot unpickle a numdense model: expected state format {_FORMAT}, received "
            f"{found!r}."
        )
    model = deserialize_model(state["config"], custom_objects=state["custom_objects"],
                              compile=True)
    if state["weights"]:
        model.set_weights(state["weights"])
    saved = state["optimizer"]
    if saved is not None:
        _restore_optimizer(model, saved)
    return model


def _restore_optimizer(model, saved):
    optimizer = model.optimizer
    values = saved["variables"]
    if saved["built"] and not optimizer.built:
        optimizer.build(model.trainable_weights)
    variables = optimizer.variables
    # An optimizer pickled before its first step has only its step count (and learning rate);
    # the slots a built copy adds start at zero either way.
    if len(values) > len(variables) or (saved["built"] and len(values) != len(variables)):
        raise ValueError(
            f"Cannot restore the optimizer '{optimizer.name}' of model '{model.name}': the "
            f"pickle has {len(values)} variables, the rebuilt optimizer {len(variables)}."
        )
    for variable, value in zip(variables, values):
        if tuple(variable.shape) != tuple(value.shape):
            raise ValueError(
                f"Cannot restore optimizer variable {variable.path}: expected shape "
                f"{tuple(variable.shape)}, received {tuple(value.shape)}."
            )
        variable.assign(value)
