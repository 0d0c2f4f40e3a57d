"""Utilities: ``set_random_seed`` and helpers shared by the API modules."""

from numdense.utils.random import set_random_seed

__all__ = ["set_random_seed"]
