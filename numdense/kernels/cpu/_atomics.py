"""Atomic int64 words for compiled code that talks to another thread (``row_split``).

Numba has no atomics on the CPU, and it may keep a plain load out of a polling loop: these
intrinsics emit LLVM's atomic load, store and compare-and-swap on one item of a C-contiguous
int64 array, with acquire/release ordering, so that what a thread wrote before a release store
is visible to the thread whose acquire load sees that store.
"""

import llvmlite.binding as llvm
from llvmlite import ir
from numba import types
from numba.core.errors import TypingError
from numba.extending import intrinsic
from numba.np.arrayobj import make_array

_X86 = llvm.get_process_triple().split("-")[0] in ("x86_64", "i386", "i686")


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
        if _X86:
            fn = builder.module.declare_intrinsic(
                "llvm.x86.sse2.pause", [], ir.FunctionType(ir.VoidType(), []))
            builder.call(fn, [])
        return context.get_dummy_value()

    return types.void(), codegen
