"""Pooling kernels on both kernel sets (CUDA under the simulator at tiny sizes)."""

import numpy as np
import pytest

from numdense.kernels.cpu.conv import conv_output_size

from .harness import assert_close, backends, run

# (H, W, ph, pw, sh, sw, padding)
GEOMETRIES = [(5, 4, 3, 2, 2, 1, "same"), (4, 5, 2, 2, 1, 2, "valid")]


def _windows(h, w, ph, pw, sh, sw, padding):
    oh, pt = conv_output_size(h, ph, sh, 1, padding)
    ow, pl = conv_output_size(w, pw, sw, 1, padding)
    wins = {(a, b): (slice(max(a * sh - pt, 0), min(a * sh - pt + ph, h)),
                     slice(max(b * sw - pl, 0), min(b * sw - pl + pw, w)))
            for a in range(oh) for b in range(ow)}
    return oh, ow, pt, pl, wins


@backends
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("geo", GEOMETRIES, ids=lambda g: "x".join(map(str, g)))
def test_max_and_average_pool(backend, dtype, geo, rng):
    h, w, ph, pw, sh, sw, padding = geo
    oh, ow, pt, pl, wins = _windows(h, w, ph, pw, sh, sw, padding)
    x = rng.standard_normal((2, h, w, 2)).astype(dtype)
    out = np.empty((2, oh, ow, 2), dtype)
    arg = np.empty(out.shape, np.int64)
    avg = np.empty_like(out)
    run(backend, "pooling", "maxpool2d_forward_into", x, ph, pw, sh, sw, pt, pl, out, arg, outs=[7, 8])
    run(backend, "pooling", "avgpool2d_forward_into", x, ph, pw, sh, sw, pt, pl, avg, outs=[7])
    g = rng.standard_normal(out.shape).astype(dtype)
    dmax_ref, davg_ref = np.zeros(x.shape), np.zeros(x.shape)
    for (a, b), (rs, cs) in wins.items():
        patch = x[:, rs, cs, :].astype(np.float64)
        np.testing.assert_array_equal(out[:, a, b], patch.max(axis=(1, 2)))
        assert_close(avg[:, a, b], patch.mean(axis=(1, 2)), dtype, scale=4)
        davg_ref[:, rs, cs, :] += g[:, a, b][:, None, None, :] / (patch.shape[1] * patch.shape[2])
        for n in range(2):
            for c in range(2):
                r, q = divmod(int(np.argmax(patch[n, :, :, c])), patch.shape[2])
                dmax_ref[n, rs.start + r, cs.start + q, c] += g[n, a, b, c]
    dx = np.full_like(x, np.nan)
    run(backend, "pooling", "maxpool2d_backward_into", g, arg, dx, outs=[2])
    assert_close(dx, dmax_ref, dtype, scale=4)
    run(backend, "pooling", "avgpool2d_backward_into", g, ph, pw, sh, sw, pt, pl, dx, outs=[7])
    assert_close(dx, davg_ref, dtype, scale=4)


@backends
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_global_average_pool(backend, dtype, rng):
    x = rng.standard_normal((2, 3, 2, 3)).astype(dtype)
    out = np.empty((2, 3), dtype)
    run(backend, "pooling", "global_avgpool2d_forward_into", x, out, outs=[1])
    assert_close(out, x.astype(np.float64).mean(axis=(1, 2)), dtype, scale=4)
    g = rng.standard_normal((2, 3)).astype(dtype)
    dx = np.empty_like(x)
    run(backend, "pooling", "global_avgpool2d_backward_into", g, dx, outs=[1])
    assert_close(dx, np.broadcast_to(g[:, None, None, :] / 6.0, x.shape), dtype)
