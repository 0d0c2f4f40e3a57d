"""Compiles every numdense CUDA kernel to PTX for a real GPU target, without a GPU or driver.

The simulator runs kernels as Python and checks no types, so code that only the simulator
accepts would pass the tests and fail on hardware. This script types and compiles each kernel
with Numba's CUDA compiler (needs libnvvm: ``CUDA_HOME`` or the ``nvidia-cuda-nvcc-cu12``
wheel) and checks that float32 kernels hold no float64 registers (silent promotion).

Run as ``python tests/cuda/ptx_check.py`` WITHOUT ``NUMBA_ENABLE_CUDASIM``; exits non-zero on
the first failure. ``test_ptx_compile.py`` runs it in a subprocess.
"""

import re
import sys
from types import SimpleNamespace

import numba
import numba.cuda.dispatcher as _dispatcher
import numpy as np
from numba import cuda, types

CC = (7, 5)
# Device functions are compiled for "the current device"; there is none, so name a target.
_dispatcher.get_current_device = lambda: SimpleNamespace(compute_capability=CC)

from numdense.kernels.cuda import _config, _reduce, activations, bias, constraints, conv, dropout, losses, matmul, optimizers, pooling, regularizers  # noqa: E402
from numdense.kernels.cuda.dropout import xoroshiro128p_dtype  # noqa: E402

i64, f64, b1 = types.int64, types.float64, types.boolean


def arr(t, nd):
    return types.Array(t, nd, "C")


def kernels(t):
    dt = np.dtype(str(t))
    A1, A2, F1 = arr(t, 1), arr(t, 2), arr(f64, 1)
    tiles = _config.GPU_TILES
    for ta, tb in ((False, False), (True, False), (False, True)):
        yield f"gemm ta={ta} tb={tb}", matmul.gemm_kernel(dt, tiles, ta, tb, False), (A2, A2, A2, b1)
    yield "gemm dense epilogue", matmul.gemm_kernel(dt, tiles, False, False, True), (A2, A2, A1, A2, A2, i64, t, t, t)
    fw, bw, rf, rb = activations._kernels(dt)
    yield "activation forward", fw, (A2, A2, i64, t, t, t)
    yield "activation backward", bw, (A2, A2, A2, A2, i64, t, t, t)
    yield "softmax rows forward", rf, (A2, A2, b1)
    yield "softmax rows backward", rb, (A2, A2, A2, b1)
    add, grad = bias._kernels(dt)
    yield "bias add", add, (A2, A1, A2)
    yield "bias grad", grad, (A2, A1, b1)
    red = _reduce._kernels(dt, 256)
    yield "reduce sum_sq", red["sum_sq"], (A1, F1, i64)
    yield "reduce sum_sq_reg", red["sum_sq_reg"], (A1, A1, t, t, F1, i64)
    yield "reduce l1l2", red["l1l2"], (A1, f64, f64, F1, i64)
    yield "reduce total", red["total"], (F1, F1, i64)
    rows, hinge = losses._kernels(dt)
    yield "loss rows", rows, (A2, A2, A1, A1, A2, F1, i64, f64, f64, f64, f64, arr(i64, 1), b1, b1)
    yield "loss hinge flag", hinge, (A2, arr(i64, 1))
    nn, cols, rws, whole = constraints._kernels(dt)
    yield "constraint non_neg", nn, (A2,)
    yield "constraint columns", cols, (A2, i64, f64, f64, f64, f64)
    yield "constraint rows", rws, (A2, i64, f64, f64, f64, f64)
    yield "constraint whole", whole, (A2, F1, i64, f64, f64, f64, f64)
    yield "regularizer grad", regularizers._grad_kernel(dt), (A1, A1, t, t)
    yield "optimizer update", optimizers._update_kernel(dt), (i64, A1, A1, A1, A1, A1, F1, i64) + (t,) * 15 + (b1, b1)
    fn, fs, db = dropout._kernels(dt)
    yield "dropout from noise", fn, (A1, A1, A1, A1, f64, t)
    yield "dropout from states", fs, (A1, arr(numba.from_dtype(xoroshiro128p_dtype), 1), A1, A1, f64, t)
    yield "dropout backward", db, (A1, A1, A1)
    A4, I4 = arr(t, 4), arr(i64, 4)
    im2col, col2im = conv._kernels(dt)
    yield "conv im2col", im2col, (A4,) + (i64,) * 8 + (A4,)
    yield "conv col2im", col2im, (A4,) + (i64,) * 8 + (A4,)
    max_f, max_b, avg_f, avg_b, gavg_f, gavg_b, zero = pooling._kernels(dt)
    yield "pool max forward", max_f, (A4,) + (i64,) * 6 + (A4, I4)
    yield "pool max backward", max_b, (A4, I4, A4)
    yield "pool avg forward", avg_f, (A4,) + (i64,) * 6 + (A4,)
    yield "pool avg backward", avg_b, (A4,) + (i64,) * 6 + (A4,)
    yield "pool global avg forward", gavg_f, (A4, A2)
    yield "pool global avg backward", gavg_b, (A2, A4)
    yield "pool zero", zero, (A4,)


# Kernels whose float32 variant must compute in float32 only (the others accumulate in float64
# on purpose, as their CPU twins do).
PURE = ("gemm", "activation", "softmax", "bias", "regularizer grad", "dropout backward", "constraint non_neg", "conv", "pool")


def main():
    if numba.config.ENABLE_CUDASIM:
        sys.exit("run without NUMBA_ENABLE_CUDASIM")
    for t in (types.float32, types.float64):
        for name, kernel, sig in kernels(t):
            ptx, _ = cuda.compile_ptx(kernel.py_func, sig, cc=CC)
            f64_regs = len(re.findall(r"%fd\d", ptx)) if t == types.float32 else 0
            local = len(re.findall(r"\b(?:ld|st)\.local", ptx)) if name.startswith("gemm") else 0
            print(f"{t} {name:28s} ptx {len(ptx):7d} chars  f64 regs {f64_regs:3d}  local ld/st {local}", flush=True)
            if f64_regs and name.startswith(PURE):
                sys.exit(f"{name}: float32 kernel computes in float64")
            # The dense epilogue indexes the finished tile in a loop too large to unroll, so the
            # tile is parked in local memory once after the K loop; the plain GEMM must not spill.
            if local and name.startswith("gemm ta="):
                sys.exit(f"{name}: register tile spilled to local memory")
    print("all kernels compiled")


if __name__ == "__main__":
    main()
