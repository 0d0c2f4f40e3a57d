"""Cold start: ``import numdense`` and the first kernel call, each in a fresh interpreter."""

from .common import TIMEOUT


class ColdStart:
    timeout = TIMEOUT
    # At least four fresh interpreters per round: with one to three, asv's significance test could
    # not flag even a 2.8x slower cold start (it printed "~2.77" and no regression).
    repeat = (4, 6, 120.0)

    def timeraw_import(self):
        return "import numdense"

    def timeraw_import_and_first_matmul(self):
        return """
import numpy as np
from numdense.kernels.cpu.matmul import matmul
a = np.ones((64, 64), np.float32)
matmul(a, a)
"""

    def timeraw_import_and_first_fit_step(self):
        return """
import numpy as np
import numdense as nd
model = nd.Sequential([nd.Input((2,)), nd.layers.Dense(1)])
model.compile(optimizer="adam", loss="mse")
model.train_on_batch(np.ones((32, 2)), np.ones((32, 1)))
"""

    def timeraw_import_and_first_dense_forward(self):
        return """
import numpy as np
from numdense.kernels.cpu.dense import dense_forward
x = np.ones((32, 784), np.float32)
w = np.ones((784, 128), np.float32)
b = np.zeros(128, np.float32)
dense_forward(x, w, b, kind=1)
"""


class EmptyCacheStart:
    """``import numdense`` and a first fit step with an empty Numba cache, as on a new machine:
    every kernel the step needs is compiled (issue #7: under 30 s)."""

    timeout = TIMEOUT
    repeat = (4, 4, 300.0)

    def timeraw_import_and_first_fit_step_empty_cache(self):
        return """
import os, shutil, tempfile
cache = tempfile.mkdtemp(prefix="numdense-cold-")
os.environ["NUMBA_CACHE_DIR"] = cache  # read when numba is first imported, just below
try:
    import numpy as np
    import numdense as nd
    model = nd.Sequential([nd.Input((2,)), nd.layers.Dense(1)])
    model.compile(optimizer="adam", loss="mse")
    model.train_on_batch(np.ones((32, 2)), np.ones((32, 1)))
finally:
    shutil.rmtree(cache, ignore_errors=True)
"""
