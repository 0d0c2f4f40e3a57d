"""The Keras 3 ``.keras`` archive: a zip of ``metadata.json``, ``config.json`` and
``model.weights.h5`` (layout in ``weights_h5``)."""

import datetime
import io
import json
import zipfile

from numdense.saving import archive_limits, json_io, weights_h5
from numdense.saving._h5 import require_h5py
from numdense.saving.atomic import atomic_path

CONFIG = "config.json"
METADATA = "metadata.json"
WEIGHTS = "model.weights.h5"
# The Keras release whose format numdense writes (recorded in metadata.json, as Keras does).
KERAS_FORMAT_VERSION = "3.15.1"


def _metadata():
    from numdense import __version__ as numdense_version

    return {
        "keras_version": KERAS_FORMAT_VERSION,
        "date_saved": datetime.datetime.now().strftime("%Y-%m-%d@%H:%M:%S"),
        "saved_by": f"numdense {numdense_version}",
    }


def weights_bytes(model, include_optimizer=True):
    """The ``model.weights.h5`` file of ``model`` as bytes."""
    h5py = require_h5py("save models")
    buffer = io.BytesIO()
    with h5py.File(buffer, "w") as f:
        weights_h5.write_state(f, weights_h5.model_state(model, include_optimizer))
    return buffer.getvalue()


def save_keras(model, filepath, overwrite=True):
    """Writes ``model`` as a Keras 3 ``.keras`` archive, atomically.

    Args:
        model: a numdense Sequential (built, to have weights to save).
        filepath: target path (``.keras``).
        overwrite: whether an existing file may be replaced.
    """
    config_json = json.dumps(json_io.serialize_model(model))
    weights = weights_bytes(model)
    with atomic_path(filepath, overwrite) as tmp:
        with zipfile.ZipFile(tmp, "w") as zf:
            zf.writestr(METADATA, json.dumps(_metadata()))
            zf.writestr(CONFIG, config_json)
            zf.writestr(WEIGHTS, weights)


def _read_member(zf, name, filepath):
    try:
        info = zf.getinfo(name)
    except KeyError:
        raise ValueError(
            f"Invalid .keras file {filepath}: the archive has no '{name}' "
            f"(members: {zf.namelist()[:10]})."
        ) from None
    archive_limits.check_expansion(info, filepath)
    try:
        return zf.read(name)
    except (zipfile.BadZipFile, EOFError, OSError, NotImplementedError) as e:
        raise ValueError(f"Corrupt .keras file {filepath}: cannot read '{name}': {e}") from None


def read_archive(filepath):
    """Returns ``(config dict, weights bytes)`` from a ``.keras`` file; ValueError if it is
    not a readable Keras archive."""
    try:
        zf = zipfile.ZipFile(filepath, "r")
    except (zipfile.BadZipFile, EOFError) as e:
        raise ValueError(
            f"Cannot load {filepath}: not a valid .keras archive (zip): {e}. The file may be "
            "truncated or of another format."
        ) from None
    with zf:
        archive_limits.check_member_names(zf, filepath)
        config_bytes = _read_member(zf, CONFIG, filepath)
        weights = _read_member(zf, WEIGHTS, filepath)
    try:
        config = json.loads(config_bytes.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as e:
        raise ValueError(f"Invalid .keras file {filepath}: {CONFIG} is not valid JSON: {e}") from None
    return config, weights


def open_weights(data, filepath):
    """An ``h5py.File`` on weight bytes; ValueError if they are not HDF5."""
    h5py = require_h5py("load models")
    try:
        f = h5py.File(io.BytesIO(data), "r")
    except OSError as e:
        raise ValueError(f"Invalid weights in {filepath}: not a readable HDF5 file ({e}).") from None
    try:
        archive_limits.check_declared_datasets(f, len(data), filepath)
    except BaseException:
        f.close()
        raise
    return f


def load_keras(filepath, custom_objects=None, compile=True):
    """Loads a ``.keras`` archive (numdense's or Keras') into a new Sequential model.

    Args:
        filepath: path to the ``.keras`` file.
        custom_objects: optional dict of extra layer classes by name.
        compile: restore the compile config (optimizer, loss, metrics) and optimizer state.
    """
    config, weights = read_archive(filepath)
    archive_limits.check_config_size(config, len(weights), filepath)
    model = json_io.deserialize_model(config, custom_objects, compile=compile)
    with open_weights(weights, filepath) as f:
        state = weights_h5.read_state(f)
    weights_h5.apply_plan(weights_h5.plan_load(model, state))
    return model
