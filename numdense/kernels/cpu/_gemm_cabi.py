"""Expose a compiled kernel as a C symbol and call it by name from other kernels.

A Numba caller links its callees' LLVM IR and re-optimizes all of it, so each kernel (and each
user's compiled step) that calls the GEMM driver would pay seconds of cold compile again. Callers
of these symbols compile only a call; the kernel behind it is compiled once per dtype, and cached.
2-D arrays travel as (data pointer, rows, cols), 1-D ones as (data pointer, length), scalars as
int64 or float64.
"""

import llvmlite.binding as llvm
import numba
from llvmlite import ir
from numba import types
from numba.core import cgutils

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


def export(pyfunc, name, spec, version):
    """Compile ``pyfunc`` (already unpacking its C arguments) as one cfunc per float dtype and
    register each as ``numdense_<name>_<dtype>_v<version>``; returns {numba dtype: symbol}."""
    symbols = {}
    for t in (types.float32, types.float64):
        symbol = f"numdense_{name}_{t}_v{version}"
        cf = numba.cfunc(c_signature(t, spec), cache=CACHE, error_model="numpy")(pyfunc)
        llvm.add_symbol(symbol, cf.address)
        symbols[t] = (symbol, cf)
    return symbols


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
