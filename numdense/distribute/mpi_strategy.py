"""``MPIStrategy``: synchronous data-parallel training over MPI (mpi4py).

Every rank (process) holds a replica of the model and its own shard of the data. Each training
step, every rank computes the gradients of its local batch; one flat buffer (all gradients, the
local loss and a stop flag) is summed across ranks with a single allreduce, and every rank then
applies the same optimizer update, so the replicas stay identical. See ``mpi_training`` for the
step and ``docs/scaling.md`` for usage.
"""

import os
import sys
import time

import numpy as np

from numdense.distribute.strategy import strategy_scope


class DistributedError(RuntimeError):
    """A collective operation failed or timed out, or the ranks disagree about the model."""


def _import_mpi():
    try:
        from mpi4py import MPI
    except ImportError as e:  # pragma: no cover - depends on the environment
        raise ImportError(
            "MPIStrategy needs mpi4py and an MPI library. Install them with "
            "`pip install numdense[mpi]` (mpi4py plus MPICH from PyPI)."
        ) from e
    return MPI


_ABORT_HOOK_COMMS = []
_SPIN_SECONDS = 0.05


def _install_abort_hook(comm):
    """An uncaught exception on one rank aborts the whole job (the other ranks would otherwise
    wait in their next collective forever)."""
    if _ABORT_HOOK_COMMS:
        return
    _ABORT_HOOK_COMMS.append(comm)
    previous = sys.excepthook

    def abort_on_uncaught(exc_type, exc, tb):
        try:
            # The error line first: the launcher may cut the output short once the job aborts.
            sys.stderr.write(f"[rank {comm.Get_rank()}] {exc_type.__name__}: {exc}\n")
            previous(exc_type, exc, tb)
            sys.stderr.flush()
            sys.stdout.flush()
            time.sleep(0.5)  # let the launcher forward this rank's output before the abort
        finally:
            if comm.Get_size() > 1:
                comm.Abort(1)

    sys.excepthook = abort_on_uncaught


