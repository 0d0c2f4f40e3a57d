"""h5py, imported on demand with an install hint (it is the optional ``h5`` extra)."""


def require_h5py(action="read or write HDF5 files"):
    """Returns the ``h5py`` module, or raises ImportError saying how to install it.

    Args:
        action: what needed it, for the message.
    """
    try:
        import h5py
    except ImportError:
        raise ImportError(
            f"numdense needs h5py to {action}. Install it with "
            "`pip install 'numdense[h5]'` (or `pip install h5py`)."
        ) from None
    return h5py


class h5_errors:
    """Context manager turning the low-level errors of a damaged HDF5 file (OSError, KeyError,
    RuntimeError from h5py) into a ValueError naming the file; so is a MemoryError, which only
    a file declaring absurd weight shapes causes.

    Args:
        filepath: the file being read, for the message.
    """

    def __init__(self, filepath):
        self.filepath = filepath

    def __enter__(self):
        return self

    def __exit__(self, kind, error, tb):
        if kind is not None and issubclass(kind, MemoryError):
            raise ValueError(
                f"Cannot load {self.filepath}: the shapes it declares are too large to allocate "
                f"({error})."
            ) from error
        if kind is not None and issubclass(kind, (OSError, KeyError, RuntimeError)) and not \
                issubclass(kind, FileNotFoundError):
            raise ValueError(
                f"Cannot read {self.filepath}: the file is corrupt or not in the expected "
                f"layout ({kind.__name__}: {error})."
            ) from error
        return False
