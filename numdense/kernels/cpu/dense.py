"""Fused Dense layer kernels: ``act(x @ w + b)`` forward and its gradients, with NumPy wrappers.

The forward applies bias and activation in the GEMM write-back: per block of rows, right after the
block's last product slice is stored, while it is still in cache.
"""

import numpy as np
from numba import carray, prange
from numba.extending import intrinsic

from .. import activation_kinds
from ..activation_kinds import LINEAR
from ._gemm import (
    UKERNEL,
    add_parts,
    block,
    flag,
    gemm_serial,
    ksplit_part,
    nr_for,
    num_threads,
    pack_a_all,
    part_range,
    plan,
    row_range,
    shared_b,
    small_nn,
    task_buffers,
    use_ksplit,
    use_parallel,
    use_small,
)
from ._cabi import CKernel
from ._jit import fma, kernel, same_dtype
from .activations import activation_backward_into, activation_forward_into
from .bias import bias_grad_into
from .matmul import _MATMUL, _matmul, check_out, result_dtype
from .row_split import small_nn_split, worth_splitting

__all__ = ["dense_backward", "dense_backward_into", "dense_forward", "dense_forward_into"]

_ROWS_SMALL = 8  # rows per epilogue call on the serial path
# Up to this many multiply-adds (e.g. 32 x 2 -> 1, 32 x 8 -> 16) a layer runs as plain loops:
# the product is nanoseconds, the small-kernel path's row chunks, bias passes and scratch
# allocation cost more than it.
_TINY_FMAS = 1 << 12
_MAX_KIND = max(v for k, v in vars(activation_kinds).items() if k.isupper() and isinstance(v, int))

# The activations are reached through C symbols (a cfunc per dtype, see ``_cabi``) rather
# than as Numba callees: their IR is large, and a callee's IR is re-optimized inside every caller
# (epilogue, each prange body, driver, core, the tiny-layer path every step loop inlines), which
# multiplied the cold compile time.
def _act_forward_c(xp, x0, x1, op, o0, o1, kind, p0, p1, p2):
    activation_forward_into(carray(xp, (x0, x1)), carray(op, (o0, o1)), kind, p0, p1, p2)


def _act_backward_c(xp, x0, x1, yp, y0, y1, gp, g0, g1, dp, d0, d1, kind, p0, p1, p2):
    activation_backward_into(carray(xp, (x0, x1)), carray(yp, (y0, y1)), carray(gp, (g0, g1)),
                             carray(dp, (d0, d1)), kind, p0, p1, p2)


_ACT_FORWARD = CKernel(_act_forward_c, "act_forward", "aaifff", 1)
_ACT_BACKWARD = CKernel(_act_backward_c, "act_backward", "aaaaifff", 1)


@intrinsic
def _act_forward(typingctx, x, out, kind, p0, p1, p2):
    """activation_forward_into(x, out, kind, p0, p1, p2) via its C symbol; x, out C-contiguous (m, n)."""
    return _ACT_FORWARD.call(x, out, kind, p0, p1, p2)


@intrinsic
def _act_backward(typingctx, x, y, dy, dx, kind, p0, p1, p2):
    """activation_backward_into(...) via its C symbol; arrays C-contiguous (m, n)."""
    return _ACT_BACKWARD.call(x, y, dy, dx, kind, p0, p1, p2)


@kernel
def _epilogue(z, out, bias, keep, kind, p0, p1, p2):
    """z += bias (if bias.shape[0]); out = act(z). z, out (rows, N) C-contiguous; out is z unless keep."""
    if bias.shape[0] != 0:
        for i in range(z.shape[0]):
            zr = z[i]
            for j in range(zr.shape[0]):
                zr[j] += bias[j]
    if kind != LINEAR:
        _act_forward(z, out, kind, p0, p1, p2)
    elif keep:
        out[:] = z


