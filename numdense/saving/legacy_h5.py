"""The legacy Keras ``.h5`` model format (Keras 2, and Keras 3's ``model.save("x.h5")``).

Root attributes ``model_config`` and ``training_config`` (JSON); group ``model_weights`` with
attribute ``layer_names`` and, per layer, a group with attribute ``weight_names`` whose
entries are dataset paths inside it; group ``optimizer_weights`` the same for the optimizer.
Weights are matched to layers by order (layers without weights skipped), as Keras does.
"""

import json
import os
import warnings

import numpy as np

from numdense.saving import archive_limits, compile_config, json_io
from numdense.saving._h5 import require_h5py
from numdense.saving.atomic import atomic_path

# HDF5 refuses object headers above 64 KiB, so long name lists are split over attributes.
_HEADER_LIMIT = 64512
_FORMAT_VERSION = "3.15.1"


def _write_names(group, name, names):
    data = np.array([n.encode("utf8") for n in names]) if names else np.array([], np.float64)
    chunks = 1
    while data.nbytes // chunks > _HEADER_LIMIT:
        chunks += 1
    if chunks == 1:
        group.attrs[name] = data
        return
    for i, part in enumerate(np.array_split(data, chunks)):
        group.attrs[f"{name}{i}"] = part


def read_names(group, name):
    """A list-of-strings attribute, also when split into ``name0``, ``name1``, ..."""
    def decode(values):
        return [v.decode("utf8") if hasattr(v, "decode") else str(v) for v in values]

    if name in group.attrs:
        return decode(group.attrs[name])
    out, i = [], 0
    while f"{name}{i}" in group.attrs:
        out.extend(decode(group.attrs[f"{name}{i}"]))
        i += 1
    return out


def _legacy_config(model):
    config = json_io.serialize_model(model)
    inner = dict(config["config"])
    keep = ("class_name", "config", "name", "inbound_nodes")
    inner["layers"] = [{k: e[k] for k in keep if k in e} for e in inner["layers"]]
    return {"class_name": config["class_name"], "config": inner}


def _training_config(model):
    config = compile_config.get_compile_config(model)
    if config is None:
        return None
    optimizer = config.pop("optimizer")
    config["optimizer_config"] = {"class_name": optimizer["class_name"],
                                  "config": optimizer["config"]}
    return config


def _write_group(group, prefix, entries):
    """Writes ``[(name, array)]`` as datasets under ``group`` and lists them in ``weight_names``."""
    names = [f"{prefix}/{name}" if prefix else name for name, _ in entries]
    _write_names(group, "weight_names", names)
    for name, (_, value) in zip(names, entries):
        group.create_dataset(name, data=np.asarray(value))


def save_h5(model, filepath, overwrite=True, include_optimizer=True):
    """Writes ``model`` in the legacy ``.h5`` format (loadable by Keras 3), atomically.

    Args:
        model: a numdense Sequential or functional model.
        filepath: target path (``.h5``).
        overwrite: whether an existing file may be replaced.
        include_optimizer: also write the training config and optimizer state.
    """
    h5py = require_h5py("save models in .h5 format")
    model_config = json.dumps(_legacy_config(model))
    training = _training_config(model) if include_optimizer else None
    with atomic_path(filepath, overwrite) as tmp:
        with h5py.File(tmp, "w") as f:
            f.attrs["backend"] = "numdense"
            f.attrs["keras_version"] = _FORMAT_VERSION
            f.attrs["model_config"] = model_config
            if training is not None:
                f.attrs["training_config"] = json.dumps(training)
            write_weights_group(f.create_group("model_weights"), model)
            optimizer = getattr(model, "optimizer", None)
            if training is not None and optimizer is not None and optimizer.built:
                group = f.create_group("optimizer_weights")
                _write_group(group, "", [(v.path, v.numpy()) for v in optimizer.variables])


def write_weights_group(group, model):
    """Writes the model's layer weights in the legacy layout into ``group``."""
    group.attrs["backend"] = "numdense"
    group.attrs["keras_version"] = _FORMAT_VERSION
    _write_names(group, "layer_names", [layer.name for layer in model.layers])
    for layer in model.layers:
        entries = [(v.name, v.numpy()) for v in layer.weights]
        _write_group(group.create_group(layer.name), f"{model.name}/{layer.name}", entries)
    _write_names(group.create_group("top_level_model_weights"), "weight_names", [])


def _dataset(group, name, where):
    h5py = require_h5py()
    link = group.get(name, getlink=True)
    if link is None:
        raise ValueError(f"Invalid .h5 file: '{where}' lists weight '{name}' but does not hold it.")
    if not isinstance(link, h5py.HardLink):
        raise ValueError(f"Invalid .h5 file: weight '{where}/{name}' is a {type(link).__name__}.")
    obj = group[name]
    if not isinstance(obj, h5py.Dataset) or obj.external or obj.is_virtual:
        raise ValueError(f"Invalid .h5 file: '{where}/{name}' is not a plain dataset.")
    return np.asarray(obj[()])


