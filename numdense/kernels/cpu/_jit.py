"""The one place where numdense's CPU kernels get their Numba options.

``cache=True`` (compiled code reused by the next process) unless ``NUMDENSE_CACHE=0``;
``nogil=True`` so kernels can run from several Python threads; ``error_model="numpy"`` so
division by zero gives inf/nan as in NumPy instead of raising (and without the check's cost).
"""

import os

import numba
from llvmlite import ir
from numba import types
from numba.extending import intrinsic

from . import _threading  # noqa: F401  (threading-layer policy must be set before first prange)

CACHE = os.environ.get("NUMDENSE_CACHE", "1").strip().lower() not in ("0", "false", "no", "off")


def kernel(fn=None, *, refcounted=True, **options):
    """``numba.njit`` with numdense's defaults; usable as ``@kernel`` or ``@kernel(parallel=True)``.

    ``refcounted=False`` compiles a function without Numba's reference counting: no
    ``NRT_incref`` / ``NRT_decref`` call (each a call into the runtime, a quarter of a tiny
    model's training step) on the array views it makes. Such a function cannot allocate or
    return a view (Numba refuses to compile either), must not call a kernel that returns a
    new array (that count would never be given back), and only borrows arrays that its caller
    keeps alive. The functions it calls keep their own counting: every kernel sets ``_nrt``
    explicitly, because a Numba callee otherwise inherits the flag of the first caller that
    compiles it, and a view returned without its count would later be released once too
    often by a counting caller.
    """
    options.setdefault("cache", CACHE)
    options.setdefault("nogil", True)
    options.setdefault("error_model", "numpy")
    options["_nrt"] = bool(refcounted)
    if fn is None:
        return lambda f: numba.njit(**options)(f)
    return numba.njit(**options)(fn)


def same_dtype(*arrays):
    """True if every array has one dtype; in compiled code, a constant of the argument types."""
    return len({a.dtype for a in arrays}) <= 1


@numba.extending.overload(same_dtype)
def _same_dtype_typed(*arrays):
    same = len({a.dtype for a in arrays}) <= 1
    return lambda *arrays: same


@intrinsic
def fma(typingctx, a, b, c):
    """``a * b + c`` rounded once (``llvm.fma``), in the widest float type of the three.

    Plain loops use it where they must round exactly as the fastmath ``contract`` kernels do
    (a fused multiply-add per step): a kernel inlined into its caller takes the caller's
    fastmath flags, not its own. (Mixed types are accepted so that a kernel which refuses
    mixed dtypes at run time still compiles for them.)
    """
    if not all(isinstance(t, types.Float) for t in (a, b, c)):
        return None
    wide = max((a, b, c), key=lambda t: t.bitwidth)

    def codegen(context, builder, sig, args):
        values = [context.cast(builder, v, t, wide) for v, t in zip(args, sig.args)]
        t = values[0].type
        fn = builder.module.declare_intrinsic("llvm.fma", [t], ir.FunctionType(t, [t, t, t]))
        return builder.call(fn, values)

    return wide(a, b, c), codegen


@intrinsic
def as_dtype_of(typingctx, value, like):
    """``value`` rounded to the dtype of the array ``like`` (a float32 model's loss overflows
    at 3.4e38, as Keras' float32 loss does), without the one-item array that a cast through
    memory needs: the training loop runs without reference counting, so it cannot allocate."""
    if not (isinstance(value, types.Float) and isinstance(like, types.Array)
            and isinstance(like.dtype, types.Float)):
        return None

    def codegen(context, builder, sig, args):
        return context.cast(builder, args[0], value, like.dtype)

    return like.dtype(value, like), codegen
