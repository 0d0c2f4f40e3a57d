"""Merge layers: ``Add``, ``Subtract``, ``Multiply``, ``Average``, ``Concatenate``."""

from numdense.layers.merging.add import Add
from numdense.layers.merging.average import Average
from numdense.layers.merging.base_merge import Merge
from numdense.layers.merging.concatenate import Concatenate
from numdense.layers.merging.multiply import Multiply
from numdense.layers.merging.subtract import Subtract

__all__ = ["Add", "Average", "Concatenate", "Merge", "Multiply", "Subtract"]
