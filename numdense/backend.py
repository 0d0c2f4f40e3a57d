"""The active device: which kernel set runs, and where arrays live.

The CPU kernel set (``numdense.kernels.cpu``) is always present. Everything device-specific
(allocation, host/device transfer, the kernel module) is reached through this module so that
the API layer never imports ``numba.cuda`` itself.
"""

import contextlib
import importlib
import os

import numpy as np

_DEVICES = ("cpu", "cuda")
_device = None


def _check_name(name):
    if not isinstance(name, str) or name.lower() not in _DEVICES:
        raise ValueError(f"Unknown device {name!r}. Expected one of {list(_DEVICES)}.")
    return name.lower()


def _cuda_problem():
    """Why the CUDA kernel set cannot be used here, or None."""
    try:
        importlib.import_module("numdense.kernels.cuda.matmul")
    except ImportError:
        return (
            "numdense's CUDA kernel set is not part of this installation yet; "
            "use the CPU device (nd.set_device('cpu'))."
        )
    try:
        from numba import cuda
    except ImportError as exc:  # pragma: no cover - numba always ships numba.cuda today
        return f"numba.cuda cannot be imported ({exc}); install the extra: pip install 'numdense[cuda]'."
    if not cuda.is_available():
        return (
            "no usable NVIDIA GPU or driver was found by numba.cuda "
            "(check `nvidia-smi`, or install the extra: pip install 'numdense[cuda]')."
        )
    return None


def set_device(name):
    """Selects the device on which models built from now on keep their weights.

    Args:
        name: ``"cpu"`` or ``"cuda"``.

    Raises:
        ValueError: for an unknown name.
        RuntimeError: when CUDA is asked for but cannot be used; the message says why.
    """
    global _device
    name = _check_name(name)
    if name == "cuda":
        problem = _cuda_problem()
        if problem:
            raise RuntimeError(f"Cannot use the 'cuda' device: {problem}")
    _device = name


def get_device():
    """The active device name (``NUMDENSE_DEVICE`` or ``"cpu"`` by default)."""
    global _device
    if _device is None:
        set_device(os.environ.get("NUMDENSE_DEVICE", "cpu"))
    return _device


@contextlib.contextmanager
def device(name):
    """Context manager: ``with nd.device("cuda"): ...`` builds models on that device."""
    global _device
    previous = _device
    set_device(name)
    try:
        yield
    finally:
        _device = previous


def kernels(name=None):
    """The kernel module of a device (default: the active one)."""
    name = _check_name(name or get_device())
    return importlib.import_module(f"numdense.kernels.{name}")


def clear_session():
    """Resets the automatic layer and model names (``dense``, ``dense_1``, ...)."""
    from numdense.utils import naming

    naming.reset()


# ----------------------------------------------------------------- arrays on a device
def is_device_array(a):
    """True for a numba CUDA device array (checked without importing ``numba.cuda``)."""
    return not isinstance(a, np.ndarray) and hasattr(a, "copy_to_host")


def to_device(array, dtype=None):
    """A C-contiguous CUDA device copy of a host array (a device array is returned as is)."""
    if is_device_array(array):
        return array
    from numba import cuda

    return cuda.to_device(np.ascontiguousarray(array, dtype=dtype))


def to_host(array):
    """A NumPy array: a device array is copied to the host, a NumPy array returned as is."""
    if is_device_array(array):
        return array.copy_to_host()
    return np.asarray(array)


def empty(shape, dtype, device="cpu"):
    """An uninitialised array on ``device`` ("cpu": NumPy, "cuda": numba device array)."""
    if device == "cuda":
        from numba import cuda

        return cuda.device_array(shape, dtype=dtype)
    return np.empty(shape, dtype=dtype)


CACHE_LINE_BYTES = 64


def aligned_empty(shape, dtype):
    """An uninitialised C-contiguous NumPy array whose data starts on a 64-byte cache line.

    Weights and optimizer slots live in such arrays. NumPy aligns its allocations to 16 bytes
    only, and a kernel that streams a weight matrix in 32-byte vectors splits every other load
    over two cache lines when the matrix starts 16 or 48 bytes into a line: ``model(x)`` of a
    784-128-10 MLP took 9.5-10 us against 8.0-8.5 us, depending on where the kernel landed.

    Args:
        shape: an int or a tuple of ints.
        dtype: the NumPy dtype.
    """
    dtype = np.dtype(dtype)
    shape = (int(shape),) if np.ndim(shape) == 0 else tuple(int(d) for d in shape)
    nbytes = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    raw = np.empty(nbytes + CACHE_LINE_BYTES, dtype=np.uint8)
    start = -raw.ctypes.data % CACHE_LINE_BYTES
    return raw[start:start + nbytes].view(dtype).reshape(shape)


def aligned_copy(array):
    """A C-contiguous copy of ``array`` (any array-like) in ``aligned_empty`` storage."""
    array = np.asarray(array)
    out = aligned_empty(array.shape, array.dtype)
    np.copyto(out, array)
    return out


def array_device(a):
    """The device an array lives on: ``"cuda"`` for a device array, else ``"cpu"``."""
    return "cuda" if is_device_array(a) else "cpu"


def kernel_module(name, device="cpu"):
    """The kernel module ``name`` (e.g. ``"dense"``) of a device's kernel set."""
    return importlib.import_module(f"numdense.kernels.{_check_name(device)}.{name}")
