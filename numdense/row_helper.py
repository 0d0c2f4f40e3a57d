"""The helper thread that lends few-row products a second core (``kernels/cpu/row_split``).

It is started when a model first plans a one-sample forward with a product worth splitting
(``Sequential``'s inference plan). From then on it lives in compiled code without the GIL until
it is stopped, blocked on a condition variable until calls come in a burst: the product kernel
itself sees a call within ~0.25 ms of the one before and signals it, so ``model(x)`` spends no
Python on it and an isolated call never wakes it. Awake, it polls for jobs until
~0.25 ms pass without one (``POLL_TICKS``; a ``pause`` per poll, and after the first ~13 us a
``sched_yield`` every eighth, so that a runnable thread such as an OpenBLAS worker gets the core
at once), then blocks again. Blocked, it costs nothing: no timer, no wake-ups.

It runs on x86-64 Linux (the kernel times bursts with the TSC; when the scheduler leaves it on
the caller's CPU, it moves itself off with ``sched_setaffinity``) with two or more cores,
unless Numba is limited to one thread when it would start (``numba.set_num_threads(1)``), the
environment variable ``NUMDENSE_ROW_HELPER=0`` is set, or ``set_enabled(False)`` is called.
Without it the same products run on the caller's thread, with the same bits.
"""

import atexit
import os
import threading

import numba

from numdense.kernels.cpu import row_split

POLL_TICKS = 750_000  # how long it polls without a job: TSC ticks, 0.25 ms at 3 GHz

_enabled = os.environ.get("NUMDENSE_ROW_HELPER", "1") != "0"
_requested = False  # whether a model has asked for the helper (set_enabled(True) restarts it)
_thread = None
_start_lock = threading.Lock()
_words = memoryview(row_split.words)  # a Python int per read, ~30 ns


def supported():
    """Whether this process can run the helper at all: x86-64 Linux, two or more cores."""
    return row_split.HELPER_PLATFORM and (os.cpu_count() or 1) >= 2


def enabled():
    """Whether few-row products may use the helper thread."""
    return _enabled


def set_enabled(value):
    """Allow (True) or forbid (False) the helper thread. Forbidding it stops a running helper
    (it leaves its loop and its thread ends); allowing it again restarts it if a model had
    asked for it."""
    global _enabled
    _enabled = bool(value)
    if not _enabled:
        _stop()
    elif _requested:
        start()


def is_running():
    """Whether the helper thread is in its loop (polling or blocked)."""
    return _words[row_split.SERVING] != 0


def is_polling():
    """Whether the helper is polling for jobs right now."""
    return _words[row_split.POLLING] != 0


def start():
    """Start the helper thread (once per process) if it is allowed and supported and Numba may
    use two or more threads; called when a model plans a product worth splitting."""
    global _requested
    _requested = True
    if (_thread is not None or not _enabled or not supported()
            or numba.get_num_threads() < 2):
        return
    _start()


def wake():
    """Start the helper if needed and get it polling (the product kernel does this by itself
    during a burst of calls)."""
    start()
    row_split.wake_helper()


def _start():
    global _thread
    with _start_lock:
        if _thread is None:
            row_split.init_blocking()
            row_split.words[row_split.ALLOWED_CPUS:row_split.ALLOWED_CPUS + 16] = _cpu_mask()
            thread = threading.Thread(target=_serve, name="numdense-row-helper", daemon=True)
            thread.start()
            _thread = thread


def _cpu_mask():
    """The CPUs this process may run on, as the 16 int64 words of a ``cpu_set_t``."""
    mask = [0] * 16
    for cpu in os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else ():
        if cpu < 1024:
            mask[cpu // 64] |= 1 << (cpu % 64)
    return [m - (1 << 64) if m >= 1 << 63 else m for m in mask]


def _serve():
    row_split.serve_splits(POLL_TICKS)


def _stop():
    """End the helper thread, if there is one. At exit it must be out of compiled code before
    the interpreter tears down."""
    global _thread
    with _start_lock:
        thread = _thread
        if thread is None:
            return
        row_split.words[row_split.STOP] = 1
        row_split.wake_helper()
        thread.join(timeout=1.0)
        if not thread.is_alive():
            _thread = None
            row_split.words[row_split.STOP] = 0


def _after_fork_in_child():
    # The child has no helper thread; its products run on the caller until a model plans
    # again or set_enabled(True) is called (which initialises its own mutex and condition).
    global _thread
    _thread = None
    row_split.reset_words()


atexit.register(_stop)
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
