"""Distributed training and inference.

``MPIStrategy``: synchronous data-parallel ``fit``/``evaluate`` over MPI ranks (mpi4py); install
with ``pip install numdense[mpi]`` and run scripts with ``mpiexec -n N python script.py``.
"""

from numdense.distribute.mpi_strategy import DistributedError, MPIStrategy
from numdense.distribute.strategy import get_strategy, has_strategy

__all__ = ["DistributedError", "MPIStrategy", "get_strategy", "has_strategy"]
