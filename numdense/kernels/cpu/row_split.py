"""A few-row product on two cores: the caller sums the first half of the depth, a helper thread
the second, and the caller adds the two.

``model(x)`` for one sample is a GEMV that streams the first layer's kernel from L2 (784 x 128
float32: 401 KB, ~5 us on one core). A parallel region costs more than the half it would save,
so during a burst of calls a helper thread (``numdense.row_helper``) polls a control block, and
a caller hands it the second half of the kernel's rows. (Halves of the columns were tried first:
a core streams half of every row at little more than half its full rate.)

The result does not depend on who computed what: every product of these shapes is the sum of the
two halves, each in ``small_nn``'s order, whether the helper took its half or not. A job nobody
has claimed when the caller finishes its half is claimed by the caller, so a helper that stops
polling, is never started, or does not exist in a forked child costs a few atomic operations
and never a wait.

The control block is a process-wide array of int64 words, each hot word on its own cache line,
registered as a linker symbol so that kernels loaded from Numba's cache in a new process find
this process's block.
"""

import llvmlite.binding as llvm
import numpy as np
from llvmlite import ir
from numba import types
from numba.extending import intrinsic

from ._sync import (LINUX, PTHREAD_BYTES, X86, compare_exchange, cond_signal, cond_wait,
                    cpu_relax, current_cpu, load_acquire, mutex_lock, mutex_unlock, pthread_init,
                    set_thread_affinity, store_release, time_stamp, yield_cpu)
from ._gemm import MR, flag, small_nn_depth
from ._jit import kernel
from ._views import _array_at, at2

# Words of the control block (int64 indices; 8 words = one cache line).
SEQUENCE = 0  # the last job published
CLAIMED = 8  # the last job claimed, by the helper or by its caller
DONE = 16  # the last job the helper finished
POLLING = 24  # 1 while the helper polls for jobs
BUSY = 32  # 1 while a caller owns the job slot (one job at a time)
STOP = 40  # 1 asks the helper to return
JOB = 48  # dtype (0 float32, 1 float64), a, b, partial-sum addresses, m, k, n, split depth
HELPED = 56  # how many jobs the helper has run (it alone writes it)
WANTED = 64  # set by a caller that wants the helper to poll again
SERVING = 72  # 1 while the helper is in serve_splits (polling or blocked)
LAST_CALL = 80  # the time stamp of the last small_nn_split call
BLOCKED = 88  # 1 while the helper is (about to be) blocked on its condition variable
MUTEX = 96  # the addresses of the helper's pthread mutex and condition variable
COND = 97
CALLER_CPU = 104  # the CPU of the last caller that published a job
ALLOWED_CPUS = 112  # 16 words: the CPUs the process may use (a cpu_set_t), set at start
AFFINITY = 128  # 16 words: the helper's own CPU set, built when it moves off a caller's CPU
WORDS = 144

# pthreads to block on, the TSC to see a burst, sched_getcpu to see the two threads on one CPU
HELPER_PLATFORM = LINUX and X86
BURST_TICKS = 750_000  # calls this close (0.25 ms at 3 GHz) make a burst that wakes the helper

MAX_ROWS = MR - 1  # the small path's row counts
# The first idle polls only pause (~13 us on Zen 3): the gaps inside a burst of calls are shorter,
# and a job then waits for no system call. Later, one poll in YIELD_EVERY is a sched_yield: a
# runnable thread (an OpenBLAS worker) waits for the core less than a microsecond.
EAGER_POLLS = 512
YIELD_EVERY = 8
YIELD_EVERY_WAITING = 64  # a caller waiting for the helper's half yields every ~1.6 us
SPLIT_WEIGHTS = 1 << 15  # a split saves half the product and costs ~0.5 us of handshakes
_LINE = 64

_SYMBOL = "numdense_row_split_words_v1"


def _zeros_on_a_line(nbytes):
    # (numdense.backend.aligned_empty does this for weights; the kernels do not import the
    # layers' backend.)
    raw = np.zeros(nbytes + _LINE, dtype=np.uint8)
    start = -raw.ctypes.data % _LINE
    return raw[start:start + nbytes]


