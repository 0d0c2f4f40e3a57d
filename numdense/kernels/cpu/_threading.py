"""Threading-layer policy for numdense's parallel kernels; imported before any kernel is defined.

Numba's default layer here is OpenMP (libgomp). After a parallel region its worker threads
busy-wait for the next one (GOMP_SPINCOUNT, 300000 spins by default), competing for the cores
with OpenBLAS when NumPy's matmul runs next in the same process (measured in docs/benchmarks.md).
A short spin keeps back-to-back numdense kernels cheap (the threads are still awake) but lets the
threads sleep soon after. libgomp reads the variable once, when numba first loads its OpenMP pool,
so it must be set before that; an explicit user setting of either variable is left alone.
"""

import os

SPIN_COUNT = "30000"

if "GOMP_SPINCOUNT" not in os.environ and "OMP_WAIT_POLICY" not in os.environ:
    os.environ["GOMP_SPINCOUNT"] = SPIN_COUNT
