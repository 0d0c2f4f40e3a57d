"""Model configs as Keras 3 writes them: ``serialize_model``, ``to_json``, ``model_from_json``.

Configs written by Keras carry options numdense does not have (``quantization_config``,
``optional``...). Such an option at its default value is dropped; any other value, an unknown
layer class or a model class other than ``Sequential`` / ``Functional`` raises a
``ValueError`` naming it.
"""

import copy
import json

from numdense.saving.compile_config import compile_from_config, get_compile_config

_MODULE_OF_MODEL = "keras"
_MODULE_OF_FUNCTIONAL = "keras.src.models.functional"
_FUNCTIONAL_NAMES = ("Functional", "Model")

# Keras-only layer options and the value under which numdense can ignore them.
_IGNORABLE = {
    "InputLayer": {"optional": False, "ragged": False, "sparse": False},
    "Dense": {"quantization_config": None},
}


def _classes(custom_objects):
    from numdense import layers

    return dict(layers._LAYERS, **(custom_objects or {}))


def serialize_model(model):
    """The Keras 3 dict of a model: ``module``, ``class_name``, ``config``, build and compile.

    Args:
        model: a numdense ``Sequential`` or functional model.
    """
    from numdense.models.functional import Functional
    from numdense.models.sequential import Sequential

    if isinstance(model, Functional):
        return {
            "module": _MODULE_OF_FUNCTIONAL,
            "class_name": "Functional",
            "config": _with_keras_defaults(model.get_config(), model),
            "registered_name": "Functional",
            "build_config": {"input_shape": None},
            "compile_config": get_compile_config(model) or {},
        }
    if not isinstance(model, Sequential):
        raise ValueError(
            "Only Sequential and functional models can be saved by numdense; received "
            f"{type(model).__name__}."
        )
    out = {
        "module": _MODULE_OF_MODEL,
        "class_name": "Sequential",
        "config": _with_keras_defaults(model.get_config(), model),
        "registered_name": None,
    }
    if model.built:
        out["build_config"] = {"input_shape": list(model.input_shape)}
    out["compile_config"] = get_compile_config(model) or {}
    return out


def _with_keras_defaults(config, model):
    """Adds the keys Keras 3.15 writes and numdense's configs leave out (all at the values
    that mean "not used"), so that saved configs read exactly like Keras' own."""
    for entry in config["layers"]:
        for key, default in _IGNORABLE.get(entry["class_name"], {}).items():
            if key != "sparse" and key not in entry["config"]:
                entry["config"][key] = default
    layers = config["layers"]
    if "input_layers" in config:
        return config
    if model.built and layers and layers[0]["class_name"] == "InputLayer":
        config.setdefault("build_input_shape", list(layers[0]["config"]["batch_shape"]))
    return config


def to_json(model, **kwargs):
    """The model's Keras 3 JSON (as ``keras.Model.to_json``).

    Args:
        model: a numdense ``Sequential``.
        **kwargs: passed to ``json.dumps`` (e.g. ``indent``).
    """
    return json.dumps(serialize_model(model), **kwargs)


def model_from_json(json_string, custom_objects=None):
    """Builds (and compiles, when the JSON has a compile config) a model from ``to_json``.

    Args:
        json_string: JSON text of a model config (numdense's or Keras').
        custom_objects: optional dict of extra layer classes by name.
    """
    try:
        config = json.loads(json_string)
    except (TypeError, ValueError) as e:
        raise ValueError(f"Invalid model JSON: {e}") from None
    return deserialize_model(config, custom_objects=custom_objects)


def _check_model_class(config):
    if not isinstance(config, dict) or "class_name" not in config or "config" not in config:
        raise ValueError(
            "Invalid model config: expected a dict with 'class_name' and 'config' keys; "
            f"received {str(config)[:200]}"
        )
    name = config["class_name"]
    inner = config["config"]
    if name in _FUNCTIONAL_NAMES:
        if not isinstance(inner, dict) or not isinstance(inner.get("layers"), list) or not all(
                isinstance(inner.get(k), (list, dict)) for k in ("input_layers",
                                                                 "output_layers")):
            raise ValueError(
                "Invalid functional model config: it needs 'layers', 'input_layers' and "
                "'output_layers' lists."
            )
        return
    if name != "Sequential":
        raise ValueError(
            f"Unsupported model class '{name}': numdense can load Sequential and functional "
            "models only."
        )
    if not isinstance(inner, dict) or not isinstance(inner.get("layers"), list):
        raise ValueError("Invalid Sequential config: missing its 'layers' list.")


