"""``python -m tests``: the whole suite, as CI runs it.

Two pytest processes start together: the main run (``python -m pytest``) and the CUDA tests under
numba's simulator (``NUMBA_ENABLE_CUDASIM=1 python -m pytest tests/cuda``), which needs its own
process because the variable must be set before numba is imported. Running them side by side
keeps both cores busy: the main run spends most of a cold start compiling CPU kernels on one
core, the simulator interprets CUDA threads in Python on the other. The simulator tests that also
run numdense's CPU kernels (marked ``cpu_reference``) wait for the main run to finish, so they
load those kernels from the Numba cache it filled instead of compiling them a second time.

The main run reports live, the simulator's report follows. Extra arguments go to every run. The
exit status is non-zero if any run fails (including pytest's "no tests collected").
"""

import os
import subprocess
import sys
import tempfile

_PYTEST = [sys.executable, "-m", "pytest"]
_SIM_ENV = dict(os.environ, NUMBA_ENABLE_CUDASIM="1")
_BANNER = "=" * 20 + " CUDA simulator run{}: NUMBA_ENABLE_CUDASIM=1 pytest tests/cuda -m {!r} " + "=" * 20


def main(argv):
    first, second = "not cpu_reference", "cpu_reference"
    with tempfile.TemporaryFile("w+") as sim_log:
        sim = subprocess.Popen([*_PYTEST, "tests/cuda", "-m", first, *argv], env=_SIM_ENV,
                               stdout=sim_log, stderr=subprocess.STDOUT)
        try:
            main_status = subprocess.call([*_PYTEST, *argv])
            sim_status = sim.wait()
        finally:
            if sim.poll() is None:
                sim.kill()
        sim_log.seek(0)
        print("\n" + _BANNER.format("", first), flush=True)
        sys.stdout.write(sim_log.read())
    print("\n" + _BANNER.format(" (CPU-reference tests)", second), flush=True)
    ref_status = subprocess.call([*_PYTEST, "tests/cuda", "-m", second, *argv], env=_SIM_ENV)
    if ref_status == 5 and argv:  # a user's selection may leave this part empty
        ref_status = 0
    statuses = {"main": main_status, "simulator": sim_status, "simulator CPU-reference": ref_status}
    print("\nexit status: " + ", ".join(f"{k} run {v}" for k, v in statuses.items()))
    return 1 if any(statuses.values()) else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