def _share_cores(local_ranks):
    """Ranks on one machine split its cores between their kernel thread pools (unless the user
    set NUMBA_NUM_THREADS): N ranks each running all cores' threads would oversubscribe them."""
    if local_ranks <= 1 or "NUMBA_NUM_THREADS" in os.environ:
        return
    import numba

    numba.set_num_threads(max(1, numba.config.NUMBA_NUM_THREADS // local_ranks))


class MPIStrategy:
    """Synchronous data parallelism over MPI ranks (one replica of the model per rank).

    Build and compile the model inside ``strategy.scope()``; ``fit`` and ``evaluate`` then run
    data-parallel: with N ranks and ``batch_size=B`` each step trains on a global batch of N*B
    samples (B from each rank's shard), giving the weights that one process would reach with
    ``batch_size=N*B`` on the concatenated batches. Weights (and optimizer state) are broadcast
    from rank 0 when ``fit`` starts; progress output, callbacks and saving run on rank 0 only,
    and the reported loss and metrics are reduced over all ranks.

    Run the script with ``mpiexec -n N python script.py``.

    Args:
        comm: the mpi4py communicator to use (default ``MPI.COMM_WORLD``).
        timeout: seconds a collective operation may wait for the other ranks before raising
            ``DistributedError`` (None: wait indefinitely). A rank that dies or stops calling
            collectives then ends the job with a clear error instead of a hang.
        abort_on_error: install a ``sys.excepthook`` that calls ``MPI_Abort`` after printing an
            uncaught exception, so that an error on one rank ends every rank.
    """

    def __init__(self, comm=None, timeout=None, abort_on_error=True):
        MPI = _import_mpi()
        if timeout is not None and (isinstance(timeout, bool) or not isinstance(timeout, (int, float))
                                    or not timeout > 0):
            raise ValueError(
                f"`timeout` must be a positive number of seconds or None. Received: timeout={timeout!r}"
            )
        self._mpi = MPI
        self.comm = MPI.COMM_WORLD if comm is None else comm
        self.timeout = None if timeout is None else float(timeout)
        self.rank = self.comm.Get_rank()
        self.num_replicas_in_sync = self.comm.Get_size()
        self.local_ranks = self.comm.Split_type(MPI.COMM_TYPE_SHARED).Get_size()
        _share_cores(self.local_ranks)
        if abort_on_error:
            _install_abort_hook(self.comm)

    def __repr__(self):
        return f"<MPIStrategy rank {self.rank} of {self.num_replicas_in_sync}>"

    @property
    def is_chief(self):
        """True on rank 0 (the rank that reports progress, runs callbacks and saves)."""
        return self.rank == 0

    def scope(self):
        """Context manager: models compiled inside it train through this strategy."""
        return strategy_scope(self)

    def shard(self, *arrays):
        """This rank's contiguous share of each array (along axis 0), sizes differing by at most
        one between ranks. Returns one array, or a tuple for several."""
        out = []
        n_ranks = self.num_replicas_in_sync
        for a in arrays:
            n = len(a)
            lo, hi = n * self.rank // n_ranks, n * (self.rank + 1) // n_ranks
            out.append(a[lo:hi])
        return out[0] if len(out) == 1 else tuple(out)

    # ------------------------------------------------------------------ collectives
    def _wait(self, request, what):
        if self.timeout is None:
            request.Wait()
            return
        start = time.monotonic()
        while not request.Test():
            waited = time.monotonic() - start
            # Spin first (a step's collective normally completes within microseconds to
            # milliseconds); past that, poll gently so a waiting rank leaves its core free.
            if waited > _SPIN_SECONDS:
                if waited > self.timeout:
                    raise DistributedError(
                        f"MPIStrategy (rank {self.rank} of {self.num_replicas_in_sync}): {what} "
                        f"did not complete within timeout={self.timeout:g} s. Another rank has "
                        "probably died or is running a different program path."
                    )
                time.sleep(0.001)

    def allreduce_(self, buffer, what="an allreduce"):
        """Sums the contiguous array ``buffer`` over all ranks, in place."""
        if self.num_replicas_in_sync == 1:
            return buffer
        MPI = self._mpi
        if self.timeout is None:
            self.comm.Allreduce(MPI.IN_PLACE, buffer, op=MPI.SUM)
        else:
            self._wait(self.comm.Iallreduce(MPI.IN_PLACE, buffer, op=MPI.SUM), what)
        return buffer

    def broadcast_(self, buffer, what="a broadcast", root=0):
        """Overwrites the contiguous array ``buffer`` with rank ``root``'s, in place."""
        if self.num_replicas_in_sync == 1:
            return buffer
        if self.timeout is None:
            self.comm.Bcast(buffer, root=root)
        else:
            self._wait(self.comm.Ibcast(buffer, root=root), what)
        return buffer

    def allgather_ints(self, values, what="an allgather"):
        """``(ranks, len(values))`` int64 array of every rank's ``values``."""
        local = np.ascontiguousarray(values, dtype=np.int64).reshape(-1)
        out = np.empty((self.num_replicas_in_sync, local.size), dtype=np.int64)
        if self.num_replicas_in_sync == 1:
            out[0] = local
        elif self.timeout is None:
            self.comm.Allgather(local, out)
        else:
            self._wait(self.comm.Iallgather(local, out), what)
        return out

    def allgather_objects(self, obj):
        """Every rank's picklable ``obj``, as a list (used only after a checked agreement)."""
        return self.comm.allgather(obj)

    # ------------------------------------------------------------------ training
    def fit(self, model, **kwargs):
        from numdense.distribute import mpi_training

        return mpi_training.fit(model, self, **kwargs)

    def evaluate(self, model, **kwargs):
        from numdense.distribute import mpi_training

        return mpi_training.evaluate(model, self, **kwargs)
