"""Pooling kernels against naive NumPy references (TensorFlow window and padding rules)."""

import numpy as np
import pytest

from numdense.kernels.cpu import conv, pooling

# (H, W, ph, pw, sh, sw, padding)
GEOMETRIES = [
    (6, 6, 2, 2, 2, 2, "valid"),
    (7, 5, 3, 3, 2, 2, "same"),
    (5, 6, 2, 2, 1, 1, "valid"),
    (5, 7, 3, 2, 2, 3, "same"),
    (4, 4, 4, 1, 1, 1, "same"),
]


def windows(h, w, ph, pw, sh, sw, padding):
    """{(oh, ow): (rows, cols)} in-bounds slices of every window."""
    oh_len, pt = conv.conv_output_size(h, ph, sh, 1, padding)
    ow_len, pl = conv.conv_output_size(w, pw, sw, 1, padding)
    return oh_len, ow_len, pt, pl, {
        (a, b): (slice(max(a * sh - pt, 0), min(a * sh - pt + ph, h)),
                 slice(max(b * sw - pl, 0), min(b * sw - pl + pw, w)))
        for a in range(oh_len) for b in range(ow_len)
    }


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("geo", GEOMETRIES, ids=lambda g: "x".join(map(str, g)))
def test_max_and_average_pool(geo, dtype, rng):
    h, w, ph, pw, sh, sw, padding = geo
    x = rng.standard_normal((2, h, w, 3)).astype(dtype)
    x[0, 0, :2, 0] = 5.0  # a tie: the gradient goes to the first maximum
    oh, ow, pt, pl, wins = windows(h, w, ph, pw, sh, sw, padding)
    out = np.empty((2, oh, ow, 3), dtype)
    arg = np.empty(out.shape, np.int64)
    pooling.maxpool2d_forward_into(x, ph, pw, sh, sw, pt, pl, out, arg)
    avg = np.empty_like(out)
    pooling.avgpool2d_forward_into(x, ph, pw, sh, sw, pt, pl, avg)
    g = rng.standard_normal(out.shape).astype(dtype)
    dmax_ref, davg_ref = np.zeros(x.shape), np.zeros(x.shape)
    for (a, b), (rs, cs) in wins.items():
        patch = x[:, rs, cs, :].astype(np.float64)
        np.testing.assert_array_equal(out[:, a, b], patch.max(axis=(1, 2)))
        np.testing.assert_allclose(avg[:, a, b], patch.mean(axis=(1, 2)), rtol=1e-5, atol=1e-6)
        count = patch.shape[1] * patch.shape[2]
        davg_ref[:, rs, cs, :] += g[:, a, b][:, None, None, :] / count
        for n in range(2):
            for c in range(3):
                flat = patch[n, :, :, c].reshape(-1)
                i = int(np.argmax(flat))  # first maximum in row-major order
                r, q = divmod(i, patch.shape[2])
                dmax_ref[n, rs.start + r, cs.start + q, c] += g[n, a, b, c]
    dx = np.full_like(x, np.nan)
    pooling.maxpool2d_backward_into(g, arg, dx)
    np.testing.assert_allclose(dx, dmax_ref, rtol=1e-6, atol=1e-7)
    pooling.avgpool2d_backward_into(g, ph, pw, sh, sw, pt, pl, dx)
    np.testing.assert_allclose(dx, davg_ref, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_global_average_pool(dtype, rng):
    x = rng.standard_normal((3, 4, 5, 2)).astype(dtype)
    out = np.empty((3, 2), dtype)
    pooling.global_avgpool2d_forward_into(x, out)
    np.testing.assert_allclose(out, x.astype(np.float64).mean(axis=(1, 2)), rtol=1e-5, atol=1e-6)
    g = rng.standard_normal((3, 2)).astype(dtype)
    dx = np.empty_like(x)
    pooling.global_avgpool2d_backward_into(g, dx)
    np.testing.assert_allclose(dx, np.broadcast_to(g[:, None, None, :] / 20, x.shape), rtol=1e-5, atol=1e-7)
