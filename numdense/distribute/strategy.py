"""The active distribution strategy: ``with strategy.scope():`` and ``get_strategy()``.

A model compiled inside a strategy's scope keeps that strategy; its ``fit`` and ``evaluate``
then run through it. Outside every scope ``get_strategy()`` returns None (plain one-process
training).
"""

import contextlib
import threading

_state = threading.local()


def _stack():
    if not hasattr(_state, "stack"):
        _state.stack = []
    return _state.stack


def get_strategy():
    """The strategy whose ``scope()`` is active in this thread, or None."""
    stack = _stack()
    return stack[-1] if stack else None


def has_strategy():
    """Whether a strategy's ``scope()`` is active in this thread."""
    return bool(_stack())


@contextlib.contextmanager
def strategy_scope(strategy):
    stack = _stack()
    stack.append(strategy)
    try:
        yield strategy
    finally:
        stack.pop()