@kernel(parallel=True)
def _dense_packed(x, w, bias, z, out, keep, kind, p0, p1, p2):
    """Packed, parallel twin of ``gemm_packed`` (NN) with the dense epilogue; K >= 1."""
    m, n = z.shape
    k_len = x.shape[1]
    nr = nr_for(z)
    npanel = (n + nr - 1) // nr
    nt = num_threads()
    if use_ksplit(m, n, k_len, nt):  # depth split: partial products summed, then one epilogue pass
        parts = np.empty((nt - 1, m, n), dtype=z.dtype)
        for t in prange(nt):
            if t == 0:
                ksplit_part(x, flag(False), w, flag(False), z, 0, nt, flag(False))
            else:
                ksplit_part(x, flag(False), w, flag(False), parts[t - 1], t, nt, flag(False))
        add_parts(z, parts)
        _epilogue(z, out, bias, keep, kind, p0, p1, p2)
        return
    mc, nblk, ncb = plan(m, npanel, k_len, nt, z)
    shared = nblk == 1  # column tasks share one packed A, and each B panel has one user
    bpk = shared_b(w, flag(False), k_len, npanel, not shared, z)
    ap_all = pack_a_all(x, flag(False), m if shared else 0, k_len)
    if ncb == 1:
        for ib in prange(nblk):
            i0, i1 = row_range(ib, nblk, m)
            ap, bt, ct = task_buffers(shared, ap_all, bpk, mc, k_len, nr, z)
            block(x, flag(False), w, flag(False), bt, shared, z, i0, i1 - i0, 0, npanel, 0, k_len, flag(False), ap, shared, ct)
            _epilogue(z[i0:i1], out[i0:i1], bias, keep, kind, p0, p1, p2)
    else:  # few rows: split columns for parallelism, then a row-wise epilogue pass
        for t in prange(nblk * ncb):
            ib = t // ncb
            i0, i1 = row_range(ib, nblk, m)
            jp0, jp1 = part_range(t - ib * ncb, ncb, npanel)
            ap, bt, ct = task_buffers(shared, ap_all, bpk, mc, k_len, nr, z)
            block(x, flag(False), w, flag(False), bt, shared, z, i0, i1 - i0, jp0, jp1, 0, k_len, flag(False), ap, shared, ct)
        for ib in prange(nblk):
            i0, i1 = row_range(ib, nblk, m)
            _epilogue(z[i0:i1], out[i0:i1], bias, keep, kind, p0, p1, p2)


@kernel(inline="always")
def _copy_into(src, dst):
    for i in range(src.shape[0]):
        for j in range(src.shape[1]):
            dst[i, j] = src[i, j]


@kernel(inline="always")
def _tiny_forward(x, w, b, z):
    """z = x @ w (+ b): each output a chain of fused multiply-adds over k in order, then the
    bias added; the rounding of ``small_nn`` + ``_epilogue``, so a row's result does not depend
    on how many rows the batch has. K >= 1."""
    m, k_len = x.shape
    n = w.shape[1]
    has_bias = b.shape[0] != 0
    if n <= 2:  # each chain in a register
        for i in range(m):
            xr = x[i]
            zr = z[i]
            for j in range(n):
                acc = xr[0] * w[0, j]
                for k in range(1, k_len):
                    acc = fma(xr[k], w[k, j], acc)
                zr[j] = acc + b[j] if has_bias else acc
        return
    _tiny_forward_rows(x, w, b, z)


@kernel
def _tiny_forward_rows(x, w, b, z):
    """``_tiny_forward`` for three or more outputs: a call, not inlined, since the step loops
    that inline ``dense_forward_into`` would compile this second body at every call site."""
    m, k_len = x.shape
    n = w.shape[1]
    has_bias = b.shape[0] != 0
    # A register chain per output would wait on each fma's latency (a 128 -> 10 layer: 1.2 us);
    # here the n chains of a row advance together, four depth steps per pass over the row.
    k4 = 1 + (k_len - 1) // 4 * 4
    for i in range(m):
        xr = x[i]
        zr = z[i]
        x0 = xr[0]
        w0 = w[0]
        for j in range(n):
            zr[j] = x0 * w0[j]
        for k in range(1, k4, 4):
            x1, x2, x3, x4 = xr[k], xr[k + 1], xr[k + 2], xr[k + 3]
            w1, w2, w3, w4 = w[k], w[k + 1], w[k + 2], w[k + 3]
            for j in range(n):
                zr[j] = fma(x4, w4[j], fma(x3, w3[j], fma(x2, w2[j], fma(x1, w1[j], zr[j]))))
        for k in range(k4, k_len):
            xk = xr[k]
            wk = w[k]
            for j in range(n):
                zr[j] = fma(xk, wk[j], zr[j])
        if has_bias:
            for j in range(n):
                zr[j] = zr[j] + b[j]


