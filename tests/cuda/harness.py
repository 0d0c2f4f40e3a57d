"""One way to run a kernel on either kernel set: ``run(backend, module, func, *args, outs=...)``.

On "cpu" the NumPy arguments go straight to ``numdense.kernels.cpu.<module>.<func>``; on "cuda"
every ndarray argument is copied to the device, the ``numdense.kernels.cuda`` twin runs, and the
arrays named in ``outs`` (argument positions) are copied back into the caller's NumPy arrays. So a
test writes its NumPy reference once and checks both sets with the same assertions.
"""

import importlib

import numpy as np
import pytest

BACKENDS = ["cpu", "cuda"]
backends = pytest.mark.parametrize("backend", BACKENDS)


def module(backend, name):
    return importlib.import_module(f"numdense.kernels.{backend}.{name}")


def run(backend, name, func, *args, outs=(), host=()):
    """Calls ``func`` of kernel module ``name``; returns its return value. Arrays at ``outs``
    positions hold the results afterwards (in place) on both backends; arrays at ``host``
    positions stay NumPy arrays on "cuda" too (host-side arguments such as optimizer ``hp``)."""
    fn = getattr(module(backend, name), func)
    if backend == "cpu":
        return fn(*args)
    from numba import cuda

    dev = [cuda.to_device(a) if isinstance(a, np.ndarray) and i not in host else a for i, a in enumerate(args)]
    result = fn(*dev)
    for i in outs:
        args[i][...] = dev[i].copy_to_host()
    return result


def tol(dtype):
    return {"rtol": 2e-5, "atol": 2e-6} if np.dtype(dtype) == np.float32 else {"rtol": 1e-12, "atol": 1e-13}


def assert_close(actual, expected, dtype, scale=1.0):
    t = tol(dtype)
    np.testing.assert_allclose(actual, expected, rtol=t["rtol"] * scale, atol=t["atol"] * scale)