def _layer_label(layer_config):
    inner = layer_config.get("config") or {}
    name = inner.get("name") if isinstance(inner, dict) else None
    return f"layer '{name}' ({layer_config.get('class_name')})"


def _normalize_layer(layer_config, classes):
    """A copy of one layer entry with Keras-only defaults removed; raises on what cannot load."""
    if not isinstance(layer_config, dict) or "class_name" not in layer_config:
        raise ValueError(f"Invalid layer entry in model config: {str(layer_config)[:200]}")
    class_name = layer_config["class_name"]
    if class_name not in classes:
        raise ValueError(
            f"Unsupported layer type '{class_name}' ({_layer_label(layer_config)}): numdense "
            f"provides {sorted(c for c in classes if c != 'Layer')}."
        )
    entry = copy.deepcopy(layer_config)
    inner = entry.get("config")
    if not isinstance(inner, dict):
        raise ValueError(f"Invalid config for {_layer_label(layer_config)}.")
    for key, default in _IGNORABLE.get(class_name, {}).items():
        if key in inner:
            value = inner.pop(key)
            if value != default:
                raise ValueError(
                    f"Unsupported option in {_layer_label(layer_config)}: {key}={value!r} "
                    "is not available in numdense."
                )
    return entry


def _build_layer(entry, custom_objects):
    from numdense import layers

    try:
        return layers.deserialize(entry, custom_objects)
    except (TypeError, ValueError, KeyError) as e:
        raise ValueError(f"Cannot load {_layer_label(entry)}: {e}") from None


def _functional_from_entries(inner, entries, custom_objects):
    from numdense.models.functional import Functional
    from numdense.models.functional_graph import functional_from_config

    config = dict(inner, layers=entries)
    try:
        return functional_from_config(Functional, config, custom_objects,
                                      layer_builder=lambda e: _build_layer(e, custom_objects))
    except (TypeError, KeyError, IndexError) as e:
        raise ValueError(
            f"Cannot build functional model '{inner.get('name')}' from its config: {e}"
        ) from None


def deserialize_model(config, custom_objects=None, compile=True):
    """Builds a Sequential or functional model from its Keras 3 (or legacy) dict.

    Every layer entry is checked before anything is built. The model is built from its
    input layer or ``build_input_shape``/``build_config``, and compiled from
    ``compile_config`` when ``compile`` is true.

    Args:
        config: the model dict.
        custom_objects: optional dict of extra layer classes by name.
        compile: whether to compile from the config's ``compile_config``.
    """
    from numdense.models.sequential import Sequential

    _check_model_class(config)
    inner = config["config"]
    classes = _classes(custom_objects)
    entries = [_normalize_layer(e, classes) for e in inner["layers"]]
    if config["class_name"] in _FUNCTIONAL_NAMES:
        model = _functional_from_entries(inner, entries, custom_objects)
        if compile and config.get("compile_config"):
            compile_from_config(model, config["compile_config"])
        return model
    model = Sequential(name=inner.get("name"), trainable=inner.get("trainable", True))
    for entry in entries:
        layer = _build_layer(entry, custom_objects)
        try:
            model.add(layer, rebuild=False)
        except (TypeError, ValueError) as e:
            raise ValueError(f"Cannot add {_layer_label(entry)} to the model: {e}") from None
    try:
        model._maybe_rebuild()
        shape = inner.get("build_input_shape")
        if shape is None:
            shape = (config.get("build_config") or {}).get("input_shape")
        if not model.built and shape is not None:
            model.build(tuple(shape))
    except (TypeError, ValueError) as e:
        raise ValueError(f"Cannot build model '{model.name}' from its config: {e}") from None
    if compile and config.get("compile_config"):
        compile_from_config(model, config["compile_config"])
    return model