words = _zeros_on_a_line(8 * WORDS).view(np.int64)  # this process's control block
llvm.add_symbol(_SYMBOL, words.ctypes.data)
_pthread_memory = _zeros_on_a_line(2 * PTHREAD_BYTES)  # kept alive: the helper blocks in it
_pthread_base = _pthread_memory.ctypes.data


@intrinsic
def control_words(typingctx):
    """The control block as a (WORDS,) int64 array, from its linker symbol."""
    sig = types.Array(types.int64, 1, "C")()

    def codegen(context, builder, sig, args):
        module = builder.module
        block = module.globals.get(_SYMBOL)
        if block is None:
            block = ir.GlobalVariable(module, ir.ArrayType(ir.IntType(64), WORDS), _SYMBOL)
            block.linkage = "external"
        address = builder.ptrtoint(block, ir.IntType(64))
        return _array_at(context, builder, sig.return_type, address,
                         [context.get_constant(types.intp, WORDS)])

    return sig, codegen


@kernel
def worth_splitting(m, n, k_len):
    """True when an (m, k) @ (k, n) product takes ``small_nn_split``: a few rows against a kernel
    big enough to be worth a second core. It does not depend on m otherwise, so one row of a
    batch of up to ``MAX_ROWS`` comes out the same whatever the batch size."""
    return m <= MAX_ROWS and k_len >= 64 and n * k_len >= SPLIT_WEIGHTS


@kernel(inline="always")
def split_depth(k_len):
    """Where the second half of the depth starts: a multiple of four (``small_nn`` takes the
    depth four rows at a time)."""
    return k_len // 8 * 4


@kernel
def small_nn_split(a, b, out):
    """out = a[:, :k0] @ b[:k0] + a[:, k0:] @ b[k0:] with k0 = ``split_depth(K)``, each term in
    ``small_nn``'s order; the second term on the helper thread if it is polling and the job slot
    is free, else on this thread (the same bits either way). A call within ``BURST_TICKS`` of
    the previous one wakes a sleeping helper.

    a (M, K), b (K, N), out (M, N): C-contiguous, one float dtype, out not overlapping a or b.
    """
    w = control_words()
    m, k_len = a.shape
    n = b.shape[1]
    k0 = split_depth(k_len)
    second = np.empty((m, n), dtype=out.dtype)
    now = time_stamp()
    last = w[LAST_CALL]
    w[LAST_CALL] = now  # callers on other threads may race here: it only times bursts
    polling = load_acquire(w, POLLING) != 0
    if not polling and now - last < BURST_TICKS and load_acquire(w, SERVING) != 0:
        wake_helper()  # a burst
    if polling and compare_exchange(w, BUSY, 0, 1):
        w[JOB] = 0 if out.itemsize == 4 else 1
        w[JOB + 1] = a.ctypes.data
        w[JOB + 2] = b.ctypes.data
        w[JOB + 3] = second.ctypes.data
        w[JOB + 4] = m
        w[JOB + 5] = k_len
        w[JOB + 6] = n
        w[JOB + 7] = k0
        w[CALLER_CPU] = current_cpu()
        job = w[SEQUENCE] + 1  # only the slot's owner writes SEQUENCE
        store_release(w, SEQUENCE, job)
        small_nn_depth(a, b, out, 0, k0, flag(False))
        if compare_exchange(w, CLAIMED, job - 1, job):  # the helper never took it
            small_nn_depth(a, b, second, k0, k_len, flag(False))
        else:
            waited = 0
            while load_acquire(w, DONE) != job:
                # The helper took the job; if it shares this core (the scheduler may put both
                # threads on one), it can only finish once this thread lets it run.
                waited += 1
                if waited % YIELD_EVERY_WAITING == 0:
                    yield_cpu()
                else:
                    cpu_relax()
        store_release(w, BUSY, 0)
    else:
        small_nn_depth(a, b, out, 0, k0, flag(False))
        small_nn_depth(a, b, second, k0, k_len, flag(False))
    for i in range(m):
        for j in range(n):
            out[i, j] += second[i, j]


