"""Per-process automatic names: ``dense``, ``dense_1``, ``dense_2``, ..."""

import re
import threading

_counts = {}
_lock = threading.Lock()


def to_snake_case(name):
    name = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub(r"([a-z])([A-Z])", r"\1_\2", name).lower()


def uniquify(base):
    with _lock:
        count = _counts.get(base, 0)
        _counts[base] = count + 1
    return base if count == 0 else f"{base}_{count}"


def reset():
    with _lock:
        _counts.clear()
