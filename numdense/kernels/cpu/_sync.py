"""Atomic int64 words, and ways to wait, for compiled code that talks to another thread
(``row_split``).

Numba has no atomics on the CPU, and it may keep a plain load out of a polling loop: these
intrinsics emit LLVM's atomic load, store and compare-and-swap on one item of a C-contiguous
int64 array, with acquire/release ordering, so that what a thread wrote before a release store
is visible to the thread whose acquire load sees that store. The waits (``cpu_relax``,
``yield_cpu``, ``sleep_microseconds``) hold no lock and no GIL; ``time_stamp`` reads the TSC.
"""

import llvmlite.binding as llvm
from llvmlite import ir
from numba import types
from numba.core.errors import TypingError
from numba.extending import intrinsic
from numba.np.arrayobj import make_array

_TRIPLE = llvm.get_process_triple()
X86 = _TRIPLE.split("-")[0] in ("x86_64", "i386", "i686")
POSIX = "windows" not in _TRIPLE and "win32" not in _TRIPLE  # sched_yield and usleep exist


def _item_pointer(context, builder, array_type, array, index, index_type):
    data = make_array(array_type)(context, builder, value=array).data
    return builder.gep(data, [context.cast(builder, index, index_type, types.intp)])


def _check(name, words, index, *values):
    if not (isinstance(words, types.Array) and words.ndim == 1 and words.layout == "C"
            and words.dtype == types.int64):
        raise TypingError(f"{name}: words must be a 1-D C-contiguous int64 array, got {words}")
    for v in (index, *values):
        if not isinstance(v, types.Integer):
            raise TypingError(f"{name}: expected an integer, got {v}")


@intrinsic
def load_acquire(typingctx, words, index):
    """words[index], read atomically with acquire ordering."""
    _check("load_acquire", words, index)

    def codegen(context, builder, sig, args):
        ptr = _item_pointer(context, builder, sig.args[0], args[0], args[1], sig.args[1])
        return builder.load_atomic(ptr, "acquire", 8)

    return types.int64(words, index), codegen


@intrinsic
def store_release(typingctx, words, index, value):
    """words[index] = value, written atomically with release ordering."""
    _check("store_release", words, index, value)

    def codegen(context, builder, sig, args):
        ptr = _item_pointer(context, builder, sig.args[0], args[0], args[1], sig.args[1])
        value = context.cast(builder, args[2], sig.args[2], types.int64)
        builder.store_atomic(value, ptr, "release", 8)
        return context.get_dummy_value()

    return types.void(words, index, value), codegen


@intrinsic
def compare_exchange(typingctx, words, index, expected, new):
    """If words[index] == expected, set it to new and return True; else return False. Atomic,
    acquire-release ordering."""
    _check("compare_exchange", words, index, expected, new)

    def codegen(context, builder, sig, args):
        ptr = _item_pointer(context, builder, sig.args[0], args[0], args[1], sig.args[1])
        old = context.cast(builder, args[2], sig.args[2], types.int64)
        new = context.cast(builder, args[3], sig.args[3], types.int64)
        pair = builder.cmpxchg(ptr, old, new, "acq_rel", "acquire")
        return builder.extract_value(pair, 1)

    return types.boolean(words, index, expected, new), codegen


@intrinsic
def cpu_relax(typingctx):
    """A spin-wait hint (x86 ``pause``: ~25 ns on Zen 3, ~40 ns on recent Intel cores): a
    polling loop uses less power and yields the core's pipeline to a sibling thread. A no-op
    elsewhere."""

    def codegen(context, builder, sig, args):
        if X86:
            fn = builder.module.declare_intrinsic(
                "llvm.x86.sse2.pause", [], ir.FunctionType(ir.VoidType(), []))
            builder.call(fn, [])
        return context.get_dummy_value()

    return types.void(), codegen


@intrinsic
def yield_cpu(typingctx):
    """``sched_yield()``: let another runnable thread have this core now (a thread polling for
    work should not hold a core that BLAS wants). ~0.6 us when nothing else is runnable. A no-op
    on Windows."""

    def codegen(context, builder, sig, args):
        if POSIX:
            builder.call(_libc(builder.module, "sched_yield", []), [])
        return context.get_dummy_value()

    return types.void(), codegen


@intrinsic
def sleep_microseconds(typingctx, microseconds):
    """``usleep(microseconds)``: sleep without spinning (the kernel's timer: 50 us or more
    late). A no-op on Windows, where callers must not rely on it."""
    if not isinstance(microseconds, types.Integer):
        raise TypingError(f"sleep_microseconds: expected an integer, got {microseconds}")

    def codegen(context, builder, sig, args):
        if POSIX:
            value = context.cast(builder, args[0], sig.args[0], types.uint32)
            builder.call(_libc(builder.module, "usleep", [ir.IntType(32)]), [value])
        return context.get_dummy_value()

    return types.void(microseconds), codegen


def _libc(module, name, arg_types):
    """The C library function ``int name(args)``, declared in ``module`` (the JIT resolves it
    in the running process, also for code loaded from Numba's cache)."""
    fn = module.globals.get(name)
    if fn is None:
        fn = ir.Function(module, ir.FunctionType(ir.IntType(32), arg_types), name)
    return fn


@intrinsic
def time_stamp(typingctx):
    """The x86 time-stamp counter (``rdtsc``: a constant rate near the nominal clock on current
    cores, ~10 ns to read) as an int64; 0 on other targets, whose ``llvm.readcyclecounter``
    may trap in user mode."""

    def codegen(context, builder, sig, args):
        if not X86:
            return context.get_constant(types.int64, 0)
        fn = builder.module.declare_intrinsic(
            "llvm.readcyclecounter", [], ir.FunctionType(ir.IntType(64), []))
        return builder.call(fn, [])

    return types.int64(), codegen
