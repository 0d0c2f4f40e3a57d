"""``python -m tests``: the whole suite, as CI runs it.

Two pytest processes start together: the main run (``python -m pytest``) and the CUDA tests under
numba's simulator (``NUMBA_ENABLE_CUDASIM=1 python -m pytest tests/cuda``), which needs its own
process because the variable must be set before numba is imported. Running them side by side
keeps both cores busy: the main run spends most of a cold start compiling kernels on one core,
the simulator interprets CUDA threads in Python on the other. The main run reports live; the
simulator's report follows it. Extra arguments go to both runs. The exit status is non-zero if
either run fails (including pytest's "no tests collected").
"""

import os
import subprocess
import sys
import tempfile


def main(argv):
    sim_env = dict(os.environ, NUMBA_ENABLE_CUDASIM="1")
    with tempfile.TemporaryFile("w+") as sim_log:
        sim = subprocess.Popen([sys.executable, "-m", "pytest", "tests/cuda", *argv],
                               env=sim_env, stdout=sim_log, stderr=subprocess.STDOUT)
        try:
            main_status = subprocess.call([sys.executable, "-m", "pytest", *argv])
            sim_status = sim.wait()
        finally:
            if sim.poll() is None:
                sim.kill()
        sim_log.seek(0)
        print("\n" + "=" * 20 + " CUDA simulator run: NUMBA_ENABLE_CUDASIM=1 pytest tests/cuda "
              + "=" * 20, flush=True)
        sys.stdout.write(sim_log.read())
    print(f"\nmain run exit status {main_status}, simulator run exit status {sim_status}")
    return 1 if main_status or sim_status else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
