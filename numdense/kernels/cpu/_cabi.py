"""Kernels behind C symbols, compiled on first call, and the intrinsics that call them.

A Numba caller links its callees' LLVM IR and re-optimizes all of it, so each kernel (and each
user's compiled step) that calls the GEMM driver, or the loss or optimizer code of every kind,
would pay seconds of cold compile again. Callers of a ``CKernel`` compile only a call; the kernel
behind it is compiled once per dtype, and cached. 2-D arrays travel as (data pointer, rows,
cols), 1-D ones as (data pointer, length), scalars as int64 or float64; a kernel returns nothing
or a float64.

A kernel is compiled when it is first called, not at import: a float32 model never compiles the
float64 variants, a model of tiny layers never compiles the GEMM driver, and a step loop never
compiles the loss and optimizer rules it does not use (together minutes of a cold start). A
caller does not link the kernel's address; it loads it from a per-process slot registered at
import under a fixed name, so a caller loaded from Numba's cache in a fresh process finds the
slot whatever has been compiled. While the slot is empty, the call goes through a resolver (a
ctypes callback, so it takes the GIL) that compiles the kernel, fills the slot and returns the
address. A slot, once filled, never changes.

The resolver must not be reached from a worker thread of a parallel region whose launching thread
holds the GIL: the worker would wait for the GIL forever. numdense's kernels release the GIL
(``nogil``), call these symbols outside their parallel regions, and a kernel's own callees
(``needs``) are resolved before it.
"""

import contextlib
import ctypes
import sys
import threading
import traceback

import llvmlite.binding as llvm
import numba
from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.core.errors import TypingError

from ._jit import CACHE

_COMPILE_LOCK = threading.RLock()
_RESOLVER = ctypes.CFUNCTYPE(ctypes.c_void_p)
_BYTE_PTR = ir.IntType(8).as_pointer()
_DTYPES = (types.float32, types.float64)


def c_signature(t, spec, returns=types.void):
    """C argument types for ``spec``: 'a' 2-D array and 'v' 1-D array of dtype ``t``, 'd' 1-D
    float64 array, 'l' 1-D int64 array, 'i' int/bool, 'f' float64; ``returns``: void or
    float64."""
    kinds = {
        "a": [types.CPointer(t), types.intp, types.intp],
        "v": [types.CPointer(t), types.intp],
        "d": [types.CPointer(types.float64), types.intp],
        "l": [types.CPointer(types.int64), types.intp],
        "i": [types.intp],
        "f": [types.float64],
    }
    return returns(*[x for s in spec for x in kinds[s]])


class LazySymbol:
    """One kernel of one dtype behind a slot: ``address()`` compiles it on first use.

    ``needs``: symbols the kernel itself calls. They are compiled first, so that the kernel never
    reaches the resolver from a worker thread of a parallel region (where taking the GIL could
    wait forever on a caller that holds it).
    """

    def __init__(self, pyfunc, name, signature, needs=(), options=None,
                 compiling=contextlib.nullcontext):
        self.name = name
        self.slot_name = name + "_slot"
        self.resolver_name = name + "_resolve"
        self.signature = signature
        self._pyfunc = pyfunc
        self._needs = tuple(needs)
        self._options = dict(options or {})
        self._compiling = compiling  # a context manager factory around the compile
        self._cfunc = None
        self._slot = ctypes.c_void_p(0)
        self._resolver = _RESOLVER(self._resolve)  # kept alive with the symbol
        llvm.add_symbol(self.slot_name, ctypes.addressof(self._slot))
        llvm.add_symbol(self.resolver_name, ctypes.cast(self._resolver, ctypes.c_void_p).value)

    @property
    def compiled(self):
        """Whether the kernel has been compiled (or loaded from the cache) in this process."""
        return self._slot.value is not None

    def address(self):
        """The compiled kernel's address, compiling it (and what it calls) first if needed."""
        if self._slot.value is None:
            with _COMPILE_LOCK:
                if self._slot.value is None:
                    for need in self._needs:
                        need.address()
                    with self._compiling():
                        # _nrt set, not inherited from a loop compiled without counting.
                        self._cfunc = numba.cfunc(self.signature, cache=CACHE,
                                                  error_model="numpy", _nrt=True,
                                                  **self._options)(self._pyfunc)
                    self._slot.value = self._cfunc.address
        return self._slot.value

    def _resolve(self):
        try:
            return self.address()
        except BaseException:  # a callback cannot raise into compiled code
            print(f"numdense: compiling the C kernel {self.name} failed:", file=sys.stderr)
            traceback.print_exc()
            return None


