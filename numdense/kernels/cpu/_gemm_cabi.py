"""Expose a compiled kernel as a C symbol and call it by name from other kernels.

A Numba caller links its callees' LLVM IR and re-optimizes all of it, so each kernel (and each
user's compiled step) that calls the GEMM driver would pay seconds of cold compile again. Callers
of these symbols compile only a call; the kernel behind it is compiled once per dtype, and cached.
2-D arrays travel as (data pointer, rows, cols), 1-D ones as (data pointer, length), scalars as
int64 or float64.
"""

import glob
import os
import re

import llvmlite.binding as llvm
from llvmlite import ir
from numba import types
from numba.core import cgutils, sigutils
from numba.core.ccallback import CFunc

from ._jit import CACHE


def c_signature(t, spec):
    """C argument types for ``spec``: 'a' 2-D array, 'v' 1-D array, 'i' int/bool, 'f' float64."""
    kinds = {
        "a": [types.CPointer(t), types.intp, types.intp],
        "v": [types.CPointer(t), types.intp],
        "i": [types.intp],
        "f": [types.float64],
    }
    return types.void(*[x for s in spec for x in kinds[s]])


class CSymbols:
    """C symbols of one kernel, one per float dtype: ``symbols[numba dtype]`` is
    ``(symbol, cfunc)``, the cfunc compiled (or loaded from the disk cache) and its symbol
    registered with LLVM on first access.

    At construction a dtype whose code is in the cache is loaded at once, because a cached
    caller may call its symbol. A dtype never compiled in this cache is left until a caller is
    compiled for it: a float32-only program never compiles the float64 variants (about 95 s of
    a cold first fit). When the cache holds an outdated copy, every dtype is compiled at once,
    as a cached caller of the old one may still be loaded.

    Args:
        make: ``make(numba dtype) -> (symbol, pyfunc, signature)``.
    """

    def __init__(self, make):
        self._make = make
        self._symbols = {}
        for t in _DTYPES:
            symbol, cf = self._cfunc(t)
            if _cache_status(cf) not in ("absent", "other dtypes"):
                self._register(t, symbol, cf)

    def _cfunc(self, t):
        symbol, pyfunc, sig = self._make(t)
        args, return_type = sigutils.normalize_signature(sig)
        cf = CFunc(pyfunc, (args, return_type), locals={}, options={"error_model": "numpy"})
        if CACHE:
            cf.enable_caching()
        return symbol, cf

    def _register(self, t, symbol, cf):
        cf.compile()
        llvm.add_symbol(symbol, cf.address)
        self._symbols[t] = (symbol, cf)

    def __getitem__(self, t):
        if t not in self._symbols:
            self._register(t, *self._cfunc(t))
        return self._symbols[t]


_DTYPES = (types.float32, types.float64)


def _cache_status(cf):
    """Whether the disk cache holds ``cf``'s code: "hit", "absent" (no cached code of this
    function at all), "other dtypes" (only a current index without this signature), or
    "stale" / "unknown" (compile now: a cached caller of an older copy may still be loaded and
    call the symbol; an unregistered symbol would crash it)."""
    if not CACHE:
        return "absent"  # no cache, so no cached caller either
    try:
        cache = cf._cache
        cache_file = cache._cache_file
        index = cache_file._load_index()
        key = cache._index_key(cf._sig, cf._targetdescr.target_context.codegen())
        # Cache files are named after the function's first line: an edit above it leaves the
        # old copy under another name.
        pattern = re.sub(r"-\d+\.py", "-*.py", glob.escape(cache_file._index_name))
        copies = glob.glob(os.path.join(cache_file._cache_path, pattern))
    except Exception:  # another Numba's internals: keep the eager behaviour
        return "unknown"
    if key in index:
        return "hit"
    if not copies:
        return "absent"
    if copies == [cache_file._index_path] and index:
        return "other dtypes"
    return "stale"


def export(pyfunc, name, spec, version):
    """``pyfunc`` (already unpacking its C arguments) as one cfunc per float dtype, registered
    as ``numdense_<name>_<dtype>_v<version>``; returns their ``CSymbols``."""

    def make(t):
        return f"numdense_{name}_{t}_v{version}", pyfunc, c_signature(t, spec)

    return CSymbols(make)


def emit_call(context, builder, sig, args, symbol):
    """Lower a call to ``symbol`` passing ``args`` (typed by ``sig``) in the C layout above."""
    values = []
    for ty, v in zip(sig.args, args):
        if isinstance(ty, types.Literal):
            v, ty = context.cast(builder, v, ty, types.unliteral(ty)), types.unliteral(ty)
        if isinstance(ty, types.Array):
            arr = context.make_array(ty)(context, builder, value=v)
            values += [arr.data, *cgutils.unpack_tuple(builder, arr.shape, ty.ndim)]
        elif isinstance(ty, types.Float):
            values.append(context.cast(builder, v, ty, types.float64))
        else:
            values.append(context.cast(builder, v, ty, types.intp))
    fnty = ir.FunctionType(ir.VoidType(), [v.type for v in values])
    builder.call(cgutils.get_or_insert_function(builder.module, fnty, symbol), values)
    return context.get_dummy_value()
