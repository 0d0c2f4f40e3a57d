"""``predict`` over a chunked dask array with dask's thread pool, against plain NumPy input.

numdense's kernels release the GIL (``nogil=True``), so dask's threaded scheduler can run
several row chunks at once. The 784-128-10 MLP of the benchmarks predicts a random
200,000 x 784 float32 array (chunks of 20,000 rows) three ways: NumPy input, dask with
``num_workers=1`` and with ``num_workers=2``. numdense's dense kernel is itself parallel
(``prange``), so each configuration runs twice, each in a fresh child process: with numba's
default thread count and with ``NUMBA_NUM_THREADS=1`` (which must be set before numba is
imported), the latter showing the scheduler-level parallelism alone.

Run: python examples/benchmark_dask_predict.py [--rows 200000] [--chunk 20000]
     [--batch-size 1024] [--repeats 3]
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

import numpy as np


def child(rows, chunk, batch_size, repeats):
    import dask
    import dask.array as da

    import numdense as nd
    from numdense.layers import Dense

    nd.utils.set_random_seed(0)
    model = nd.Sequential([nd.Input((784,)), Dense(128, activation="relu"),
                           Dense(10, activation="softmax")])
    x = np.random.default_rng(0).random((rows, 784), dtype=np.float32)
    xd = da.from_array(x, chunks=(chunk, 784))
    expected = model.predict(x, batch_size=batch_size, verbose=0)  # also the warm-up

    def numpy_input():
        model.predict(x, batch_size=batch_size, verbose=0)

    def dask_input(workers):
        def run():
            with dask.config.set(scheduler="threads", num_workers=workers):
                out = model.predict(xd, batch_size=batch_size).compute()
            return out
        return run

    if not np.array_equal(dask_input(2)(), expected):
        raise AssertionError("dask predict differs from NumPy predict")
    results = {}
    for name, fn in (("numpy", numpy_input), ("dask threads x1", dask_input(1)),
                     ("dask threads x2", dask_input(2))):
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            fn()
            times.append(time.perf_counter() - start)
        results[name] = statistics.median(times)
    import numba

    results["numba_threads"] = numba.config.NUMBA_NUM_THREADS
    print(json.dumps(results))


def main(args):
    rows = args.rows
    print(f"predict {rows:,} x 784 float32, 784-128-10 MLP, batch_size={args.batch_size}, "
          f"chunks of {args.chunk:,} rows, median of {args.repeats} runs, {os.cpu_count()} "
          "CPUs")
    print(f"{'numba threads':>14} {'input':>16} {'seconds':>8} {'rows/s':>11} {'vs numpy':>9}")
    for numba_threads in (None, "1"):
        env = dict(os.environ)
        if numba_threads is not None:
            env["NUMBA_NUM_THREADS"] = numba_threads
        done = subprocess.run(
            [sys.executable, __file__, "--child", "--rows", str(rows), "--chunk",
             str(args.chunk), "--batch-size", str(args.batch_size), "--repeats",
             str(args.repeats)], check=True, capture_output=True, text=True, env=env)
        result = json.loads(done.stdout.strip().splitlines()[-1])
        threads = result.pop("numba_threads")
        label = f"{threads}" + (" (default)" if numba_threads is None else "")
        for name, seconds in result.items():
            print(f"{label:>14} {name:>16} {seconds:8.3f} {rows / seconds:11,.0f} "
                  f"{result['numpy'] / seconds:8.2f}x")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--chunk", type=int, default=20_000)
    parser.add_argument("--batch-size", type=int, default=1024)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.rows, args.chunk, args.batch_size, args.repeats)
    else:
        main(args)