@kernel(inline="always")
def _tiny_backward(x, w, dz, dx, dw, db, need_dx):
    """dw = x.T @ dz, db = column sums of dz (if db.shape[0]), dx = dz @ w.T (if need_dx); each
    sum runs over its rows or columns in order, in a register, products fused as in
    ``small_tn`` (dw and db round as the small-kernel path does). K, M, N >= 1."""
    m, k_len = x.shape
    n = w.shape[1]
    for k in range(k_len):
        for j in range(n):
            acc = x[0, k] * dz[0, j]
            for i in range(1, m):
                acc = fma(x[i, k], dz[i, j], acc)
            dw[k, j] = acc
    if db.shape[0] != 0:
        for j in range(n):
            acc = dz[0, j]
            for i in range(1, m):
                acc += dz[i, j]
            db[j] = acc
    if need_dx:
        for i in range(m):
            dzr = dz[i]
            dxr = dx[i]
            for k in range(k_len):
                wr = w[k]
                acc = dzr[0] * wr[0]
                for j in range(1, n):
                    acc = fma(dzr[j], wr[j], acc)
                dxr[k] = acc


@kernel
def _forward_impl(x, w, b, out, preact, kind, p0, p1, p2):
    """Body of ``dense_forward_into`` (shapes already checked)."""
    m, k_len = x.shape
    n = w.shape[1]
    keep = preact.shape[0] != 0 or preact.shape[1] != 0
    if m == 0 or n == 0:
        return
    z = preact if keep else out
    if k_len == 0:
        z[:] = 0
        _epilogue(z, out, b, keep, kind, p0, p1, p2)
    elif worth_splitting(m, n, k_len):  # a sample or a few: a second core if one is polling
        small_nn_split(x, w, z)
        _epilogue(z, out, b, keep, kind, p0, p1, p2)
    elif use_small(m, n, k_len):
        for i0 in range(0, m, _ROWS_SMALL):
            i1 = min(m, i0 + _ROWS_SMALL)
            small_nn(x[i0:i1], w, z[i0:i1], flag(False))
            _epilogue(z[i0:i1], out[i0:i1], b, keep, kind, p0, p1, p2)
    elif use_parallel(m, n, k_len):
        _dense_packed(x, w, b, z, out, keep, kind, p0, p1, p2)
    else:  # serial packed product; the whole (small) output is still in cache for the epilogue
        gemm_serial(x, w, z, flag(False), flag(False), flag(False))
        _epilogue(z, out, b, keep, kind, p0, p1, p2)


def _forward_c(xp, x0, x1, wp, w0, w1, bp, b0, op, o0, o1, pp, p0_, p1_, kind, p0, p1, p2):
    _forward_impl(
        carray(xp, (x0, x1)), carray(wp, (w0, w1)), carray(bp, (b0,)), carray(op, (o0, o1)), carray(pp, (p0_, p1_)),
        kind, p0, p1, p2,
    )


def _backward_c(
    xp, x0, x1, wp, w0, w1, zp, z0, z1, yp, y0, y1, gp, g0, g1, dzp, dz0, dz1, dxp, dx0, dx1, dwp, dw0, dw1,
    dbp, db0, kind, p0, p1, p2, need_dx,
):
    _backward_impl(
        carray(xp, (x0, x1)), carray(wp, (w0, w1)), carray(zp, (z0, z1)), carray(yp, (y0, y1)),
        carray(gp, (g0, g1)), carray(dzp, (dz0, dz1)), carray(dxp, (dx0, dx1)), carray(dwp, (dw0, dw1)),
        carray(dbp, (db0,)), kind, p0, p1, p2, need_dx != 0,
    )


@kernel(inline="always")
def dense_forward_into(x, w, b, out, preact, kind, p0, p1, p2):
    """out = act(x @ w + b) in one pass over the output; optionally keeps the pre-activation.

    x (M, K), w (K, N), out (M, N); b (N,) or (0,) for no bias; preact (M, N) receives x @ w + b,
    or pass shape (0, 0) to skip it. All 2-D/1-D C-contiguous, one float dtype (float32 or
    float64); out and preact are written and must not overlap x, w, b or each other. kind, p0, p1,
    p2: activation id and parameters (``numdense.kernels.activation_kinds``).
    """
    if not same_dtype(x, w, b, out, preact):
        raise TypeError("dense_forward_into: x, w, b, out and preact must share one dtype")
    m, k_len = x.shape
    n = w.shape[1]
    if w.shape[0] != k_len or out.shape[0] != m or out.shape[1] != n:
        raise ValueError("dense_forward_into: x, w and out shapes do not match")
    if b.shape[0] != 0 and b.shape[0] != n:
        raise ValueError("dense_forward_into: b must have shape (N,) or (0,)")
    keep = preact.shape[0] != 0 or preact.shape[1] != 0
    if keep and (preact.shape[0] != m or preact.shape[1] != n):
        raise ValueError("dense_forward_into: preact must have shape (M, N) or (0, 0)")
    if kind < 0 or kind > _MAX_KIND:
        raise ValueError("dense_forward_into: unknown activation kind")
    if k_len != 0 and m * n * k_len <= _TINY_FMAS:  # tiny layer: plain loops, no C call
        z = preact if keep else out
        _tiny_forward(x, w, b, z)
        if kind != LINEAR:
            _act_forward(z, out, kind, p0, p1, p2)
        elif keep:
            _copy_into(z, out)
        return
    _forward(x, w, b, out, preact, kind, p0, p1, p2)


