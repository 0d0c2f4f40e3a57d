"""Host/device array helpers shared by the wrappers (never used inside kernels)."""

import numpy as np
from numba import cuda

FLOATS = (np.dtype(np.float32), np.dtype(np.float64))


def is_device(x):
    """True for a numba device array or any object exposing ``__cuda_array_interface__``."""
    if isinstance(x, np.ndarray):
        return False
    return hasattr(x, "copy_to_host") or hasattr(x, "__cuda_array_interface__")


def to_device(x, dtype=None):
    """``x`` as a C-contiguous numba device array (NumPy input is copied to the device)."""
    if is_device(x):
        if not hasattr(x, "copy_to_host"):  # CuPy, PyTorch, ...: a zero-copy view
            x = cuda.as_cuda_array(x)
        if dtype is not None and x.dtype != np.dtype(dtype):
            raise TypeError(f"device array has dtype {x.dtype}, expected {np.dtype(dtype)}")
        if not x.is_c_contiguous():
            raise ValueError("device arrays must be C-contiguous")
        return x
    return cuda.to_device(np.ascontiguousarray(x, dtype=dtype))


def float_dtype(func, *arrays):
    """float64 if any operand is float64, else float32; raises for other dtypes."""
    for x in arrays:
        if np.dtype(x.dtype) not in FLOATS:
            raise TypeError(f"{func}: arrays must have dtype float32 or float64, got {x.dtype}")
    return np.dtype(np.float64 if any(np.dtype(x.dtype) == np.float64 for x in arrays) else np.float32)


def check_ndim(func, name, x, ndim):
    if len(x.shape) != ndim:
        raise ValueError(f"{func}: {name} must be a {ndim}-D array, got shape {tuple(x.shape)}")


def empty(shape, dtype):
    return cuda.device_array(shape, dtype=dtype)


def finish(result, out, host):
    """The wrappers' return rule: ``out`` when given (a NumPy ``out`` receives a copy), else a
    NumPy array when every input was NumPy (``host``), else the device array."""
    if out is not None and not is_device(out):
        result.copy_to_host(out)
        return out
    if out is None and host:
        return result.copy_to_host()
    return result


def device_out(func, out, shape, dtype):
    """A device array to write into: ``out`` itself when it is a device array, else a new one."""
    if out is None:
        return empty(shape, dtype)
    if tuple(out.shape) != tuple(shape) or np.dtype(out.dtype) != dtype:
        raise ValueError(f"{func}: out must have shape {tuple(shape)} and dtype {dtype}, got {tuple(out.shape)} {out.dtype}")
    return to_device(out)  # a NumPy out is copied up: accumulate reads its values
