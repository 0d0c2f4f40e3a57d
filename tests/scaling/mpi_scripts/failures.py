"""Run with ``mpiexec -n 2 python failures.py MODE``: rank 1 misbehaves during ``fit``.

MODE: ``mismatch`` (rank 1 builds a wider model), ``hang`` (rank 1 stops calling collectives
in epoch 2; rank 0's 2-second collective timeout must end the job), ``kill`` (rank 1 is killed
in epoch 2). Every mode must end the job with a non-zero status, never hang.
"""

import os
import signal
import sys
import time

import numpy as np

import numdense as nd

mode = sys.argv[1]
strategy = nd.distribute.MPIStrategy()
misbehaves = strategy.rank == 1
x = np.random.default_rng(0).normal(size=(200, 3)).astype("float32")
y = x.sum(axis=1, keepdims=True)
with strategy.scope():
    width = 5 if (mode == "mismatch" and misbehaves) else 4
    model = nd.Sequential([nd.Input((3,)), nd.layers.Dense(width), nd.layers.Dense(1)])
    model.compile("adam", "mse")

# A first step without a timeout: every rank has loaded (or compiled) the kernels before the
# 2-second timeout starts to count.
model.fit(*strategy.shard(x, y), epochs=1, steps_per_epoch=1, verbose=0)
strategy.timeout = 2.0
if misbehaves and mode in ("hang", "kill"):
    learning_rates = model.optimizer.learning_rates
    epochs_begun = []

    def failing_learning_rates(start, count):  # called as each epoch begins
        epochs_begun.append(start)
        if len(epochs_begun) == 2:
            if mode == "hang":
                time.sleep(600)
            os.kill(os.getpid(), signal.SIGKILL)
        return learning_rates(start, count)

    model.optimizer.learning_rates = failing_learning_rates
model.fit(*strategy.shard(x, y), epochs=3, verbose=0)
print(f"rank {strategy.rank} finished", flush=True)