@kernel
def _backward_impl(x, w, preact, y, dy, dz, dx, dw, db, kind, p0, p1, p2, need_dx):
    """Body of ``dense_backward_into`` (shapes already checked)."""
    if kind == LINEAR:
        _copy_into(dy, dz)
    else:
        _act_backward(preact, y, dy, dz, kind, p0, p1, p2)
    _matmul(x, dz, dw, False, True, False)
    if db.shape[0] != 0:
        bias_grad_into(dz, db, flag(False))
    if need_dx:
        _matmul(dz, w, dx, False, False, True)


_FORWARD = CKernel(_forward_c, "dense_forward", "aavaaifff", 1, needs=[_ACT_FORWARD, UKERNEL])
_BACKWARD = CKernel(_backward_c, "dense_backward", "aaaaaaaavifffi", 1, needs=[_ACT_BACKWARD, _MATMUL])


@intrinsic
def _forward(typingctx, x, w, b, out, preact, kind, p0, p1, p2):
    return _FORWARD.call(x, w, b, out, preact, kind, p0, p1, p2)


@intrinsic
def _backward(typingctx, x, w, preact, y, dy, dz, dx, dw, db, kind, p0, p1, p2, need_dx):
    return _BACKWARD.call(x, w, preact, y, dy, dz, dx, dw, db, kind, p0, p1, p2, need_dx)


@kernel(inline="always")
def dense_backward_into(x, w, preact, y, dy, dz, dx, dw, db, kind, p0, p1, p2, need_dx):
    """Gradients of y = act(x @ w + b): dz = act'(preact) * dy, dw = x.T @ dz, db = sum(dz, 0), dx = dz @ w.T.

    x (M, K), w (K, N), preact, y, dy, dz (M, N), dx (M, K), dw (K, N), db (N,) or (0,) to skip;
    all C-contiguous, one float dtype (float32 or float64). dz, dw, db and (if need_dx) dx are
    overwritten; dz may be dy itself, other outputs must not overlap the inputs. preact and y are
    the forward's pre-activation and output (y is read only by kinds that need it, see
    ``activation_backward_into``).
    """
    if not same_dtype(x, w, preact, y, dy, dz, dx, dw, db):
        raise TypeError("dense_backward_into: all arrays must share one dtype")
    m, k_len = x.shape
    n = w.shape[1]
    if w.shape[0] != k_len or dy.shape[0] != m or dy.shape[1] != n or dz.shape[0] != m or dz.shape[1] != n:
        raise ValueError("dense_backward_into: x, w, dy and dz shapes do not match")
    if dw.shape[0] != k_len or dw.shape[1] != n or (need_dx and (dx.shape[0] != m or dx.shape[1] != k_len)):
        raise ValueError("dense_backward_into: dw or dx shape does not match")
    if db.shape[0] != 0 and db.shape[0] != n:
        raise ValueError("dense_backward_into: db must have shape (N,) or (0,)")
    if kind < 0 or kind > _MAX_KIND:
        raise ValueError("dense_backward_into: unknown activation kind")
    if kind != LINEAR and (preact.shape[0] != m or preact.shape[1] != n or y.shape[0] != m or y.shape[1] != n):
        raise ValueError("dense_backward_into: preact and y must have shape (M, N)")
    if m != 0 and n != 0 and k_len != 0 and m * n * k_len <= _TINY_FMAS:  # as in the forward
        if kind == LINEAR:
            _copy_into(dy, dz)
        else:
            _act_backward(preact, y, dy, dz, kind, p0, p1, p2)
        _tiny_backward(x, w, dz, dx, dw, db, need_dx)
        return
    _backward(x, w, preact, y, dy, dz, dx, dw, db, kind, p0, p1, p2, need_dx)


def _float_2d(func, name, x):
    x = np.asarray(x)
    if x.ndim != 2:
        raise ValueError(f"{func}: {name} must be a 2-D array, got {x.ndim}-D with shape {x.shape}")
    if x.dtype not in (np.float32, np.float64):
        raise TypeError(f"{func}: {name} must have dtype float32 or float64, got {x.dtype}")
    return x


