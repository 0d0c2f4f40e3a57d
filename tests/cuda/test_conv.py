"""Conv2D kernels on both kernel sets (CUDA under the simulator at tiny sizes)."""

import numpy as np
import pytest

from numdense.kernels import activation_kinds as A
from numdense.kernels.cpu.conv import conv_output_size

from .harness import assert_close, backends, run

# (H, W, C, F, kh, kw, sh, sw, dh, dw, padding)
GEOMETRIES = [
    (5, 4, 2, 3, 3, 2, 2, 1, 1, 1, "same"),
    (5, 5, 1, 2, 2, 2, 1, 1, 2, 1, "valid"),
]


def _naive(x, w, sh, sw, dh, dw, pt, pl, oh, ow):
    n, h, wd, _ = x.shape
    kh, kw, _, f = w.shape
    out = np.zeros((n, oh, ow, f))
    for a in range(oh):
        for b in range(ow):
            for i in range(kh):
                for j in range(kw):
                    r, c = a * sh - pt + i * dh, b * sw - pl + j * dw
                    if 0 <= r < h and 0 <= c < wd:
                        out[:, a, b] += x[:, r, c].astype(np.float64) @ w[i, j].astype(np.float64)
    return out


@backends
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("geo", GEOMETRIES, ids=lambda g: "x".join(map(str, g)))
def test_conv2d_forward_backward(backend, dtype, geo, rng):
    h, wd, c, f, kh, kw, sh, sw, dh, dw, padding = geo
    oh, pt = conv_output_size(h, kh, sh, dh, padding)
    ow, pl = conv_output_size(wd, kw, sw, dw, padding)
    x = rng.standard_normal((2, h, wd, c)).astype(dtype)
    w = rng.standard_normal((kh, kw, c, f)).astype(dtype)
    b = rng.standard_normal(f).astype(dtype)
    cols = np.empty((2, oh, ow, kh * kw * c), dtype)
    out = np.empty((2, oh, ow, f), dtype)
    pre = np.empty_like(out)
    geom = (sh, sw, dh, dw, pt, pl)
    run(backend, "conv", "conv2d_forward_into", x, w, b, cols, out, pre, *geom, A.RELU, 0.0, np.inf, 0.0,
        outs=[3, 4, 5])
    z = _naive(x, w, sh, sw, dh, dw, pt, pl, oh, ow) + b
    assert_close(pre, z, dtype, scale=8)
    assert_close(out, np.maximum(z, 0), dtype, scale=8)

    g = rng.standard_normal(out.shape).astype(dtype)
    dz, dcols, dx = np.empty_like(out), np.empty_like(cols), np.empty_like(x)
    dwt, db = np.empty_like(w), np.empty_like(b)
    run(backend, "conv", "conv2d_backward_into", cols, w, pre, out, g, dz, dcols, dx, dwt, db, *geom,
        A.RELU, 0.0, np.inf, 0.0, True, outs=[5, 6, 7, 8, 9])
    dz_ref = g * (pre > 0)
    assert_close(dz, dz_ref, dtype)
    assert_close(db, dz_ref.astype(np.float64).sum((0, 1, 2)), dtype, scale=8)
    cols64 = cols.astype(np.float64).reshape(-1, kh * kw * c)
    dz64 = dz_ref.astype(np.float64).reshape(-1, f)
    assert_close(dwt, (cols64.T @ dz64).reshape(w.shape), dtype, scale=8)
    # dx against the CPU kernels' col2im of the reference dcols
    from numdense.kernels.cpu.conv import col2im_into

    dx_ref = np.empty(x.shape)
    col2im_into((dz64 @ w.astype(np.float64).reshape(-1, f).T).reshape(cols.shape), kh, kw, sh, sw, dh, dw,
                pt, pl, dx_ref)
    assert_close(dx, dx_ref, dtype, scale=8)


@backends
def test_im2col_col2im(backend, rng):
    x = rng.standard_normal((1, 4, 5, 2))
    oh, pt = conv_output_size(4, 3, 2, 1, "same")
    ow, pl = conv_output_size(5, 3, 2, 1, "same")
    cols = np.full((1, oh, ow, 18), np.nan)
    run(backend, "conv", "im2col_into", x, 3, 3, 2, 2, 1, 1, pt, pl, cols, outs=[9])
    xp = np.pad(x, ((0, 0), (pt, 3), (pl, 3), (0, 0)))
    for a in range(oh):
        for b in range(ow):
            np.testing.assert_array_equal(cols[0, a, b], xp[0, 2 * a:2 * a + 3, 2 * b:2 * b + 3].reshape(-1))
    v = rng.standard_normal(cols.shape)
    back = np.full(x.shape, np.nan)
    run(backend, "conv", "col2im_into", v, 3, 3, 2, 2, 1, 1, pt, pl, back, outs=[9])
    np.testing.assert_allclose((cols * v).sum(), (x * back).sum(), rtol=1e-12)
