"""The Numba cache is reused across processes: a second process loads every kernel it needs and
compiles (and saves) nothing."""

import os
import subprocess
import sys

_SCRIPT = """
import numpy as np
import numdense as nd
model = nd.Sequential([nd.Input((3,)), nd.layers.Dense(4, activation="relu"), nd.layers.Dense(1)])
model.compile(optimizer="adam", loss="mse")
x = np.ones((40, 3), np.float32)
model.fit(x, x[:, :1], batch_size=16, epochs=2, verbose=0)
model.train_on_batch(x[:16], x[:16, :1])
model.predict(x, verbose=0)
"""


def _run():
    env = dict(os.environ, NUMBA_DEBUG_CACHE="1")
    done = subprocess.run([sys.executable, "-c", _SCRIPT], env=env, capture_output=True,
                          text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout + done.stderr


def test_a_second_process_compiles_nothing():
    _run()  # fills the cache where this session's kernels are not in it yet
    saved = [line for line in _run().splitlines() if "data saved" in line]
    assert not saved, "compiled again in a warm process:\n" + "\n".join(saved)
