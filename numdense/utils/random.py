"""Global seeding: ``numdense.utils.set_random_seed(seed)`` makes a whole run reproducible."""

import random

import numpy as np

_generator = np.random.default_rng()


def set_random_seed(seed):
    """Seeds Python's ``random``, NumPy's global generator, numdense's initializers, data
    shuffling and dropout masks, as ``keras.utils.set_random_seed`` does.

    Args:
        seed: a non-negative integer.
    """
    global _generator
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"Expected `seed` to be a non-negative integer. Received: seed={seed!r}")
    seed = int(seed)
    random.seed(seed)
    np.random.seed(seed % 2**32)
    _generator = np.random.default_rng(seed)
    from numdense import initializers

    initializers._reseed(seed)


def draw_seed():
    """A fresh integer seed from numdense's global generator."""
    return int(_generator.integers(0, 2**31 - 1))