@kernel(inline="always")
def _run_job(w, like):
    m, k_len, n = w[JOB + 4], w[JOB + 5], w[JOB + 6]
    small_nn_depth(at2(w[JOB + 1], m, k_len, like), at2(w[JOB + 2], k_len, n, like),
                   at2(w[JOB + 3], m, n, like), w[JOB + 7], k_len, flag(False))


@kernel
def _move_off(w, cpu):
    # On the caller's CPU the helper only takes turns with it, and the scheduler may keep the two
    # there for many milliseconds (both were cache-hot): run anywhere else the process may.
    if cpu >= 1024:
        return
    for i in range(16):
        w[AFFINITY + i] = w[ALLOWED_CPUS + i]
    w[AFFINITY + cpu // 64] &= ~(1 << (cpu % 64))
    others = 0
    for i in range(16):
        others |= w[AFFINITY + i]
    if others != 0:
        set_thread_affinity(w, AFFINITY)


@kernel(inline="always")
def _poll(w, window, like32, like64):
    idle_since = time_stamp()
    idle = 0
    while load_acquire(w, STOP) == 0:
        job = load_acquire(w, SEQUENCE)
        if job != load_acquire(w, CLAIMED) and compare_exchange(w, CLAIMED, job - 1, job):
            if w[JOB] == 0:
                _run_job(w, like32)
            else:
                _run_job(w, like64)
            w[HELPED] += 1
            store_release(w, DONE, job)
            idle = 0
            idle_since = time_stamp()
        else:
            idle += 1
            if idle > EAGER_POLLS and idle % YIELD_EVERY == 0:
                if time_stamp() - idle_since > window:
                    return
                cpu = current_cpu()
                if cpu >= 0 and load_acquire(w, CALLER_CPU) == cpu:
                    _move_off(w, cpu)
                yield_cpu()
            else:
                cpu_relax()


@kernel
def serve_splits(window):
    """The helper thread's loop, run without the GIL until STOP is set.

    Polls for the jobs ``small_nn_split`` publishes until ``window`` TSC ticks pass without one
    (a ``pause`` per poll; past ``EAGER_POLLS``, every ``YIELD_EVERY``-th a ``sched_yield``), then
    blocks on its condition variable until ``wake_helper`` signals it.
    """
    w = control_words()
    like32 = np.empty((0, 0), dtype=np.float32)
    like64 = np.empty((0, 0), dtype=np.float64)
    store_release(w, SERVING, 1)
    while load_acquire(w, STOP) == 0:
        store_release(w, WANTED, 0)  # before POLLING: a caller that sees it 0 sets WANTED after
        store_release(w, POLLING, 1)
        _poll(w, window, like32, like64)
        store_release(w, POLLING, 0)
        store_release(w, BLOCKED, 1)
        mutex_lock(w[MUTEX])
        while (load_acquire(w, BLOCKED) == 1 and load_acquire(w, WANTED) == 0
               and load_acquire(w, STOP) == 0):
            cond_wait(w[COND], w[MUTEX])
        mutex_unlock(w[MUTEX])
        store_release(w, BLOCKED, 0)
    store_release(w, SERVING, 0)


@kernel
def wake_helper():
    """Ask the helper to poll; if it is blocked, signal its condition variable (one waker does:
    the compare-and-swap on BLOCKED picks it; the mutex keeps the signal from coming between
    the helper's last look at BLOCKED and its wait)."""
    w = control_words()
    store_release(w, WANTED, 1)
    if compare_exchange(w, BLOCKED, 1, 0):
        mutex_lock(w[MUTEX])
        cond_signal(w[COND])
        mutex_unlock(w[MUTEX])


@kernel
def init_blocking():
    """Initialise the helper's mutex and condition variable (before its thread starts; again in
    a forked child, whose copies may be in any state)."""
    w = control_words()
    pthread_init(w[MUTEX], w[COND])


def reset_words():
    """Zero the control block (a forked child: no helper, no job in flight)."""
    words[:] = 0
    words[MUTEX] = _pthread_base
    words[COND] = _pthread_base + PTHREAD_BYTES


reset_words()
