"""Models: ``Model`` and ``Sequential``."""

from numdense.models.model import Model
from numdense.models.sequential import Sequential

__all__ = ["Model", "Sequential"]
