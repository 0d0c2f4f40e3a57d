"""Conv2D kernels (im2col, col2im, fused forward/backward) against a naive NumPy reference."""

import numpy as np
import pytest

from numdense.kernels import activation_kinds as ak
from numdense.kernels.cpu import conv

# (H, W, C, F, kh, kw, sh, sw, dh, dw, padding)
GEOMETRIES = [
    (7, 7, 3, 4, 3, 3, 1, 1, 1, 1, "valid"),
    (8, 7, 2, 3, 3, 2, 2, 1, 1, 1, "same"),
    (9, 9, 3, 2, 3, 3, 1, 1, 2, 2, "same"),
    (6, 5, 1, 5, 2, 2, 2, 2, 1, 1, "valid"),
    (5, 6, 2, 3, 1, 3, 3, 2, 1, 1, "same"),
    (7, 8, 2, 2, 2, 3, 1, 1, 3, 2, "valid"),
]


def geometry(h, w, kh, kw, sh, sw, dh, dw, padding):
    oh, pt = conv.conv_output_size(h, kh, sh, dh, padding)
    ow, pl = conv.conv_output_size(w, kw, sw, dw, padding)
    return oh, ow, pt, pl


def naive_conv(x, w, sh, sw, dh, dw, padding):
    """float64 cross-correlation, one output pixel at a time."""
    n, h, wd, _ = x.shape
    kh, kw, _, f = w.shape
    oh, ow, pt, pl = geometry(h, wd, kh, kw, sh, sw, dh, dw, padding)
    out = np.zeros((n, oh, ow, f))
    for a in range(oh):
        for b in range(ow):
            for i in range(kh):
                for j in range(kw):
                    r, c = a * sh - pt + i * dh, b * sw - pl + j * dw
                    if 0 <= r < h and 0 <= c < wd:
                        out[:, a, b] += x[:, r, c].astype(np.float64) @ w[i, j].astype(np.float64)
    return out


