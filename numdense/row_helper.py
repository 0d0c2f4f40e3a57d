"""The helper thread that lends one-sample products a second core (``kernels/cpu/row_split``).

A burst of ``model(x)`` calls (a call within ``BURST_S`` of the one before) wakes it. It polls
for jobs until ~60 us pass without one (``SPINS`` idle polls: a ``pause`` each, and after the
first ~13 us a ``sched_yield`` every eighth, so a runnable thread such as an OpenBLAS worker gets
the core at once). Then it sleeps, 1 ms at a time for ~1 s and 20 ms at a time after that, and
polls again when the next burst starts (a call sets a word in the control block; the helper
sees it when its sleep ends). The thread stays in compiled code without the GIL from its start
until it is stopped, so waking it never waits for the GIL.

An isolated call never wakes it, so single predictions pay nothing for it. It is started on
the first burst; not on Windows, on a one-core machine, while Numba is limited to one thread
(``numba.set_num_threads(1)``), with the environment variable ``NUMDENSE_ROW_HELPER=0``, or
after ``set_enabled(False)``.
"""

import atexit
import os
import threading
import time

import numba

from numdense.kernels.cpu import row_split
from numdense.kernels.cpu._sync import POSIX

SPINS = 1024  # idle polls before sleeping: ~60 us on Zen 3 (a pause ~25 ns, a sched_yield ~0.6 us)
DOZE_US = 1000  # the first sleeps: a burst after a short pause gets the helper back within ~1 ms
DOZES = 1000
SLEEP_US = 20000  # then 50 wake-ups a second at most
BURST_S = 5e-5  # a call this soon after the previous one wakes the helper
RETRY_S = 1.0  # after a refusal (one core, one Numba thread), how long before asking again

_enabled = os.environ.get("NUMDENSE_ROW_HELPER", "1") != "0"
_thread = None
_start_lock = threading.Lock()
_last_call = -1.0
_retry_at = -1.0
_words = memoryview(row_split.words)  # a Python int per read, ~30 ns


def enabled():
    """Whether one-sample products may use the helper thread."""
    return _enabled


def set_enabled(value):
    """Allow (True) or forbid (False) the helper thread; forbidding it stops a running helper
    (it returns from its polling loop and its thread ends)."""
    global _enabled
    _enabled = bool(value)
    if not _enabled:
        _stop()


def is_polling():
    """Whether the helper is polling for jobs right now."""
    return _words[row_split.POLLING] != 0


def polling_words():
    """The control block as a memoryview: ``[row_split.POLLING]`` is nonzero while the helper
    polls (what ``model(x)`` reads on its fast path)."""
    return _words


def note_call():
    """Called by ``model(x)`` for a product worth splitting while the helper is not polling:
    wakes it if the previous such call was less than ``BURST_S`` ago."""
    global _last_call
    if not _enabled:
        return
    now = time.perf_counter()
    if now - _last_call < BURST_S and now >= _retry_at:
        wake(now)
    _last_call = now


def wake(now=None):
    """Get the helper polling: ask the running helper, or start it (once), if it is allowed to
    run: not on Windows, on one core, nor while Numba runs on one thread
    (``numba.get_num_threads()``, asked at most once in ``RETRY_S`` after a refusal: it costs
    ~1 us)."""
    global _retry_at
    if not _enabled:
        return
    if _words[row_split.SERVING]:
        _words[row_split.WANTED] = 1  # seen when the helper's current sleep ends
        return
    if _thread is not None:  # starting (or its start failed: then no helper in this process)
        return
    if not POSIX or (os.cpu_count() or 1) < 2 or numba.get_num_threads() < 2:
        _retry_at = (time.perf_counter() if now is None else now) + RETRY_S
        return
    _start()


def _start():
    global _thread
    with _start_lock:
        if _thread is None:
            thread = threading.Thread(target=_serve, name="numdense-row-helper", daemon=True)
            thread.start()
            _thread = thread


def _serve():
    row_split.serve_splits(SPINS, DOZE_US, DOZES, SLEEP_US)


def _stop():
    """End the helper thread, if there is one. At exit it must be out of compiled code before
    the interpreter tears down."""
    global _thread
    with _start_lock:
        thread = _thread
        if thread is None:
            return
        row_split.words[row_split.STOP] = 1
        thread.join(timeout=1.0)
        if not thread.is_alive():
            _thread = None
            row_split.words[row_split.STOP] = 0


def _after_fork_in_child():
    global _thread, _last_call, _retry_at
    _thread = None
    _last_call = _retry_at = -1.0
    row_split.reset_words()


atexit.register(_stop)
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
