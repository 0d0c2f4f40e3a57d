"""Utilities: ``set_random_seed``, ``PyDataset`` and helpers shared by the API modules."""

from numdense.utils.py_dataset import PyDataset, Sequence
from numdense.utils.random import set_random_seed

__all__ = ["PyDataset", "Sequence", "set_random_seed"]
