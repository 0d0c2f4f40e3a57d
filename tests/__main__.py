"""``python -m tests``: the whole suite, as CI runs it.

Two lines of work run side by side, one per core:

* the main run: ``python -m pytest`` on everything but ``tests/scaling``; most of a cold start
  is spent here compiling CPU kernels on one core;
* beside it, the CUDA tests under numba's simulator (``NUMBA_ENABLE_CUDASIM=1 pytest tests/cuda``,
  its own process because the variable must be set before numba is imported; it interprets
  CUDA threads in Python), then the scaling tests (``pytest tests/scaling``: MPI ranks under
  ``mpiexec``, Dask clusters), which start processes of their own and wait on them.

The simulator tests that also run numdense's CPU kernels (marked ``cpu_reference``) wait for the
main run to finish, so they load those kernels from the Numba cache it filled instead of
compiling them a second time.

The main run reports live, the others' reports follow. Extra arguments go to every run. The
exit status is non-zero if any run fails (including pytest's "no tests collected").
"""

import os
import subprocess
import sys
import tempfile
import threading

_PYTEST = [sys.executable, "-m", "pytest"]
_SIM_ENV = dict(os.environ, NUMBA_ENABLE_CUDASIM="1")
_SCALING = "tests/scaling"


def _banner(title):
    return "\n" + "=" * 20 + f" {title} " + "=" * 20


def _side_runs(argv, logs, statuses):
    """The simulator run, then the scaling tests, one after the other, each into its log."""
    sim_cmd = [*_PYTEST, "tests/cuda", "-m", "not cpu_reference", *argv]
    statuses["simulator"] = subprocess.call(sim_cmd, env=_SIM_ENV, stdout=logs[0],
                                            stderr=subprocess.STDOUT)
    statuses["scaling"] = subprocess.call([*_PYTEST, _SCALING, *argv], stdout=logs[1],
                                          stderr=subprocess.STDOUT)


def main(argv):
    statuses = {}
    with tempfile.TemporaryFile("w+") as sim_log, tempfile.TemporaryFile("w+") as scaling_log:
        side = threading.Thread(target=_side_runs, args=(argv, (sim_log, scaling_log), statuses))
        side.start()
        statuses["main"] = subprocess.call([*_PYTEST, f"--ignore={_SCALING}", *argv])
        side.join()
        for title, log in (("CUDA simulator run: NUMBA_ENABLE_CUDASIM=1 pytest tests/cuda "
                            "-m 'not cpu_reference'", sim_log),
                           (f"scaling run: pytest {_SCALING}", scaling_log)):
            print(_banner(title), flush=True)
            log.seek(0)
            sys.stdout.write(log.read())
            sys.stdout.flush()
    print(_banner("CUDA simulator run (CPU-reference tests): NUMBA_ENABLE_CUDASIM=1 pytest "
                  "tests/cuda -m 'cpu_reference'"), flush=True)
    statuses["simulator CPU-reference"] = subprocess.call(
        [*_PYTEST, "tests/cuda", "-m", "cpu_reference", *argv], env=_SIM_ENV)
    if argv:  # a user's selection may leave a part empty (pytest's status 5)
        statuses = {k: 0 if v == 5 else v for k, v in statuses.items()}
    order = ("main", "simulator", "scaling", "simulator CPU-reference")
    print("\nexit status: " + ", ".join(f"{k} run {statuses[k]}" for k in order))
    return 1 if any(statuses.values()) else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
