"""Checks that make loading an untrusted ``.keras`` archive safe before anything is inflated
or allocated: member names, expansion ratios, and the sizes the file declares.

Keras stores archive members uncompressed and weights as plain HDF5 datasets, so a real file
is about as large as what it declares. A file declaring far more than it holds (a zip bomb, a
chunked dataset of terabytes, a config whose layers need terabytes) is refused with a
ValueError naming the file.
"""

import math
import posixpath

import numpy as np

# Declared sizes up to this are always accepted; above it they must be within _MAX_RATIO of the
# bytes actually stored.
SIZE_FLOOR = 16 << 20
MAX_RATIO = 100


def check_member_names(zf, filepath):
    """Refuses members whose names are absolute or climb out of the archive (``..``).

    Args:
        zf: the open ``zipfile.ZipFile``.
        filepath: the archive's path, for the message.
    """
    for name in zf.namelist():
        parts = name.replace("\\", "/")
        if (parts.startswith("/") or (len(parts) > 1 and parts[1] == ":")
                or ".." in posixpath.normpath(parts).split("/") or ".." in parts.split("/")):
            raise ValueError(
                f"Refusing to load {filepath}: the archive has an unsafe member name {name!r} "
                "(absolute or containing '..')."
            )


def check_expansion(info, filepath):
    """Refuses a member that would inflate to more than ``MAX_RATIO`` times its stored size.

    Args:
        info: the member's ``zipfile.ZipInfo``.
        filepath: the archive's path, for the message.
    """
    if info.file_size > SIZE_FLOOR and info.file_size > MAX_RATIO * max(info.compress_size, 1):
        raise ValueError(
            f"Refusing to read '{info.filename}' of {filepath}: implausible expansion ratio "
            f"({info.file_size} bytes declared, {info.compress_size} stored)."
        )


def _limit(stored_bytes):
    return max(SIZE_FLOOR, MAX_RATIO * stored_bytes)


def check_declared_datasets(h5file, stored_bytes, filepath):
    """Refuses an HDF5 file whose datasets declare more bytes than it can plausibly hold.

    Args:
        h5file: the open ``h5py.File``.
        stored_bytes: the size of the HDF5 data.
        filepath: the file's path, for the message.
    """
    import h5py

    declared = []

    def visit(name, obj):
        if isinstance(obj, h5py.Dataset):
            declared.append((name, math.prod(obj.shape or ()) * obj.dtype.itemsize))

    h5file.visititems(visit)
    total = sum(n for _, n in declared)
    if total > _limit(stored_bytes):
        name, size = max(declared, key=lambda item: item[1])
        raise ValueError(
            f"Refusing to load {filepath}: its weights declare {total} bytes (dataset '{name}' "
            f"alone {size} bytes) in {stored_bytes} bytes of data."
        )


def _dims(shape):
    return tuple(int(d) for d in shape[1:] if d is not None)


def _input_dims(config):
    inner = config.get("config") or {}
    layers = inner.get("layers") or []
    first = (layers[0].get("config") or {}) if layers else {}
    for shape in (first.get("batch_shape"), first.get("batch_input_shape"),
                  inner.get("build_input_shape"), (config.get("build_config") or {}).get("input_shape")):
        if shape:
            return _dims(shape)
    if first.get("input_shape"):
        return tuple(int(d) for d in first["input_shape"] if d is not None)
    return ()


def declared_parameters(config):
    """The number of weights a Sequential config's Dense layers create (layers whose shapes
    cannot be followed end the count)."""
    dims, total = _input_dims(config), 0
    for entry in (config.get("config") or {}).get("layers") or []:
        name, inner = entry.get("class_name"), entry.get("config") or {}
        build = (entry.get("build_config") or {}).get("input_shape")
        if build:
            dims = _dims(build)
        if name == "Dense":
            width, units = (dims[-1] if dims else 0), int(inner["units"])
            total += width * units + (units if inner.get("use_bias", True) else 0)
            dims = dims[:-1] + (units,)
        elif name == "Flatten":
            dims = (math.prod(dims),)
        elif name not in ("InputLayer", "Activation", "Dropout"):
            break
    return total


def check_config_size(config, stored_bytes, filepath):
    """Refuses a model config whose layers would allocate far more than the weights stored.

    Args:
        config: the model config dict.
        stored_bytes: the size of the weights data that must hold those weights.
        filepath: the file's path, for the message.
    """
    try:
        count = declared_parameters(config)
    except (TypeError, ValueError, KeyError, AttributeError, IndexError, OverflowError):
        return  # a malformed config: deserialization reports it
    size = count * np.dtype(np.float32).itemsize
    if size > _limit(stored_bytes):
        raise ValueError(
            f"Refusing to load {filepath}: its config declares {count} parameters "
            f"({size} bytes), but the file stores only {stored_bytes} bytes of weights."
        )
