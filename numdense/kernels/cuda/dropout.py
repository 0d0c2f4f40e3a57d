"""CUDA dropout kernels: inverted dropout with masks drawn on the device (xoroshiro128+), or
from caller-supplied uniform noise as in the CPU twin."""

import functools

import numpy as np
from numba import cuda
from numba.cuda.random import (
    create_xoroshiro128p_states,
    xoroshiro128p_dtype,
    xoroshiro128p_uniform_float32,
    xoroshiro128p_uniform_float64,
)

from . import _config

__all__ = ["dropout_backward_into", "dropout_forward_into", "rng_states"]


def rng_states(n_threads, seed):
    """Device RNG states for ``dropout_forward_into``: one xoroshiro128+ stream per thread.
    Reuse them across steps (each call advances them); more threads mean more parallelism."""
    return create_xoroshiro128p_states(int(n_threads), seed=int(seed))


@functools.lru_cache(maxsize=None)
def _kernels(dtype):
    T = np.dtype(dtype).type
    ZERO = T(0.0)
    uniform = xoroshiro128p_uniform_float32 if T is np.float32 else xoroshiro128p_uniform_float64

    @cuda.jit
    def from_noise(x, noise, out, mask, rate, scale):
        """mask[i] = scale if noise[i] >= rate else 0; out[i] = x[i] * mask[i] (1-D arrays)."""
        for i in range(cuda.grid(1), x.shape[0], cuda.gridsize(1)):
            keep = scale if np.float64(noise[i]) >= rate else ZERO
            mask[i] = keep
            out[i] = x[i] * keep

    @cuda.jit
    def from_states(x, states, out, mask, rate, scale):
        """As from_noise with noise drawn from states[thread] (one stream per thread)."""
        tid = cuda.grid(1)
        if tid >= states.shape[0]:
            return
        for i in range(tid, x.shape[0], states.shape[0]):
            keep = scale if np.float64(uniform(states, tid)) >= rate else ZERO
            mask[i] = keep
            out[i] = x[i] * keep

    @cuda.jit
    def backward(dy, mask, dx):
        """dx[i] = dy[i] * mask[i]."""
        for i in range(cuda.grid(1), dy.shape[0], cuda.gridsize(1)):
            dx[i] = dy[i] * mask[i]

    return from_noise, from_states, backward


def dropout_forward_into(x, noise, out, mask, rate):
    """Inverted dropout on flat arrays.

    x, out, mask: 1-D C-contiguous device arrays of one length and float dtype. ``noise``: either
    a device array of U[0, 1) samples of that length (as on the CPU), or RNG states from
    ``rng_states`` (the samples are then drawn on the device). Writes ``mask[i] = 1/(1-rate)``
    where the sample is >= rate, else 0, and ``out = x * mask`` (out may be x). rate in [0, 1).
    """
    n = x.shape[0]
    if n == 0:
        return
    T = np.dtype(x.dtype).type
    from_noise, from_states, _ = _kernels(np.dtype(x.dtype))
    scale = T(1.0 / (1.0 - rate))
    if np.dtype(noise.dtype) == np.dtype(xoroshiro128p_dtype):
        blocks, tpb = _config.grid_1d(noise.shape[0])
        from_states[blocks, tpb](x, noise, out, mask, float(rate), scale)
    else:
        blocks, tpb = _config.grid_1d(n)
        from_noise[min(blocks, 65535), tpb](x, noise, out, mask, float(rate), scale)


def dropout_backward_into(dy, mask, dx):
    """Gradient of inverted dropout: ``dx = dy * mask`` on flat 1-D device arrays (dx may be dy)."""
    if dy.shape[0]:
        blocks, tpb = _config.grid_1d(dy.shape[0])
        _kernels(np.dtype(dy.dtype))[2][min(blocks, 65535), tpb](dy, mask, dx)
