"""``python -m tests``: the whole suite, as CI runs it.

Two processes run side by side, one per core: the main run (``python -m pytest`` on everything
but ``tests/scaling``; most of a cold start is spent here compiling CPU kernels on one core) and
the CUDA tests under numba's simulator (``NUMBA_ENABLE_CUDASIM=1 pytest tests/cuda``, its own
process because the variable must be set before numba is imported; it interprets CUDA threads in
Python). When the main run is done, two more start side by side and load the CPU kernels from the
Numba cache it filled instead of compiling them again: the simulator tests that also run
numdense's CPU kernels (marked ``cpu_reference``) and the scaling tests (``tests/scaling``: MPI
ranks under ``mpiexec``, Dask clusters).

The main run reports live, the others' reports follow. Extra arguments go to every run. The
exit status is non-zero if any run fails (including pytest's "no tests collected").
"""

import os
import subprocess
import sys
import tempfile

_PYTEST = [sys.executable, "-m", "pytest"]
_SIM_ENV = dict(os.environ, NUMBA_ENABLE_CUDASIM="1")
_SCALING = "tests/scaling"


def _banner(title):
    return "\n" + "=" * 20 + f" {title} " + "=" * 20


def _report(title, log):
    print(_banner(title), flush=True)
    log.seek(0)
    sys.stdout.write(log.read())
    sys.stdout.flush()


def main(argv):
    statuses = {}
    with tempfile.TemporaryFile("w+") as sim_log, tempfile.TemporaryFile("w+") as scaling_log:
        sim = subprocess.Popen([*_PYTEST, "tests/cuda", "-m", "not cpu_reference", *argv],
                               env=_SIM_ENV, stdout=sim_log, stderr=subprocess.STDOUT)
        try:
            statuses["main"] = subprocess.call([*_PYTEST, f"--ignore={_SCALING}", *argv])
            statuses["simulator"] = sim.wait()
        finally:
            if sim.poll() is None:
                sim.kill()
        _report("CUDA simulator run: NUMBA_ENABLE_CUDASIM=1 pytest tests/cuda "
                "-m 'not cpu_reference'", sim_log)
        # Both of these load the CPU kernels the main run left in the Numba cache.
        scaling = subprocess.Popen([*_PYTEST, _SCALING, *argv], stdout=scaling_log,
                                   stderr=subprocess.STDOUT)
        try:
            print(_banner("CUDA simulator run (CPU-reference tests): NUMBA_ENABLE_CUDASIM=1 "
                          "pytest tests/cuda -m 'cpu_reference'"), flush=True)
            statuses["simulator CPU-reference"] = subprocess.call(
                [*_PYTEST, "tests/cuda", "-m", "cpu_reference", *argv], env=_SIM_ENV)
            statuses["scaling"] = scaling.wait()
        finally:
            if scaling.poll() is None:
                scaling.kill()
        _report(f"scaling run: pytest {_SCALING}", scaling_log)
    if argv:  # a user's selection may leave a part empty (pytest's status 5)
        statuses = {k: 0 if v == 5 else v for k, v in statuses.items()}
    order = ("main", "simulator", "simulator CPU-reference", "scaling")
    print("\nexit status: " + ", ".join(f"{k} run {statuses[k]}" for k in order))
    return 1 if any(statuses.values()) else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
