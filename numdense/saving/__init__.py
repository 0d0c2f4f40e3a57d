"""Saving and loading models in Keras' file formats.

* ``.keras`` (Keras 3 archive: ``config.json``, ``metadata.json``, ``model.weights.h5``),
  written by ``save_model`` and read by ``load_model``; Keras 3 reads numdense's files and
  numdense reads Keras' (Sequential and functional models of the layers numdense has).
* legacy ``.h5`` (Keras 2 / Keras 3 ``model.save("x.h5")``), read and written.
* ``.weights.h5`` (Keras 3 weights layout) through ``save_weights`` / ``load_weights``.
* JSON configs: ``to_json`` / ``model_from_json``.

Every file is written to a temporary file beside the target and moved into place, so a failed
save never leaves a truncated file. Loading checks the whole file against the model before any
weight is assigned. HDF5 needs ``h5py`` (``pip install 'numdense[h5]'``).
"""

import os

from numdense.saving import keras_archive, legacy_h5, weights_h5
from numdense.saving._h5 import h5_errors, require_h5py
from numdense.saving.atomic import atomic_path
from numdense.saving.compile_config import compile_from_config, get_compile_config
from numdense.saving.json_io import deserialize_model, model_from_json, serialize_model, to_json

__all__ = [
    "save_model", "load_model", "save_weights", "load_weights", "to_json", "model_from_json",
    "serialize_model", "deserialize_model", "get_compile_config", "compile_from_config",
]

_H5 = (".h5", ".hdf5")


def save_model(model, filepath, overwrite=True, zipped=None, **kwargs):
    """Saves a model to a ``.keras`` archive (or a legacy ``.h5`` file), atomically.

    Args:
        model: a numdense Sequential or functional model.
        filepath: path ending in ``.keras`` (or ``.h5``).
        overwrite: whether an existing file may be replaced.
        zipped: must be None or True (numdense writes zipped archives only).
        **kwargs: ``include_optimizer`` (``.h5`` only).
    """
    filepath = os.fspath(filepath)
    include_optimizer = kwargs.pop("include_optimizer", True)
    if kwargs:
        raise ValueError(f"The following argument(s) are not supported: {list(kwargs)}")
    if zipped is False:
        raise ValueError("numdense saves zipped `.keras` archives only (zipped=False is not "
                         "supported).")
    if filepath.endswith(".keras"):
        keras_archive.save_keras(model, filepath, overwrite)
    elif filepath.endswith(_H5):
        legacy_h5.save_h5(model, filepath, overwrite, include_optimizer)
    else:
        raise ValueError(
            "Invalid filepath extension for saving. Please add either a `.keras` extension "
            "for the native Keras format (recommended) or a `.h5` extension. Use "
            f"`model.export(filepath)` for other formats. Received: filepath={filepath}."
        )


def load_model(filepath, custom_objects=None, compile=True, safe_mode=True):
    """Loads a model saved as ``.keras`` or legacy ``.h5`` (by numdense or by Keras).

    Args:
        filepath: path to the file.
        custom_objects: optional dict of extra layer classes by name.
        compile: restore the compile config and optimizer state when the file has them.
        safe_mode: accepted for Keras compatibility (numdense never runs code from a file).

    Returns:
        A numdense ``Sequential`` or ``Functional`` model.

    Raises:
        ValueError: for a missing, corrupt, truncated or foreign file, an unsupported model
            type, layer or option (the message names it).
    """
    filepath = os.fspath(filepath)
    if not os.path.isfile(filepath):
        raise ValueError(f"File not found: filepath={filepath}. Please ensure the file is an "
                         "accessible `.keras` zip file.")
    with h5_errors(filepath):
        if filepath.endswith(".keras"):
            return keras_archive.load_keras(filepath, custom_objects, compile)
        if filepath.endswith(_H5):
            return legacy_h5.load_h5(filepath, custom_objects, compile)
    raise ValueError(
        f"File format not supported: filepath={filepath}. numdense supports `.keras` files "
        "and legacy H5 format files (`.h5` extension)."
    )


def _require_built(model, what):
    if not model.built:
        raise ValueError(
            f"You are {what} a model that has not yet been built. Try building the model "
            "first by calling it on some data or by using `build()`."
        )


def save_weights(model, filepath, overwrite=True):
    """Saves the model's (and its optimizer's) variables to a ``.weights.h5`` file.

    Args:
        model: a built numdense model.
        filepath: path ending in ``.weights.h5``.
        overwrite: whether an existing file may be replaced.
    """
    filepath = os.fspath(filepath)
    if not filepath.endswith(".weights.h5"):
        raise ValueError(f"The filename must end in `.weights.h5`. Received: filepath={filepath}")
    _require_built(model, "saving")
    h5py = require_h5py("save weights")
    state = weights_h5.model_state(model)
    with atomic_path(filepath, overwrite) as tmp:
        with h5py.File(tmp, "w") as f:
            weights_h5.write_state(f, state)


def _plan_from_h5(model, filepath, skip_mismatch):
    with legacy_h5.open_h5(filepath) as f:
        legacy = f["model_weights"] if "model_weights" in f else f
        if "layer_names" in legacy.attrs or "layer_names0" in legacy.attrs:
            return legacy_h5.plan_weights(legacy, model, skip_mismatch)
        return weights_h5.plan_load(model, weights_h5.read_state(f), skip_mismatch)


def load_weights(model, filepath, skip_mismatch=False):
    """Loads weights from ``.weights.h5``, ``.keras`` or legacy ``.h5`` into a built model.

    The whole file is checked against the model first: on any error nothing is changed.

    Args:
        model: a built numdense model.
        filepath: the weights (or model) file.
        skip_mismatch: warn and skip layers whose variable count or shapes differ.
    """
    filepath = os.fspath(filepath)
    _require_built(model, "loading weights into")
    if not os.path.isfile(filepath):
        raise ValueError(f"File not found: filepath={filepath}.")
    with h5_errors(filepath):
        if filepath.endswith(".keras"):
            _, data = keras_archive.read_archive(filepath)
            with keras_archive.open_weights(data, filepath) as f:
                plan = weights_h5.plan_load(model, weights_h5.read_state(f), skip_mismatch)
        elif filepath.endswith(_H5):
            plan = _plan_from_h5(model, filepath, skip_mismatch)
        else:
            raise ValueError(
                "File format not supported: filepath="
                f"{filepath}. Weights can be loaded from `.weights.h5`, `.keras` or `.h5` files."
            )
    weights_h5.apply_plan(plan)