class CKernel:
    """``pyfunc`` (taking its arguments in the C layout of ``spec``, see ``c_signature``) as one
    lazily compiled C symbol per float dtype, ``numdense_<name>_<dtype>_v<version>``.

    ``needs``: other CKernels that ``pyfunc`` calls. ``returns``: void or float64. The kernel
    cannot raise: its callers check what it would refuse. Index it by a Numba dtype for that
    dtype's ``LazySymbol``; ``call`` types and lowers a call from an intrinsic.
    """

    def __init__(self, pyfunc, name, spec, version, needs=(), returns=types.void):
        if not set(spec) & set("av"):
            raise ValueError(f"{name}: the spec needs an array of the kernel's dtype ('a' or 'v')")
        self.name = name
        self.spec = spec
        self.returns = returns
        self.symbols = {
            t: LazySymbol(pyfunc, f"numdense_{name}_{t}_v{version}", c_signature(t, spec, returns),
                          [n[t] for n in needs])
            for t in _DTYPES
        }

    def __getitem__(self, dtype):
        return self.symbols[dtype]

    def call(self, *args):
        """(signature, codegen) of an intrinsic that calls this kernel with ``args`` (Numba
        types, one per letter of the spec); a TypingError names what does not fit."""
        if len(args) != len(self.spec):
            raise TypingError(f"{self.name}: takes {len(self.spec)} arguments, got {len(args)}")
        dtypes = set()
        for i, (ty, s) in enumerate(zip(args, self.spec)):
            if s in "avdl":
                ndim = 2 if s == "a" else 1
                if not isinstance(ty, types.Array) or ty.ndim != ndim or ty.layout != "C":
                    raise TypingError(f"{self.name}: argument {i} must be a {ndim}-D C-contiguous "
                                      f"array, got {ty}")
                fixed = {"d": types.float64, "l": types.int64}.get(s)
                if fixed is not None and ty.dtype != fixed:
                    raise TypingError(f"{self.name}: argument {i} must be {fixed}, got {ty}")
                if fixed is None:
                    dtypes.add(ty.dtype)
            elif not isinstance(ty, (types.Integer, types.Boolean, types.Float)):
                raise TypingError(f"{self.name}: argument {i} must be a number, got {ty}")
        if not dtypes <= set(_DTYPES):
            raise TypingError(f"{self.name}: the arrays must be float32 or float64; got "
                              f"{sorted(map(str, dtypes))}")
        if len(dtypes) > 1:
            # The public kernels check ``same_dtype`` at run time and raise a TypeError before
            # this call, but Numba types the call anyway: it compiles to a trap.
            def codegen(context, builder, sig, values):
                _emit_trap(builder)
                return _dummy_result(context, builder, self.returns)
        else:
            symbol = self.symbols[dtypes.pop()]

            def codegen(context, builder, sig, values):
                return emit_call(context, builder, sig, values, symbol)

        return self.returns(*args), codegen


def _emit_trap(builder):
    trap = builder.module.declare_intrinsic("llvm.trap", (), ir.FunctionType(ir.VoidType(), []))
    builder.call(trap, [])


def _dummy_result(context, builder, returns):
    if returns == types.void:
        return context.get_dummy_value()
    return context.get_constant(returns, 0.0)


def _declare_global(module, name):
    slot = module.globals.get(name)
    if slot is None:
        slot = ir.GlobalVariable(module, _BYTE_PTR, name)
        slot.linkage = "external"
    return slot


def emit_call(context, builder, sig, args, symbol):
    """Lower a call to ``symbol`` (a LazySymbol) passing ``args`` (typed by ``sig``) in its C
    layout; returns the kernel's float64 result when it has one."""
    c_args = iter(symbol.signature.args)
    values = []
    for ty, v in zip(sig.args, args):
        if isinstance(ty, types.Array):
            arr = context.make_array(ty)(context, builder, value=v)
            values += [arr.data, *cgutils.unpack_tuple(builder, arr.shape, ty.ndim)]
            for _ in range(ty.ndim + 1):
                next(c_args)
        else:
            if isinstance(ty, types.Literal):
                v, ty = context.cast(builder, v, ty, types.unliteral(ty)), types.unliteral(ty)
            values.append(context.cast(builder, v, ty, next(c_args)))
    result = emit_symbol_call(builder, symbol, values)
    return result if result is not None else context.get_dummy_value()


def emit_symbol_call(builder, symbol, values):
    """Lower a call to ``symbol`` with ``values``, LLVM values already in its C layout: load the
    address from the slot, through the resolver while it is empty. Returns the float64 result,
    or None for a kernel without one."""
    module = builder.module
    loaded = builder.load(_declare_global(module, symbol.slot_name))
    before = builder.block
    with builder.if_then(cgutils.is_null(builder, loaded), likely=False):
        resolver = cgutils.get_or_insert_function(module, ir.FunctionType(_BYTE_PTR, []),
                                                  symbol.resolver_name)
        resolved = builder.call(resolver, [])
        with builder.if_then(cgutils.is_null(builder, resolved), likely=False):
            # The resolver printed why; calling null would be worse than stopping here.
            _emit_trap(builder)
            builder.unreachable()
        after_resolve = builder.block
    address = builder.phi(_BYTE_PTR)
    address.add_incoming(loaded, before)
    address.add_incoming(resolved, after_resolve)
    returns = symbol.signature.return_type != types.void
    fnty = ir.FunctionType(ir.DoubleType() if returns else ir.VoidType(), [v.type for v in values])
    result = builder.call(builder.bitcast(address, fnty.as_pointer()), values)
    return result if returns else None
