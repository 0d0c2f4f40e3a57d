"""Compile configs: ``compile`` arguments serialized as Keras 3 writes them, and back."""

import copy

# Keys of optimizer configs written by older Keras versions, meaningless in Keras 3.
_LEGACY_OPTIMIZER_KEYS = ("is_legacy_optimizer", "jit_compile")


def _serialize_loss(loss):
    from numdense import losses

    if loss is None or isinstance(loss, str):
        return loss
    return losses.serialize(loss)


def _serialize_metric(metric):
    from numdense import metrics

    if isinstance(metric, str):
        return metric
    return metrics.serialize(metric)


def serialize_structure(key, value):
    """A per-output compile argument (``loss``, ``loss_weights``, ``metrics``,
    ``weighted_metrics``; lists, dicts by output name, nested lists) serialized."""
    if value is None:
        return None
    if isinstance(value, dict):
        return {k: serialize_structure(key, v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [serialize_structure(key, v) for v in value]
    if key == "loss":
        return _serialize_loss(value)
    if key == "loss_weights":
        return float(value)
    return _serialize_metric(value)


def get_compile_config(model):
    """The arguments ``compile`` was called with, serialized as Keras 3 does (None if not
    compiled).

    Args:
        model: a compiled numdense model.
    """
    from numdense import optimizers

    if not getattr(model, "compiled", False):
        return None
    structured = getattr(model, "_compile_args", None)  # a functional model's arguments
    if structured is not None:
        out = {"optimizer": optimizers.serialize(model.optimizer)}
        out.update({k: serialize_structure(k, v) for k, v in structured.items()})
        out.update({"run_eagerly": False, "steps_per_execution": 1, "jit_compile": False})
        return out
    weight = getattr(model, "_loss_weight", 1.0)
    weighted = getattr(model, "_weighted_metric_ids", [])
    return {
        "optimizer": optimizers.serialize(model.optimizer),
        "loss": _serialize_loss(model.loss),
        "loss_weights": None if weight == 1.0 else weight,
        "metrics": [_serialize_metric(m) for m in model._metric_ids] or None,
        "weighted_metrics": [_serialize_metric(m) for m in weighted] or None,
        "run_eagerly": False,
        "steps_per_execution": 1,
        "jit_compile": False,
    }


def _optimizer_from_config(config):
    from numdense import optimizers

    if isinstance(config, str):
        return optimizers.get(config)
    if not isinstance(config, dict):
        raise ValueError(f"Invalid optimizer in compile config: {config!r}")
    config = copy.deepcopy(config)
    inner = config.get("config") or {}
    for key in _LEGACY_OPTIMIZER_KEYS:
        inner.pop(key, None)
    config["config"] = inner
    return optimizers.deserialize(config)


def _loss_from_config(config):
    from numdense import losses

    if config is None:
        return None
    if isinstance(config, str):
        losses.get(config)  # fails here, with the name, for an unknown loss
        return config
    if isinstance(config, (list, tuple)) and len(config) == 1:
        return _loss_from_config(config[0])
    if isinstance(config, dict) and "class_name" in config:
        return losses.deserialize(config)
    if isinstance(config, (list, tuple)):  # one loss per output
        return [_loss_from_config(c) for c in config]
    if isinstance(config, dict):  # by output name
        return {k: _loss_from_config(v) for k, v in config.items()}
    raise ValueError(f"Unsupported loss in compile config: {config!r}")


def _metrics_from_config(config):
    from numdense import metrics

    if config is None:
        return None
    if isinstance(config, dict) and "class_name" not in config:  # by output name
        return {k: _metrics_from_config(v) for k, v in config.items()}
    if not isinstance(config, (list, tuple)):
        config = [config]
    if len(config) == 1 and isinstance(config[0], (list, tuple)):
        config = config[0]  # Keras 2 writes one list per output
    return [_metrics_from_config(m) if isinstance(m, (list, tuple)) else
            m if isinstance(m, str) or m is None else metrics.deserialize(m) for m in config]


def compile_from_config(model, config):
    """Compiles ``model`` from a compile config (Keras 3's ``compile_config`` or a legacy
    ``training_config``) and builds its optimizer on the model's trainable weights.

    Args:
        model: a built numdense model.
        config: the dict from ``get_compile_config``.

    Raises:
        ValueError: if an optimizer, loss or metric in the config cannot be built.
    """
    if not config:
        return
    optimizer = config.get("optimizer", config.get("optimizer_config"))
    try:
        kwargs = dict(
            optimizer=_optimizer_from_config(optimizer if optimizer is not None else "rmsprop"),
            loss=_loss_from_config(config.get("loss")),
            metrics=_metrics_from_config(config.get("metrics")),
            weighted_metrics=_metrics_from_config(config.get("weighted_metrics")),
        )
    except (TypeError, ValueError, KeyError) as e:
        raise ValueError(
            f"Cannot restore the compile config of model '{model.name}': {e} "
            "(load with compile=False to skip it)."
        ) from None
    weights = config.get("loss_weights")
    if weights is not None:
        kwargs["loss_weights"] = weights
    model.compile(**kwargs)
    if model.built:
        model.optimizer.build(model.trainable_weights)