def tol(dtype):
    return dict(rtol=2e-5, atol=2e-5) if dtype == np.float32 else dict(rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("geo", GEOMETRIES, ids=lambda g: "x".join(map(str, g)))
def test_forward_backward_match_naive(geo, dtype, rng):
    h, wd, c, f, kh, kw, sh, sw, dh, dw, padding = geo
    n = 2
    x = rng.standard_normal((n, h, wd, c)).astype(dtype)
    w = rng.standard_normal((kh, kw, c, f)).astype(dtype)
    b = rng.standard_normal(f).astype(dtype)
    oh, ow, pt, pl = geometry(h, wd, kh, kw, sh, sw, dh, dw, padding)
    cols = np.empty((n, oh, ow, kh * kw * c), dtype)
    out = np.empty((n, oh, ow, f), dtype)
    pre = np.empty_like(out)
    conv.conv2d_forward_into(x, w, b, cols, out, pre, sh, sw, dh, dw, pt, pl, ak.TANH, 0.0, 0.0, 0.0)
    z = naive_conv(x, w, sh, sw, dh, dw, padding) + b
    np.testing.assert_allclose(pre, z, **tol(dtype))
    np.testing.assert_allclose(out, np.tanh(z), **tol(dtype))

    # Gradients of sum(out * g): the adjoint identities of the linear map x -> conv(x, w).
    g = rng.standard_normal(out.shape).astype(dtype)
    dz, dcols, dx = np.empty_like(out), np.empty_like(cols), np.empty_like(x)
    dwt, db = np.empty_like(w), np.empty_like(b)
    conv.conv2d_backward_into(cols, w, pre, out, g, dz, dcols, dx, dwt, db, sh, sw, dh, dw, pt, pl,
                              ak.TANH, 0.0, 0.0, 0.0, True)
    dz_ref = g * (1 - np.tanh(z) ** 2)
    np.testing.assert_allclose(dz, dz_ref, **tol(dtype))
    np.testing.assert_allclose(db, dz_ref.sum((0, 1, 2)), **tol(dtype))
    # dw[i, j, c, f] = sum(dz * conv(x restricted to tap (i, j, c))) and dx by linearity:
    dw_ref = np.zeros(w.shape)
    for i in range(kh):
        for j in range(kw):
            for cc in range(c):
                e = np.zeros(w.shape)
                e[i, j, cc] = 1
                dw_ref[i, j, cc] = np.einsum("nhwf,nhwf->f", naive_conv(x, e, sh, sw, dh, dw, padding), dz_ref)
    np.testing.assert_allclose(dwt, dw_ref, **tol(dtype))
    probe = rng.standard_normal(x.shape)
    lhs = (dx * probe).sum()
    rhs = (naive_conv(probe, w, sh, sw, dh, dw, padding) * dz_ref).sum()
    np.testing.assert_allclose(lhs, rhs, rtol=1e-4 if dtype == np.float32 else 1e-11)


def test_finite_difference_float64(rng):
    h, wd, c, f, kh, kw, sh, sw, dh, dw, padding = 6, 5, 2, 3, 3, 2, 2, 1, 1, 1, "same"
    x = rng.standard_normal((2, h, wd, c))
    w = rng.standard_normal((kh, kw, c, f))
    b = rng.standard_normal(f)
    oh, ow, pt, pl = geometry(h, wd, kh, kw, sh, sw, dh, dw, padding)
    g = rng.standard_normal((2, oh, ow, f))
    kind = (ak.SIGMOID, 0.0, 0.0, 0.0)

    def loss(x, w, b):
        cols = np.empty((2, oh, ow, kh * kw * c))
        out = np.empty((2, oh, ow, f))
        conv.conv2d_forward_into(x, w, b, cols, out, np.empty((0, 0, 0, 0)), sh, sw, dh, dw, pt, pl, *kind)
        return (out * g).sum()

    cols = np.empty((2, oh, ow, kh * kw * c))
    out, pre = np.empty((2, oh, ow, f)), np.empty((2, oh, ow, f))
    conv.conv2d_forward_into(x, w, b, cols, out, pre, sh, sw, dh, dw, pt, pl, *kind)
    dx, dwt, db = np.empty_like(x), np.empty_like(w), np.empty_like(b)
    conv.conv2d_backward_into(cols, w, pre, out, g, np.empty_like(out), np.empty_like(cols), dx, dwt, db,
                              sh, sw, dh, dw, pt, pl, *kind, True)
    eps = 1e-6
    for arr, grad, args in ((x, dx, lambda a: (a, w, b)), (w, dwt, lambda a: (x, a, b)), (b, db, lambda a: (x, w, a))):
        for idx in [tuple(rng.integers(0, s) for s in arr.shape) for _ in range(6)]:
            plus, minus = arr.copy(), arr.copy()
            plus[idx] += eps
            minus[idx] -= eps
            numeric = (loss(*args(plus)) - loss(*args(minus))) / (2 * eps)
            np.testing.assert_allclose(grad[idx], numeric, rtol=1e-6, atol=1e-8)


def test_col2im_is_the_adjoint_of_im2col(rng):
    x = rng.standard_normal((3, 6, 7, 2))
    oh, ow, pt, pl = geometry(6, 7, 3, 3, 2, 2, 1, 1, "same")
    cols = np.empty((3, oh, ow, 18))
    conv.im2col_into(x, 3, 3, 2, 2, 1, 1, pt, pl, cols)
    v = rng.standard_normal(cols.shape)
    back = np.empty_like(x)
    conv.col2im_into(v, 3, 3, 2, 2, 1, 1, pt, pl, back)
    np.testing.assert_allclose((cols * v).sum(), (x * back).sum(), rtol=1e-12)


def test_linear_without_bias_or_preact(rng):
    x = rng.standard_normal((1, 4, 4, 2)).astype(np.float32)
    w = rng.standard_normal((2, 2, 2, 3)).astype(np.float32)
    cols, out = np.empty((1, 3, 3, 8), np.float32), np.empty((1, 3, 3, 3), np.float32)
    conv.conv2d_forward_into(x, w, np.empty(0, np.float32), cols, out, np.empty((0, 0, 0, 0), np.float32),
                             1, 1, 1, 1, 0, 0, ak.LINEAR, 0.0, 0.0, 0.0)
    np.testing.assert_allclose(out, naive_conv(x, w, 1, 1, 1, 1, "valid"), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("size,k,s,d,padding,expected", [
    (28, 3, 1, 1, "valid", (26, 0)), (13, 3, 1, 1, "valid", (11, 0)), (7, 3, 2, 1, "same", (4, 1)),
    (8, 3, 2, 1, "same", (4, 0)), (9, 3, 1, 2, "same", (9, 2)), (5, 2, 2, 1, "same", (3, 0)),
])
def test_output_size_and_tf_same_padding(size, k, s, d, padding, expected):
    assert conv.conv_output_size(size, k, s, d, padding) == expected
