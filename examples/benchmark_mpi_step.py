"""Step time of data-parallel training: 1 rank against 2 ranks on one machine.

Run:   python examples/benchmark_mpi_step.py            (starts the mpiexec runs itself)

The 784-128-10 MLP (Adam) on random data. Each configuration runs in its own ``mpiexec``:
``1 rank x B`` (the single-process data-parallel step, on all cores and on one core),
``2 ranks x B`` (twice the samples per
step, each rank doing the 1-rank work plus the allreduce) and, for the cost of the gradient
exchange alone, the time of one allreduce of the 101,770-float gradient buffer. Prints the
median step time of each.
"""

import argparse
import os
import subprocess
import sys
import time

import numpy as np


def worker(batch, steps, repeats, timeout):
    import numdense as nd

    strategy = nd.distribute.MPIStrategy(timeout=timeout or None)
    rng = np.random.default_rng(strategy.rank)
    n = batch * steps
    x = rng.normal(size=(n, 784)).astype(np.float32)
    y = rng.integers(0, 10, size=n).astype(np.float32)
    with strategy.scope():
        model = nd.Sequential([nd.Input((784,)), nd.layers.Dense(128, activation="relu"),
                               nd.layers.Dense(10)])
        model.compile("adam", nd.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.fit(x[:batch * 2], y[:batch * 2], batch_size=batch, epochs=1, verbose=0)  # warm-up
    times = []
    for _ in range(repeats):
        strategy.comm.Barrier()
        t0 = time.perf_counter()
        model.fit(x, y, batch_size=batch, epochs=1, verbose=0, shuffle=False)
        times.append((time.perf_counter() - t0) / steps)
    buffer = np.zeros(sum(w.size for w in model.trainable_weights) + 2, np.float32)
    exchange = []
    for _ in range(200):
        strategy.comm.Barrier()
        t0 = time.perf_counter()
        strategy.allreduce_(buffer)
        exchange.append(time.perf_counter() - t0)
    if strategy.is_chief:
        print(f"RESULT {strategy.num_replicas_in_sync} {np.median(times) * 1e3:.3f} "
              f"{np.median(exchange) * 1e6:.1f}", flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=128, help="per-rank batch size")
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--timeout", type=float, default=0,
                        help="MPIStrategy(timeout=...) in seconds (0: none, blocking collectives)")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        return worker(args.batch, args.steps, args.repeats, args.timeout)
    mpiexec = os.path.join(os.path.dirname(sys.executable), "mpiexec")
    print(f"784-128-10 MLP, Adam, per-rank batch {args.batch}, median of {args.repeats} "
          f"epochs of {args.steps} steps")
    print(f"{'ranks':>5} {'threads/rank':>12} {'global batch':>12} {'ms/step':>8} "
          f"{'samples/s':>10} {'allreduce us':>13}")
    # (ranks, NUMBA_NUM_THREADS or None): 1 rank on all cores, 1 rank on one core (the
    # per-rank compute of the 2-rank run), 2 ranks (the strategy gives each half the cores).
    configs = [(1, None), (1, 1), (2, None)] * 2
    for ranks, threads in configs:
        env = dict(os.environ)
        if threads:
            env["NUMBA_NUM_THREADS"] = str(threads)
        out = subprocess.run([mpiexec, "-n", str(ranks), sys.executable, __file__, "--worker",
                              f"--batch={args.batch}", f"--steps={args.steps}",
                              f"--repeats={args.repeats}", f"--timeout={args.timeout}"],
                             capture_output=True, text=True, check=True, env=env).stdout
        line = next(l for l in out.splitlines() if l.startswith("RESULT"))
        _, r, ms, us = line.split()
        rate = int(r) * args.batch / (float(ms) / 1e3)
        per_rank = threads or (os.cpu_count() // ranks)
        print(f"{r:>5} {per_rank:>12} {int(r) * args.batch:>12} {float(ms):>8.3f} {rate:>10.0f} "
              f"{float(us):>13.1f}")


if __name__ == "__main__":
    main()