def plan_weights(group, model, skip_mismatch=False):
    """``[(variable, array)]`` for the model from a legacy ``model_weights`` group, all checked
    (layer count, weight counts and shapes) before anything is assigned."""
    layers = [layer for layer in model.layers if layer.weights]
    names = [n for n in read_names(group, "layer_names") if read_names(group[n], "weight_names")]
    if len(names) != len(layers):
        raise ValueError(
            "Layer count mismatch when loading weights from file. Model expected "
            f"{len(layers)} layers with weights, found {len(names)} saved layers."
        )
    pairs, problems = [], []
    for k, (name, layer) in enumerate(zip(names, layers)):
        weight_names = read_names(group[name], "weight_names")
        values = [_dataset(group[name], w, name) for w in weight_names]
        variables = layer.weights
        if len(values) != len(variables):
            raise ValueError(
                f"Weight count mismatch for layer #{k} (named {layer.name} in the current "
                f"model, {name} in the save file). Layer expects {len(variables)} weight(s). "
                f"Received {len(values)} saved weight(s)."
            )
        bad = [(v, a) for v, a in zip(variables, values) if tuple(a.shape) != v.shape
               or a.dtype.kind not in "biuf"]
        for v, a in bad:
            problems.append(f"layer '{layer.name}' weight '{v.name}' has shape {v.shape}, the "
                            f"file ('{name}') has {a.shape} ({a.dtype})")
        if not bad:
            pairs.extend(zip(variables, values))
    if problems:
        message = "Cannot load weights: " + "; ".join(problems) + "."
        if not skip_mismatch:
            raise ValueError(message)
        warnings.warn(message + " Those layers were skipped.", stacklevel=3)
    return pairs


def _attr_text(f, name):
    value = f.attrs.get(name)
    if value is not None and hasattr(value, "decode"):
        value = value.decode("utf-8")
    return value


def _optimizer_pairs(f, model):
    optimizer = model.optimizer
    if "optimizer_weights" not in f or optimizer is None:
        return []
    group = f["optimizer_weights"]
    values = [_dataset(group, n, "optimizer_weights") for n in read_names(group, "weight_names")]
    if not optimizer.built:
        optimizer.build(model.trainable_weights)
    variables = optimizer.variables
    if len(values) != len(variables) or any(
            tuple(a.shape) != v.shape for v, a in zip(variables, values)):
        warnings.warn(
            "Error in loading the saved optimizer state (it does not match "
            f"'{optimizer.name}'). As a result, your model is starting with a freshly "
            "initialized optimizer.", stacklevel=3)
        return []
    return list(zip(variables, values))


def load_h5(filepath, custom_objects=None, compile=True):
    """Loads a legacy ``.h5`` model file (Keras 2 or 3, or numdense's).

    Args:
        filepath: path to the ``.h5`` file.
        custom_objects: optional dict of extra layer classes by name.
        compile: restore the training config and optimizer state when present.
    """
    with open_h5(filepath) as f:
        text = _attr_text(f, "model_config")
        if text is None:
            hint = (" It looks like a weights-only file: build the model and call "
                    "`load_weights`." if "layer_names" in f.attrs or "layers" in f else "")
            raise ValueError(f"No model config found in the file at {filepath}.{hint}")
        try:
            config = json.loads(text)
        except ValueError as e:
            raise ValueError(f"Invalid model_config in {filepath}: {e}") from None
        archive_limits.check_config_size(config, os.path.getsize(filepath), filepath)
        model = json_io.deserialize_model(config, custom_objects, compile=False)
        if "model_weights" not in f:
            raise ValueError(f"Invalid .h5 model file {filepath}: no 'model_weights' group.")
        pairs = plan_weights(f["model_weights"], model)
        training = _attr_text(f, "training_config") if compile else None
        if training is not None:
            compile_config.compile_from_config(model, json.loads(training))
            pairs += _optimizer_pairs(f, model)
    for variable, value in pairs:
        variable.assign(value)
    return model


def open_h5(filepath):
    """``h5py.File(filepath, "r")``, with a ValueError for a file that is not HDF5 or whose
    datasets declare far more bytes than the file holds (checked before anything is read)."""
    h5py = require_h5py("load .h5 files")
    try:
        f = h5py.File(filepath, "r")
    except OSError as e:
        raise ValueError(f"Cannot load {filepath}: not a readable HDF5 file ({e}).") from None
    try:
        archive_limits.check_declared_datasets(f, os.path.getsize(filepath), filepath)
    except BaseException:
        f.close()
        raise
    return f
