"""2-D pooling over NHWC arrays: max (with argmax), average and global average, and gradients.

Windows follow Keras/TensorFlow: output (oh, ow) covers rows ``oh*sh - pt .. + ph - 1`` and
columns ``ow*sw - pl .. + pw - 1``; positions outside the input are ignored (``same`` padding
never contributes: a max ignores them and an average divides by the in-bounds count).
"""

from numba import prange

from ._jit import kernel

__all__ = [
    "avgpool2d_backward_into", "avgpool2d_forward_into", "global_avgpool2d_backward_into",
    "global_avgpool2d_forward_into", "maxpool2d_backward_into", "maxpool2d_forward_into",
]


@kernel(parallel=True)
def maxpool2d_forward_into(x, ph, pw, sh, sw, pt, pl, out, argmax):
    """out = the max of each window; argmax = its flat position ``h * W + w`` in the image.

    x (N, H, W, C); out (N, OH, OW, C) same float dtype; argmax (N, OH, OW, C) int64; all
    C-contiguous, out and argmax overwritten. ph, pw pool size; sh, sw strides; pt, pl padding
    before. Ties go to the first maximum in row-major window order (TensorFlow's choice).
    Parallel over (n, oh) rows.
    """
    n_img, h_in, w_in, c_in = x.shape
    _, oh_len, ow_len, _ = out.shape
    for r in prange(n_img * oh_len):
        n = r // oh_len
        oh = r - n * oh_len
        h0 = max(oh * sh - pt, 0)
        h1 = min(oh * sh - pt + ph, h_in)
        for ow in range(ow_len):
            w0 = max(ow * sw - pl, 0)
            w1 = min(ow * sw - pl + pw, w_in)
            o = out[n, oh, ow]
            a = argmax[n, oh, ow]
            o[:] = x[n, h0, w0]
            a[:] = h0 * w_in + w0
            for h in range(h0, h1):
                for w in range(w0, w1):
                    src = x[n, h, w]
                    for c in range(c_in):
                        if src[c] > o[c]:
                            o[c] = src[c]
                            a[c] = h * w_in + w


@kernel(parallel=True)
def maxpool2d_backward_into(dy, argmax, dx):
    """dx[n, h, w, c] = sum of dy over the windows whose max was (h, w) (from ``argmax``).

    dy (N, OH, OW, C) float; argmax (N, OH, OW, C) int64 from ``maxpool2d_forward_into``;
    dx (N, H, W, C) same dtype as dy, overwritten. C-contiguous. Parallel over images.
    """
    n_img, h_in, w_in, c_in = dx.shape
    _, oh_len, ow_len, _ = dy.shape
    for n in prange(n_img):
        dx[n] = 0
        for oh in range(oh_len):
            for ow in range(ow_len):
                g = dy[n, oh, ow]
                a = argmax[n, oh, ow]
                for c in range(c_in):
                    p = a[c]
                    h = p // w_in
                    dx[n, h, p - h * w_in, c] += g[c]


@kernel(parallel=True)
def avgpool2d_forward_into(x, ph, pw, sh, sw, pt, pl, out):
    """out = the mean of the in-bounds elements of each window.

    x (N, H, W, C); out (N, OH, OW, C); C-contiguous, one float dtype; out overwritten.
    ph, pw pool size; sh, sw strides; pt, pl padding before. Parallel over (n, oh) rows.
    """
    n_img, h_in, w_in, c_in = x.shape
    _, oh_len, ow_len, _ = out.shape
    for r in prange(n_img * oh_len):
        n = r // oh_len
        oh = r - n * oh_len
        h0 = max(oh * sh - pt, 0)
        h1 = min(oh * sh - pt + ph, h_in)
        for ow in range(ow_len):
            w0 = max(ow * sw - pl, 0)
            w1 = min(ow * sw - pl + pw, w_in)
            o = out[n, oh, ow]
            o[:] = 0
            for h in range(h0, h1):
                for w in range(w0, w1):
                    src = x[n, h, w]
                    for c in range(c_in):
                        o[c] += src[c]
            scale = 1.0 / ((h1 - h0) * (w1 - w0))
            for c in range(c_in):
                o[c] *= scale


@kernel(parallel=True)
def avgpool2d_backward_into(dy, ph, pw, sh, sw, pt, pl, dx):
    """dx = the gradient of ``avgpool2d_forward_into``: each dy spread evenly over its window's
    in-bounds elements.

    dy (N, OH, OW, C); dx (N, H, W, C); C-contiguous, one float dtype; dx overwritten. Other
    arguments as in the forward. Parallel over images.
    """
    n_img, h_in, w_in, c_in = dx.shape
    _, oh_len, ow_len, _ = dy.shape
    for n in prange(n_img):
        dx[n] = 0
        for oh in range(oh_len):
            h0 = max(oh * sh - pt, 0)
            h1 = min(oh * sh - pt + ph, h_in)
            for ow in range(ow_len):
                w0 = max(ow * sw - pl, 0)
                w1 = min(ow * sw - pl + pw, w_in)
                g = dy[n, oh, ow]
                scale = 1.0 / ((h1 - h0) * (w1 - w0))
                for h in range(h0, h1):
                    for w in range(w0, w1):
                        dst = dx[n, h, w]
                        for c in range(c_in):
                            dst[c] += g[c] * scale


@kernel
def global_avgpool2d_forward_into(x, out):
    """out[n, c] = mean of x[n, :, :, c].

    x (N, H, W, C); out (N, C); C-contiguous, one float dtype; out overwritten. Serial: one
    pass over x, too little work per element to pay for a parallel region (or its compile).
    """
    n_img, h_in, w_in, c_in = x.shape
    for n in range(n_img):
        o = out[n]
        o[:] = 0
        for h in range(h_in):
            for w in range(w_in):
                src = x[n, h, w]
                for c in range(c_in):
                    o[c] += src[c]
        scale = 1.0 / (h_in * w_in)
        for c in range(c_in):
            o[c] *= scale


@kernel
def global_avgpool2d_backward_into(dy, dx):
    """dx[n, h, w, c] = dy[n, c] / (H * W).

    dy (N, C); dx (N, H, W, C); C-contiguous, one float dtype; dx overwritten. Serial (see the
    forward).
    """
    n_img, h_in, w_in, c_in = dx.shape
    for n in range(n_img):
        g = dy[n]
        scale = 1.0 / (h_in * w_in)
        for h in range(h_in):
            for w in range(w_in):
                dst = dx[n, h, w]
                for c in range(c_in):
                    dst[c] = g[c] * scale
