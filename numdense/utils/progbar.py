"""Keras 2 style progress bar: ``32/32 [==============================] - 0s 3ms/step - loss: 0.0095``."""

import sys
import time


def resolve_verbose(verbose):
    """Keras' ``verbose`` argument as 0, 1 or 2 (``"auto"`` is 1)."""
    if verbose == "auto":
        return 1
    if verbose not in (0, 1, 2):
        raise ValueError(f"`verbose` must be 'auto', 0, 1 or 2. Received: verbose={verbose!r}")
    return verbose


def format_value(value):
    if isinstance(value, str):
        return value
    value = float(value)
    return f"{value:.4f}" if abs(value) > 1e-3 else f"{value:.4e}"


def format_time(seconds, unit="step"):
    if seconds >= 1 or seconds == 0:
        return f"{seconds:.0f}s/{unit}"
    if seconds >= 1e-3:
        return f"{seconds * 1e3:.0f}ms/{unit}"
    return f"{seconds * 1e6:.0f}us/{unit}"


class Progbar:
    """Displays progress over ``target`` steps.

    Args:
        target: total number of steps, or None while unknown (shown as ``N/Unknown``).
        width: bar width in characters (30, as Keras 2).
        verbose: 0 silent, 1 bar (rewritten in place on a terminal, final line only
            otherwise), 2 one line at the end.
        interval: minimum seconds between in-place updates.
        stream: where to write (default ``sys.stdout`` at construction time).
    """

    def __init__(self, target, width=30, verbose=1, interval=0.05, stream=None, unit_name="step"):
        self.target = None if target is None else int(target)
        self.width = width
        self.verbose = verbose
        self.interval = interval
        self.unit_name = unit_name
        self.stream = stream or sys.stdout
        isatty = getattr(self.stream, "isatty", None)
        self._dynamic = bool(isatty and isatty())
        self._start = time.perf_counter()
        self._last_update = 0.0
        self._total_width = 0

    def _bar(self, current):
        if self.target is None:
            return f"{current:7d}/Unknown"
        digits = len(str(self.target))
        bar = f"{current:{digits}d}/{self.target} ["
        filled = int(self.width * current / self.target) if self.target else self.width
        if filled > 0:
            bar += "=" * (filled - 1) + (">" if current < self.target else "=")
        return bar + "." * (self.width - filled) + "]"

    def update(self, current, values=(), finalize=None):
        """Shows step ``current`` with ``values``, a sequence of ``(name, value)`` pairs."""
        if finalize is None:
            finalize = self.target is not None and current >= self.target
        now = time.perf_counter()
        elapsed = now - self._start
        per_step = elapsed / current if current else 0.0
        metrics = "".join(f" - {name}: {format_value(v)}" for name, v in values)
        if self.verbose == 1:
            if not finalize and (not self._dynamic or now - self._last_update < self.interval):
                return
            self._last_update = now
            bar = self._bar(current)
            if finalize or self.target is None:
                info = f" - {elapsed:.0f}s {format_time(per_step, self.unit_name)}"
            else:
                eta = per_step * (self.target - current)
                info = f" - ETA: {eta:.0f}s"
            line = bar + info + metrics
            pad = max(0, self._total_width - len(line))
            self._total_width = len(line)
            prefix = "\r" if self._dynamic else ""
            self.stream.write(prefix + line + " " * pad + ("\n" if finalize else ""))
            self.stream.flush()
        elif self.verbose == 2 and finalize:
            target = self.target if self.target is not None else current
            digits = len(str(target))
            per_epoch = format_time(elapsed, "epoch")
            line = (f"{current:{digits}d}/{target} - {elapsed:.0f}s{metrics} - {per_epoch}"
                    f" - {format_time(per_step, self.unit_name)}")
            self.stream.write(line + "\n")
            self.stream.flush()
