"""Cold start: ``import numdense`` and the first kernel call, each in a fresh interpreter."""


class ColdStart:
    timeout = 300
    repeat = (1, 3, 60.0)

    def timeraw_import(self):
        return "import numdense"

    def timeraw_import_and_first_matmul(self):
        return """
import numpy as np
import numdense.kernels.cpu as k
a = np.ones((64, 64), np.float32)
k.matmul(a, a)
"""

    def timeraw_import_and_first_dense_forward(self):
        return """
import numpy as np
import numdense.kernels.cpu as k
x = np.ones((32, 784), np.float32)
w = np.ones((784, 128), np.float32)
b = np.zeros(128, np.float32)
k.dense_forward(x, w, b, kind=1)
"""
