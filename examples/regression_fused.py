"""The floor for numdense's generic training path: the tutorial regression as one hand-fused
Numba loop.

One Dense(1) unit on 1000 x 2 samples, MSE, Adam (Keras defaults), batch 32, a fresh shuffle
every epoch; every step is written out for exactly this model (the prediction, the gradient of
the three parameters and the Adam update in registers). numdense's ``fit`` runs the same
arithmetic through its general kernels and Python bookkeeping; issue #7 asks it to come within
2x of this loop. ``examples/benchmark_compare.py`` times both side by side.

Run: python examples/regression_fused.py
"""

import time

import numba
import numpy as np


@numba.njit(cache=True)
def fit_fused(x, y, epochs, seed, lr=0.001):
    """Trains ``y ~ x @ w + b`` (x (n, 2) float32, y (n,) float32); returns (w0, w1, b)."""
    np.random.seed(seed)
    f32 = np.float32
    n, batch = x.shape[0], 32
    b1, b2, eps, lrt = f32(0.9), f32(0.999), f32(1e-7), f32(lr)
    w = np.zeros(3, np.float32)
    w[0], w[1] = f32(0.5), f32(-0.5)
    m = np.zeros(3, np.float32)
    v = np.zeros(3, np.float32)
    g = np.zeros(3, np.float32)
    t = 0
    for _ in range(epochs):
        order = np.random.permutation(n)
        for s0 in range(0, n, batch):
            nb = min(batch, n - s0)
            g[:] = 0
            for i in range(s0, s0 + nb):
                r = order[i]
                d = f32(2.0) * (x[r, 0] * w[0] + x[r, 1] * w[1] + w[2] - y[r]) / f32(nb)
                g[0] += d * x[r, 0]
                g[1] += d * x[r, 1]
                g[2] += d
            t += 1
            alpha = lrt * np.sqrt(f32(1) - b2 ** f32(t)) / (f32(1) - b1 ** f32(t))
            for j in range(3):
                m[j] += (g[j] - m[j]) * (f32(1) - b1)
                v[j] += (g[j] * g[j] - v[j]) * (f32(1) - b2)
                w[j] -= m[j] * alpha / (np.sqrt(v[j]) + eps)
    return w[0], w[1], w[2]


def main():
    rng = np.random.default_rng(42)
    x = rng.random((1000, 2), dtype=np.float32)
    y = (2 * x[:, 0] + 3 * x[:, 1] + 4 + rng.standard_normal(1000) * 0.1).astype(np.float32)
    fit_fused(x, y, 1, 0)  # compile (or load from the cache)
    start = time.perf_counter()
    w0, w1, b = fit_fused(x, y, 400, 0)
    print(f"400 epochs in {(time.perf_counter() - start) * 1e3:.1f} ms; "
          f"w = [{w0:.3f}, {w1:.3f}], b = {b:.3f} (true: [2, 3], 4)")


if __name__ == "__main__":
    main()
