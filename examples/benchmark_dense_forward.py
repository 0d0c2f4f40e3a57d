"""numdense's fused dense forward against NumPy: ``relu(x @ W + b)``, batch 32, 784 -> 128, float32.

Protocol (docs/benchmarks.md): each side runs in a fresh child process (NumPy's OpenBLAS threads
keep spinning after a matmul and would slow whichever library ran next in the same process), the
two alternate ``--pairs`` times, and each child reports the median of 7 blocks of 2,000 calls after
200 warm-up calls. numdense is timed through ``dense_forward_into`` (the kernel, with the output
preallocated as a training step has it); NumPy through ``np.maximum(x @ W + b, 0)``.

Run: python examples/benchmark_dense_forward.py [--pairs 8]
"""

import argparse
import statistics
import subprocess
import sys
import time

import numpy as np

CALLS, BLOCKS, WARMUP = 2000, 7, 200


def operands():
    rng = np.random.default_rng(0)
    return (rng.random((32, 784), dtype=np.float32), rng.random((784, 128), dtype=np.float32),
            np.zeros(128, np.float32))


def child(side):
    x, w, b = operands()
    if side == "numdense":
        from numdense.kernels import activation_kinds
        from numdense.kernels.cpu.dense import dense_forward_into

        out, no_preact = np.empty((32, 128), np.float32), np.empty((0, 0), np.float32)

        def call():
            dense_forward_into(x, w, b, out, no_preact, activation_kinds.RELU, 0.0, 0.0, 0.0)
    else:
        def call():
            np.maximum(x @ w + b, 0)
    for _ in range(WARMUP):
        call()
    blocks = []
    for _ in range(BLOCKS):
        start = time.perf_counter()
        for _ in range(CALLS):
            call()
        blocks.append((time.perf_counter() - start) / CALLS)
    print(statistics.median(blocks))


def main(pairs):
    results = {"numdense": [], "numpy": []}
    for _ in range(pairs):
        for side in results:
            done = subprocess.run([sys.executable, __file__, "--child", side], check=True,
                                  capture_output=True, text=True)
            results[side].append(float(done.stdout.strip().splitlines()[-1]))
    wins = sum(a < b for a, b in zip(results["numdense"], results["numpy"]))
    for side, times in results.items():
        cells = " ".join(f"{t * 1e6:6.1f}" for t in times)
        print(f"{side:9s} µs per call: {cells}   median {statistics.median(times) * 1e6:.1f}")
    ratio = statistics.median(results["numpy"]) / statistics.median(results["numdense"])
    print(f"numdense faster in {wins} of {pairs} pairs; NumPy / numdense (medians): {ratio:.2f}x")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=8)
    parser.add_argument("--child", choices=["numdense", "numpy"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child)
    else:
        main(args.pairs)