def _check_w(func, x, w):
    if w.shape[0] != x.shape[1]:
        raise ValueError(f"{func}: w must have {x.shape[1]} rows to match x of shape {x.shape}, got shape {w.shape}")


def _bias(func, b, n, dtype):
    if b is None:
        return np.empty(0, dtype=dtype)
    b = np.asarray(b)
    if b.shape != (n,):
        raise ValueError(f"{func}: b must have shape ({n},), got {b.shape}")
    if b.dtype not in (np.float32, np.float64):
        raise TypeError(f"{func}: b must have dtype float32 or float64, got {b.dtype}")
    return np.ascontiguousarray(b, dtype=dtype)


def dense_forward(x, w, b=None, kind=LINEAR, p0=0.0, p1=np.inf, p2=0.0, out=None, return_preact=False):
    """Return ``act(x @ w + b)`` for x (M, K), w (K, N), b (N,) or None; float32/float64.

    kind, p0, p1, p2 select the activation (``numdense.kernels.activation_kinds``). Mixed dtypes
    promote to float64; inputs of any layout are accepted. ``out`` (M, N), if given, must be
    C-contiguous with the result dtype. With ``return_preact`` returns ``(out, x @ w + b)``.
    """
    x = _float_2d("dense_forward", "x", x)
    w = _float_2d("dense_forward", "w", w)
    _check_w("dense_forward", x, w)
    shape = (x.shape[0], w.shape[1])
    dtype = result_dtype(x, w, *([] if b is None else [np.asarray(b)]))
    bias = _bias("dense_forward", b, shape[1], dtype)
    x, w = (np.ascontiguousarray(v, dtype=dtype) for v in (x, w))
    if out is None:
        out = np.empty(shape, dtype=dtype)  # new: overlaps nothing
    else:
        check_out("dense_forward", out, shape, dtype)
        x, w, bias = (v.copy() if np.may_share_memory(v, out) else v for v in (x, w, bias))
    preact = np.empty(shape if return_preact else (0, 0), dtype=dtype)
    dense_forward_into(x, w, bias, out, preact, int(kind), float(p0), float(p1), float(p2))
    return (out, preact) if return_preact else out


def dense_backward(x, w, preact, y, dy, kind=LINEAR, p0=0.0, p1=np.inf, p2=0.0, need_dx=True, need_db=True):
    """Return ``(dx, dw, db)`` for y = act(x @ w + b) given the upstream gradient dy (M, N).

    preact = x @ w + b and y = act(preact) as returned by ``dense_forward(..., return_preact=True)``;
    y may be None (recomputed when the kind needs it) and preact may be None for LINEAR. dx is None
    unless need_dx, db None unless need_db. Mixed dtypes promote to float64.
    """
    x = _float_2d("dense_backward", "x", x)
    w = _float_2d("dense_backward", "w", w)
    dy = _float_2d("dense_backward", "dy", dy)
    _check_w("dense_backward", x, w)
    shape = (x.shape[0], w.shape[1])
    if dy.shape != shape:
        raise ValueError(f"dense_backward: dy must have shape {shape}, got {dy.shape}")
    if preact is None:
        if int(kind) != LINEAR:
            raise ValueError("dense_backward: preact is required for a non-linear activation")
        preact = dy
    preact = _float_2d("dense_backward", "preact", preact)
    if preact.shape != shape:
        raise ValueError(f"dense_backward: preact must have shape {shape}, got {preact.shape}")
    dtype = result_dtype(x, w, dy, preact)
    x, w, dy, preact = (np.ascontiguousarray(v, dtype=dtype) for v in (x, w, dy, preact))
    if y is None:
        y = np.empty(shape, dtype=dtype)
        activation_forward_into(preact, y, int(kind), float(p0), float(p1), float(p2))
    else:
        y = _float_2d("dense_backward", "y", y)
        if y.shape != shape:
            raise ValueError(f"dense_backward: y must have shape {shape}, got {y.shape}")
        y = np.ascontiguousarray(y, dtype=dtype)
    dz = np.empty(shape, dtype=dtype)
    dx = np.empty(x.shape if need_dx else (0, 0), dtype=dtype)
    dw = np.empty(w.shape, dtype=dtype)
    db = np.empty(shape[1] if need_db else 0, dtype=dtype)
    p = (int(kind), float(p0), float(p1), float(p2))
    dense_backward_into(x, w, preact, y, dy, dz, dx, dw, db, *p, bool(need_dx))
    return (dx if need_dx else None), dw, (db if need_db else None)
