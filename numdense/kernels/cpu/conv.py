"""2-D convolution (NHWC, Keras kernel layout) as im2col + the fused dense GEMM kernels.

The patches of an (N, H, W, C) input are laid out as an (N, OH, OW, KH*KW*C) array whose last
axis runs over (kernel row, kernel column, channel), the order of a Keras kernel
(KH, KW, C, F) reshaped to (KH*KW*C, F); so the convolution is one ``dense_forward_into``
(bias and activation in the GEMM write-back) and its gradients one ``dense_backward_into`` plus
``col2im_into``.
"""

from numba import prange

from ._jit import kernel
from .dense import dense_backward_into, dense_forward_into

__all__ = [
    "col2im_into", "conv2d_backward_into", "conv2d_forward_into", "conv_output_size",
    "im2col_into", "same_padding",
]


def conv_output_size(size, k, stride, dilation, padding):
    """Output length and padding before, Keras/TensorFlow rules (host helper).

    ``valid``: ``(size - eff) // stride + 1`` with ``eff = (k - 1) * dilation + 1``, no padding;
    ``same``: ``ceil(size / stride)`` with ``total = max((out - 1) * stride + eff - size, 0)``
    and ``before = total // 2`` (the odd pixel goes after).
    """
    eff = (k - 1) * dilation + 1
    if padding == "valid":
        return (size - eff) // stride + 1, 0
    out = -(-size // stride)
    return out, same_padding(size, out, eff, stride)


def same_padding(size, out, eff, stride):
    """Padding before for ``same``: ``max((out - 1) * stride + eff - size, 0) // 2``."""
    return max((out - 1) * stride + eff - size, 0) // 2


@kernel(parallel=True)
def im2col_into(x, kh, kw, sh, sw, dh, dw, pt, pl, cols):
    """cols[n, oh, ow, (i*kw + j)*C + c] = x[n, oh*sh - pt + i*dh, ow*sw - pl + j*dw, c] (0 outside).

    x (N, H, W, C); cols (N, OH, OW, kh*kw*C), both C-contiguous, one float dtype; cols is
    overwritten (every element). kh, kw kernel size; sh, sw strides; dh, dw dilation; pt, pl
    padding before (top, left). Parallel over the (n, oh) rows.
    """
    n_img, h_in, w_in, c_in = x.shape
    _, oh_len, ow_len, width = cols.shape
    if cols.shape[0] != n_img or width != kh * kw * c_in:
        raise ValueError("im2col_into: cols must have shape (N, OH, OW, kh*kw*C)")
    for r in prange(n_img * oh_len):
        n = r // oh_len
        oh = r - n * oh_len
        for ow in range(ow_len):
            dst = cols[n, oh, ow]
            for i in range(kh):
                h = oh * sh - pt + i * dh
                for j in range(kw):
                    w = ow * sw - pl + j * dw
                    base = (i * kw + j) * c_in
                    if 0 <= h < h_in and 0 <= w < w_in:
                        src = x[n, h, w]
                        for c in range(c_in):
                            dst[base + c] = src[c]
                    else:
                        for c in range(c_in):
                            dst[base + c] = 0


@kernel(parallel=True)
def col2im_into(cols, kh, kw, sh, sw, dh, dw, pt, pl, dx):
    """dx = the adjoint of ``im2col_into``: every patch element added back to its input pixel.

    cols (N, OH, OW, kh*kw*C); dx (N, H, W, C); C-contiguous, one float dtype; dx is
    overwritten (zeroed, then accumulated). Other arguments as in ``im2col_into``. Parallel over
    images (each image's sums stay in one thread, so the result is deterministic).
    """
    n_img, h_in, w_in, c_in = dx.shape
    _, oh_len, ow_len, width = cols.shape
    if cols.shape[0] != n_img or width != kh * kw * c_in:
        raise ValueError("col2im_into: cols must have shape (N, OH, OW, kh*kw*C)")
    for n in prange(n_img):
        dx[n] = 0
        for oh in range(oh_len):
            for ow in range(ow_len):
                src = cols[n, oh, ow]
                for i in range(kh):
                    h = oh * sh - pt + i * dh
                    if h < 0 or h >= h_in:
                        continue
                    for j in range(kw):
                        w = ow * sw - pl + j * dw
                        if w < 0 or w >= w_in:
                            continue
                        dst = dx[n, h, w]
                        base = (i * kw + j) * c_in
                        for c in range(c_in):
                            dst[c] += src[base + c]


@kernel
def _rows(a, rows, width):
    """A (rows, width) view of a C-contiguous array; (0, 0) for an empty one ("not given")."""
    if a.size == 0:
        return a.reshape((0, 0))
    return a.reshape((rows, width))


@kernel
def conv2d_forward_into(x, w, b, cols, out, preact, sh, sw, dh, dw, pt, pl, kind, p0, p1, p2):
    """out = act(conv2d(x, w) + b), NHWC, through im2col and the fused dense GEMM.

    x (N, H, W, C); w (KH, KW, C, F) (Keras layout); b (F,) or (0,) for no bias; cols
    (N, OH, OW, KH*KW*C) scratch, overwritten with the patches (keep it for the backward);
    out (N, OH, OW, F); preact (N, OH, OW, F) receives the pre-activation, or pass shape
    (0, 0, 0, 0) to skip it. All C-contiguous, one float dtype (float32 or float64). sh, sw
    strides; dh, dw dilation; pt, pl padding before; kind, p0, p1, p2 the activation
    (``numdense.kernels.activation_kinds``).
    """
    kh, kw, c_in, f = w.shape
    n_img, oh_len, ow_len, width = cols.shape
    if x.shape[3] != c_in or out.shape[0] != n_img or out.shape[1] != oh_len or out.shape[2] != ow_len or out.shape[3] != f:
        raise ValueError("conv2d_forward_into: x, w, cols and out shapes do not match")
    im2col_into(x, kh, kw, sh, sw, dh, dw, pt, pl, cols)
    rows = n_img * oh_len * ow_len
    p2d = _rows(preact, rows, f)
    dense_forward_into(cols.reshape((rows, width)), w.reshape((width, f)), b, out.reshape((rows, f)), p2d,
                       kind, p0, p1, p2)


@kernel
def conv2d_backward_into(cols, w, preact, y, dy, dz, dcols, dx, dw, db, sh, sw, dil_h, dil_w, pt, pl,
                         kind, p0, p1, p2, need_dx):
    """Gradients of ``conv2d_forward_into``: dz = act'(preact) * dy, dw = cols.T @ dz,
    db = sum(dz), dcols = dz @ w.T and dx = col2im(dcols).

    cols (N, OH, OW, KH*KW*C) the forward's patches; w (KH, KW, C, F); preact, y, dy, dz
    (N, OH, OW, F) (preact and y may be (0, 0, 0, 0) for a linear activation); dcols like cols
    and dx (N, H, W, C) (both may be empty when not need_dx); dw like w; db (F,) or (0,) to skip.
    All C-contiguous, one float dtype; dz, dw, db and (if need_dx) dcols and dx are overwritten.
    """
    kh, kw, c_in, f = w.shape
    n_img, oh_len, ow_len, width = cols.shape
    rows = n_img * oh_len * ow_len
    if dy.shape[0] != n_img or dy.shape[1] != oh_len or dy.shape[2] != ow_len or dy.shape[3] != f:
        raise ValueError("conv2d_backward_into: dy shape does not match cols and w")
    p2d = _rows(preact, rows, f)
    y2d = _rows(y, rows, f)
    dcols2d = _rows(dcols, rows, width)
    dense_backward_into(cols.reshape((rows, width)), w.reshape((width, f)), p2d, y2d, dy.reshape((rows, f)),
                        dz.reshape((rows, f)), dcols2d, dw.reshape((width, f)), db, kind, p0, p1, p2, need_dx)
    if need_dx:
        col2im_into(dcols, kh, kw, sh, sw, dil_h, dil_w, pt, pl, dx)
