"""Reading an optimizer's learning rate as a Python float."""

import numpy as np


def get_learning_rate(optimizer):
    """``float(optimizer.learning_rate)`` (a float, NumPy value or variable with ``numpy()``)."""
    if not hasattr(optimizer, "learning_rate"):
        raise ValueError('Optimizer must have a "learning_rate" attribute.')
    lr = optimizer.learning_rate
    if hasattr(lr, "numpy"):
        lr = lr.numpy()
    return float(np.asarray(lr))
