"""Atomic int64 words, and ways to wait, for compiled code that talks to another thread
(``row_split``).

Numba has no atomics on the CPU, and it may keep a plain load out of a polling loop: these
intrinsics emit LLVM's atomic load, store and compare-and-swap on one item of a C-contiguous
int64 array, with acquire/release ordering, so that what a thread wrote before a release store
is visible to the thread whose acquire load sees that store. The waits (``cpu_relax``,
``yield_cpu``, ``cond_wait`` on a pthread condition) hold no other lock and no GIL;
``time_stamp`` reads the TSC, ``current_cpu`` and ``set_thread_affinity`` see and choose the
CPU.
"""

import llvmlite.binding as llvm
from llvmlite import ir
from numba import types
from numba.core.errors import TypingError
from numba.extending import intrinsic
from numba.np.arrayobj import make_array

_TRIPLE = llvm.get_process_triple()
X86 = _TRIPLE.split("-")[0] in ("x86_64", "i386", "i686")
POSIX = "windows" not in _TRIPLE and "win32" not in _TRIPLE  # sched_yield, pthreads
LINUX = "linux" in _TRIPLE  # sched_getcpu


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


# pthread objects live in caller-provided memory of this many bytes each (glibc: mutex 40,
# condition 48; macOS: 64 and 48).
PTHREAD_BYTES = 128


def _pthread_call(builder, name, pointers):
    """``int name(void *, ...)`` of libpthread/libc with ``pointers`` (i8* values); nothing on
    Windows, which has no pthreads (the helper that would block there never runs)."""
    if not POSIX:
        return ir.Constant(ir.IntType(32), 0)
    fn = _libc(builder.module, name, [ir.IntType(8).as_pointer()] * len(pointers))
    return builder.call(fn, pointers)


def _addresses(builder, values):
    i8p = ir.IntType(8).as_pointer()
    return [builder.inttoptr(v, i8p) for v in values]


def _check_addresses(name, *values):
    for v in values:
        if not isinstance(v, types.Integer):
            raise TypingError(f"{name}: expected an integer address, got {v}")


@intrinsic
def pthread_init(typingctx, mutex, cond):
    """``pthread_mutex_init(mutex, NULL)`` and ``pthread_cond_init(cond, NULL)`` on the
    ``PTHREAD_BYTES`` of memory at each address (int64)."""
    _check_addresses("pthread_init", mutex, cond)

    def codegen(context, builder, sig, args):
        m, c = _addresses(builder, args)
        null = ir.Constant(ir.IntType(8).as_pointer(), None)
        _pthread_call(builder, "pthread_mutex_init", [m, null])
        _pthread_call(builder, "pthread_cond_init", [c, null])
        return context.get_dummy_value()

    return types.void(mutex, cond), codegen


def _pthread_void(function, *addresses):
    """(signature, codegen) of ``function(addresses...)``, its int result dropped."""
    _check_addresses(function, *addresses)

    def codegen(context, builder, sig, args):
        _pthread_call(builder, function, _addresses(builder, args))
        return context.get_dummy_value()

    return types.void(*addresses), codegen


@intrinsic
def mutex_lock(typingctx, mutex):
    """``pthread_mutex_lock(mutex)``."""
    return _pthread_void("pthread_mutex_lock", mutex)


@intrinsic
def mutex_unlock(typingctx, mutex):
    """``pthread_mutex_unlock(mutex)``."""
    return _pthread_void("pthread_mutex_unlock", mutex)


@intrinsic
def cond_wait(typingctx, cond, mutex):
    """``pthread_cond_wait(cond, mutex)``: the mutex held, sleep until signalled (or a spurious
    wake-up: callers re-check their condition)."""
    return _pthread_void("pthread_cond_wait", cond, mutex)


@intrinsic
def cond_signal(typingctx, cond):
    """``pthread_cond_signal(cond)``: wake one waiter."""
    return _pthread_void("pthread_cond_signal", cond)


@intrinsic
def current_cpu(typingctx):
    """The CPU this thread runs on (``sched_getcpu()``, ~20 ns through the vDSO); -1 where Linux's
    call does not exist."""

    def codegen(context, builder, sig, args):
        if not LINUX:
            return context.get_constant(types.int64, -1)
        value = builder.call(_libc(builder.module, "sched_getcpu", []), [])
        return builder.sext(value, ir.IntType(64))

    return types.int64(), codegen


@intrinsic
def set_thread_affinity(typingctx, words, start):
    """``sched_setaffinity(0, 128, &words[start])``: run this thread only on the CPUs whose bits
    are set in the 16 int64 words from ``start`` (a ``cpu_set_t``); returns the call's result.
    Linux only (-1 elsewhere)."""
    _check("set_thread_affinity", words, start)

    def codegen(context, builder, sig, args):
        if not LINUX:
            return context.get_constant(types.int64, -1)
        ptr = _item_pointer(context, builder, sig.args[0], args[0], args[1], sig.args[1])
        i8p, i32, i64 = ir.IntType(8).as_pointer(), ir.IntType(32), ir.IntType(64)
        fn = _libc(builder.module, "sched_setaffinity", [i32, i64, i8p])
        result = builder.call(fn, [i32(0), i64(128), builder.bitcast(ptr, i8p)])
        return builder.sext(result, i64)

    return types.int64(words, start), codegen
