"""Run with ``mpiexec -n 2 python train_equivalence.py OUT_DIR``.

Trains one model data-parallel on two ranks (per-rank batch 16, uneven shards 50/51) and, on
rank 0, the same model in one process with batch 32 on the same global batches. Rank 0 writes
both results to OUT_DIR/result.npz for tests/test_distribute_mpi.py to compare.
"""

import json
import os
import sys

import numpy as np

import numdense as nd

out_dir = sys.argv[1]
strategy = nd.distribute.MPIStrategy(timeout=600)  # generous: a cold cache compiles first
rank = strategy.rank

rng = np.random.default_rng(0)
x = rng.normal(size=(101, 3)).astype("float32")
y = (x @ np.array([[1.0], [2.0], [-1.0]], "float32") + 0.5).astype("float32")
w = rng.uniform(0.5, 1.5, size=101).astype("float32")
vx = rng.normal(size=(37, 3)).astype("float32")
vy = (vx @ np.array([[1.0], [2.0], [-1.0]], "float32")).astype("float32")


class CallCounter(nd.callbacks.Callback):
    calls = 0

    def on_epoch_end(self, epoch, logs=None):
        CallCounter.calls += 1


def build(seed):
    nd.utils.set_random_seed(seed)
    model = nd.Sequential([
        nd.Input((3,)),
        nd.layers.Dense(8, activation="tanh", kernel_regularizer=nd.regularizers.L2(0.01),
                        kernel_constraint=nd.constraints.MaxNorm(1.5)),
        nd.layers.Dense(1),
    ])
    model.compile(nd.optimizers.Adam(0.02, clipnorm=5.0), "mse", metrics=["mae"])
    return model


with strategy.scope():
    # Rank 1 starts from other weights: fit must broadcast rank 0's.
    model = build(seed=1 if rank == 0 else 99)
xs, ys, ws = strategy.shard(x, y, w)
history = model.fit(xs, ys, sample_weight=ws, batch_size=16, epochs=3, shuffle=False,
                    verbose=0, validation_data=strategy.shard(vx, vy),
                    callbacks=[CallCounter()])
evaluated = model.evaluate(xs, ys, verbose=0, return_dict=True)
model.save(os.path.join(out_dir, f"model_rank{rank}.keras"))
weights = strategy.allgather_objects(model.get_weights())
calls = strategy.allgather_objects(CallCounter.calls)

if rank == 0:
    # The same global batches in one process: step s takes 16 rows of each rank's shard.
    shards = [(x[:50], y[:50], w[:50]), (x[50:], y[50:], w[50:])]
    parts = [[a[s * 16:(s + 1) * 16] for a in shard] for s in range(4) for shard in shards]
    gx, gy, gw = (np.concatenate([p[i] for p in parts]) for i in range(3))
    reference = build(seed=1)
    ref_history = reference.fit(gx, gy, sample_weight=gw, batch_size=32, epochs=3,
                                shuffle=False, verbose=0, validation_data=(vx, vy))
    ref_evaluated = reference.evaluate(x, y, verbose=0, return_dict=True)
    np.savez(
        os.path.join(out_dir, "result.npz"),
        **{f"rank{r}_w{i}": a for r, ws_ in enumerate(weights) for i, a in enumerate(ws_)},
        **{f"ref_w{i}": a for i, a in enumerate(reference.get_weights())},
    )
    with open(os.path.join(out_dir, "result.json"), "w") as f:
        json.dump({"history": history.history, "ref_history": ref_history.history,
                   "evaluate": evaluated, "ref_evaluate": ref_evaluated,
                   "callback_calls": calls}, f)
