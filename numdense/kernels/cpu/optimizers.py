"""Optimizer kernels: one parameter's complete update (Keras 3 order and formulas), in place.

Kind ids and the ``hp`` / ``state`` / slot layouts are in ``numdense.kernels.optimizer_kinds``.
All per-element arithmetic runs in the parameter's dtype with Keras' operation order, and
hyperparameters are cast to that dtype exactly where Keras casts them (``1 - beta_1`` computed
in float64 then cast, ``beta_1`` cast then powered, ...): Keras computes in the variable dtype,
and for float32 its bias corrections (``1 - beta_2**t``) differ from float64 math by ~1e-5
relative, which a float64 evaluation would not reproduce.

Per step, a caller does::

    scale = 1.0  # or global_clip_scale(sum of grad_sq_norm_with_reg(...), global_clipnorm)
    optimizer_begin_step(kind, hp, state, t)          # t = iterations + 1
    for each parameter:
        optimizer_update_into(kind, w, g, m, v, u, hp, state, lr, t, l1, l2, clipvalue,
                              clipnorm, scale, wd, ckind, cp0, cp1, cp2, caxis, rows, cols)
"""

import numpy as np
from numba import carray, prange
from numba.extending import intrinsic, overload
from numba.np.numpy_support import as_dtype

from .. import optimizer_kinds as K
from ._cabi import CKernel
from ._gemm import num_threads
from ._jit import kernel
from .constraints import NONE as _CONSTRAINT_NONE
from .constraints import constraint_apply_into


@kernel
def grad_sq_norm(g):
    """``sum(g**2)`` as a float64, accumulated in float64.

    ``g``: C-contiguous float32/float64 array of any rank (read only).
    """
    gf = g.reshape(g.size)
    s = 0.0
    for i in range(gf.size):
        x = np.float64(gf[i])
        s += x * x
    return s


@kernel
def grad_sq_norm_with_reg(w, g, l1, l2):
    """``sum((g + l1*sign(w) + 2*l2*w)**2)`` as a float64: one parameter's share of Keras'
    global gradient norm, whose gradient includes the regularizer's.

    ``w``, ``g``: C-contiguous float32/float64 arrays of the same size (read only). A term whose
    coefficient is 0 is skipped. The regularized gradient is formed in ``g``'s dtype, as
    ``optimizer_update_into`` forms it, then squared and summed in float64.
    """
    wf = w.reshape(w.size)
    gf = g.reshape(g.size)
    T = gf.dtype.type
    a = T(l1)
    b = T(2.0 * l2)
    s = 0.0
    for i in range(gf.size):
        x = gf[i]
        if l1 != 0.0:
            x += a * _sign(T(wf[i]), T(1.0))
        if l2 != 0.0:
            x += b * T(wf[i])
        y = np.float64(x)
        s += y * y
    return s


@kernel
def global_clip_scale(sq_norm, global_clipnorm):
    """The factor Keras' ``clip_by_global_norm`` multiplies every gradient by (float64).

    ``sq_norm``: the sum of ``grad_sq_norm_with_reg`` over all parameters. Returns 1.0 when
    ``global_clipnorm <= 0``; otherwise ``c * min(1/norm, 1/c)``, and nan when the norm is
    inf or nan (as Keras).
    """
    if not global_clipnorm > 0.0:
        return 1.0
    norm = np.sqrt(sq_norm)
    return global_clipnorm * min(1.0 / norm, 1.0 / global_clipnorm) + (norm - norm)


@kernel
def _sign(x, one):
    if x > 0:
        return one
    if x < 0:
        return -one
    return x  # 0 stays 0, nan stays nan


@kernel
def grad_transform_into(w, g, l1, l2, clipvalue, clipnorm, grad_scale):
    """Turns a loss gradient into the one the update step sees, in place, in Keras' order.

    ``w``: 1-D C-contiguous parameter (read only; may be ``g`` itself when ``l1 == l2 == 0``).
    ``g``: 1-D C-contiguous array of ``w``'s size and dtype, overwritten. Steps, in ``g``'s
    dtype: ``g += l1*sign(w) + 2*l2*w`` (terms with a 0 coefficient skipped); if
    ``clipnorm > 0``: ``g = g*clipnorm / max(||g||, clipnorm)`` (norm summed in float64); if
    ``grad_scale != 1``: ``g *= grad_scale``; if ``clipvalue > 0``: ``g = clip(g, -clipvalue,
    clipvalue)``. Keras allows only one of the three clip options at a time.
    """
    n = g.size
    T = g.dtype.type
    a = T(l1)
    b = T(2.0 * l2)
    reg = l1 != 0.0 or l2 != 0.0
    if reg:
        for i in range(n):
            x = g[i]
            if l1 != 0.0:
                x += a * _sign(T(w[i]), T(1.0))
            if l2 != 0.0:
                x += b * T(w[i])
            g[i] = x
    if clipnorm > 0.0:
        c = T(clipnorm)
        norm = T(np.sqrt(grad_sq_norm(g)))
        den = max(norm, c)
        for i in range(n):
            g[i] = g[i] * c / den
    if grad_scale != 1.0:
        s = T(grad_scale)
        for i in range(n):
            g[i] = g[i] * s
    if clipvalue > 0.0:
        hi = T(clipvalue)
        lo = -hi
        for i in range(n):
            g[i] = min(max(g[i], lo), hi)


def _flushed(x):
    """x, or zero when x is subnormal (NaN passes).

    A slot that decays by a factor each step (a dead unit's momentum, ``m + (0 - m) * 0.1``)
    ends stuck a few units above zero, where ``m * 0.1`` rounds to nothing, and from then on
    every step computes on subnormals, which x86 CPUs handle in microcode: Adam epochs of an
    MLP with dead ReLU units ran up to 3x slower. TensorFlow flushes subnormals to zero on the
    CPU, so Keras' own slots end at zero too.
    """


@overload(_flushed)
def _flushed_typed(x):
    dtype = as_dtype(x)
    tiny, zero = dtype.type(np.finfo(dtype).tiny), dtype.type(0.0)
    return lambda x: zero if abs(x) < tiny else x


@kernel(inline="always")
def _decayed(wi, dec, wdt, lrt):
    if dec:
        return wi - wi * wdt * lrt
    return wi


@kernel
def _sgd(w, g, m, hp, lr, wd):
    T = w.dtype.type
    lrt = T(lr)
    wdt = T(wd)
    dec = wd != 0.0
    mom = T(hp[0])
    if hp[0] != 0.0:
        nesterov = hp[1] != 0.0
        for i in range(w.size):
            wi = _decayed(w[i], dec, wdt, lrt)
            gi = g[i]
            mi = _flushed(m[i] * mom - gi * lrt)
            m[i] = mi
            if nesterov:
                w[i] = wi + (mi * mom - gi * lrt)
            else:
                w[i] = wi + mi
    else:
        for i in range(w.size):
            wi = _decayed(w[i], dec, wdt, lrt)
            w[i] = wi - g[i] * lrt


@kernel(inline="always")
def adam_coefficients(w, hp, lr, t):
    """Adam's (and AdamW's) per-step scalars in ``w``'s dtype: ``(alpha, 1 - beta_1,
    1 - beta_2, epsilon)`` with ``alpha = lr * sqrt(1 - beta_2**t) / (1 - beta_1**t)``.

    ``w``: any array of the parameters' dtype (only its dtype is read); ``hp``, ``lr``, ``t``
    as in ``optimizer_update_into``. The same for every parameter of a step, so a loop over
    parameters computes them once (``adam_apply_into``).
    """
    T = w.dtype.type
    lrt = T(lr)
    one = T(1.0)
    b1p = T(hp[0]) ** T(t)
    b2p = T(hp[1]) ** T(t)
    alpha = lrt * np.sqrt(one - b2p) / (one - b1p)
    return alpha, T(1.0 - hp[0]), T(1.0 - hp[1]), T(hp[2])


@kernel(inline="always")
def adam_apply_into(w, g, m, v, u, coefficients, amsgrad, lr, wd):
    """Adam's update rule for one parameter from ``adam_coefficients``, in place.

    ``w``, ``g``, ``m``, ``v``, ``u`` as in ``optimizer_update_into`` (``g`` already
    transformed: regularizer gradient, clipping); ``amsgrad``: bool; ``lr``, ``wd``: the
    step's learning rate and this parameter's decoupled weight decay (0 = none).
    """
    alpha, c1, c2, eps = coefficients
    T = w.dtype.type
    lrt = T(lr)
    wdt = T(wd)
    dec = wd != 0.0
    for i in range(w.size):
        wi = _decayed(w[i], dec, wdt, lrt)
        gi = g[i]
        mi = _flushed(m[i] + (gi - m[i]) * c1)
        vi = _flushed(v[i] + (gi * gi - v[i]) * c2)
        m[i] = mi
        v[i] = vi
        if amsgrad:  # (a subnormal maximum, left over from before the flush, would stay forever)
            vi = _flushed(max(u[i], vi))
            u[i] = vi
        w[i] = wi - (mi * alpha) / (np.sqrt(vi) + eps)


# From this size the compiled training loop runs Adam's rule on all threads: a serial pass over
# a 100,352-element kernel took ~50 us of an MLP step, two threads ~28 us with the launch.
ADAM_PARALLEL_MIN = 1 << 15


@kernel(parallel=True)
def adam_apply_parallel_into(w, g, m, v, u, coefficients, amsgrad, lr, wd):
    """``adam_apply_into`` with the elements split evenly over Numba's threads; the same
    operations per element, so the same bits. Arguments as there (``u`` may be empty unless
    ``amsgrad``)."""
    parts = num_threads()
    # Part boundaries on multiples of 16 elements, so no two threads write one cache line.
    step = (w.size + parts * 16 - 1) // (parts * 16) * 16
    for c in prange(parts):
        a = min(w.size, c * step)
        b = min(w.size, a + step)
        ua = a if amsgrad else 0
        ub = b if amsgrad else 0
        adam_apply_into(w[a:b], g[a:b], m[a:b], v[a:b], u[ua:ub], coefficients, amsgrad, lr, wd)


def _adam_parallel_c(wp, wn, gp, gn, mp, mn, vp, vn, up, un, alpha, c1, c2, eps, amsgrad, lr, wd):
    w = carray(wp, (wn,))
    T = w.dtype.type
    adam_apply_parallel_into(w, carray(gp, (gn,)), carray(mp, (mn,)), carray(vp, (vn,)),
                             carray(up, (un,)), (T(alpha), T(c1), T(c2), T(eps)), amsgrad != 0,
                             lr, wd)


_ADAM_PARALLEL = CKernel(_adam_parallel_c, "adam_apply_parallel", "vvvvvffffiff", 1)


@intrinsic
def adam_apply_parallel_call(typingctx, w, g, m, v, u, alpha, c1, c2, eps, amsgrad, lr, wd):
    """``adam_apply_parallel_into`` through its C symbol (the coefficients as four scalars,
    exact in float64): the training loop links a call, not a parallel region."""
    return _ADAM_PARALLEL.call(w, g, m, v, u, alpha, c1, c2, eps, amsgrad, lr, wd)


@kernel(inline="always")
def adam_apply_step_into(w, g, m, v, u, coefficients, amsgrad, lr, wd):
    """``adam_apply_into`` for a step of a compiled training loop (same arguments, C-contiguous
    1-D arrays): parameters of ``ADAM_PARALLEL_MIN`` elements or more go through the parallel
    rule's C symbol (the loop links a call, not a parallel region)."""
    if w.size >= ADAM_PARALLEL_MIN:
        alpha, c1, c2, eps = coefficients
        adam_apply_parallel_call(w, g, m, v, u, alpha, c1, c2, eps, amsgrad, lr, wd)
    else:
        adam_apply_into(w, g, m, v, u, coefficients, amsgrad, lr, wd)


@kernel
def _adam(w, g, m, v, u, hp, lr, t, wd):
    adam_apply_into(w, g, m, v, u, adam_coefficients(w, hp, lr, t), hp[3] != 0.0, lr, wd)


@kernel
def _rmsprop(w, g, m, v, u, hp, lr, wd):
    T = w.dtype.type
    lrt = T(lr)
    wdt = T(wd)
    dec = wd != 0.0
    rho = T(hp[0])
    c = T(1.0 - hp[0])
    momentum = T(hp[1])
    use_mom = hp[1] > 0.0
    eps = T(hp[2])
    centered = hp[3] != 0.0
    for i in range(w.size):
        wi = _decayed(w[i], dec, wdt, lrt)
        gi = g[i]
        vel = _flushed(rho * m[i] + c * (gi * gi))
        m[i] = vel
        if centered:
            avg = _flushed(rho * u[i] + c * gi)
            u[i] = avg
            den = vel - avg * avg + eps
        else:
            den = vel + eps
        inc = lrt * gi / np.sqrt(den)
        if use_mom:
            mo = _flushed(momentum * v[i] + inc)
            v[i] = mo
            w[i] = wi - mo
        else:
            w[i] = wi - inc


@kernel
def _adagrad(w, g, m, hp, lr, wd):
    T = w.dtype.type
    lrt = T(lr)
    wdt = T(wd)
    dec = wd != 0.0
    eps = T(hp[1])
    for i in range(w.size):
        wi = _decayed(w[i], dec, wdt, lrt)
        gi = g[i]
        acc = m[i] + gi * gi
        m[i] = acc
        w[i] = wi - (lrt * gi) / np.sqrt(acc + eps)


@kernel
def _adadelta(w, g, m, v, hp, lr, wd):
    T = w.dtype.type
    lrt = T(lr)
    wdt = T(wd)
    dec = wd != 0.0
    rho = T(hp[0])
    c = T(1.0 - hp[0])
    eps = T(hp[1])
    for i in range(w.size):
        wi = _decayed(w[i], dec, wdt, lrt)
        gi = g[i]
        ag = _flushed(rho * m[i] + c * (gi * gi))
        m[i] = ag
        delta = -((np.sqrt(v[i] + eps) * gi) / np.sqrt(ag + eps))
        v[i] = _flushed(rho * v[i] + c * (delta * delta))
        w[i] = wi + lrt * delta


@kernel
def _adamax(w, g, m, v, hp, lr, t, wd):
    T = w.dtype.type
    lrt = T(lr)
    wdt = T(wd)
    dec = wd != 0.0
    one = T(1.0)
    b1p = T(hp[0]) ** T(t)
    c1 = T(1.0 - hp[0])
    b2 = T(hp[1])
    eps = T(hp[2])
    for i in range(w.size):
        wi = _decayed(w[i], dec, wdt, lrt)
        gi = g[i]
        mi = _flushed(m[i] + (gi - m[i]) * c1)
        m[i] = mi
        ui = _flushed(max(b2 * v[i], abs(gi)))
        v[i] = ui
        w[i] = wi - (lrt * mi) / ((one - b1p) * (ui + eps))


@kernel
def _nadam(w, g, m, v, hp, state, lr, t, wd):
    T = w.dtype.type
    lrt = T(lr)
    wdt = T(wd)
    dec = wd != 0.0
    one = T(1.0)
    half = T(0.5)
    decay = T(0.96)
    b1 = T(hp[0])
    b2 = T(hp[1])
    eps = T(hp[2])
    u_t = b1 * (one - half * decay ** T(t))
    u_t_1 = b1 * (one - half * decay ** T(t + 1))
    u_prod = T(state[0])
    u_prod_1 = u_prod * u_t_1
    b2p = b2 ** T(t)
    c1 = one - b1
    c2 = one - b2
    for i in range(w.size):
        wi = _decayed(w[i], dec, wdt, lrt)
        gi = g[i]
        mi = _flushed(m[i] + (gi - m[i]) * c1)
        vi = _flushed(v[i] + (gi * gi - v[i]) * c2)
        m[i] = mi
        v[i] = vi
        m_hat = (u_t_1 * mi) / (one - u_prod_1) + ((one - u_t) * gi) / (one - u_prod)
        v_hat = vi / (one - b2p)
        w[i] = wi - (m_hat * lrt) / (np.sqrt(v_hat) + eps)


@kernel
def _lion(w, g, m, hp, lr, wd):
    T = w.dtype.type
    lrt = T(lr)
    wdt = T(wd)
    dec = wd != 0.0
    one = T(1.0)
    b1 = T(hp[0])
    b2 = T(hp[1])
    for i in range(w.size):
        wi = _decayed(w[i], dec, wdt, lrt)
        gi = g[i]
        w[i] = wi - lrt * _sign(m[i] * b1 + gi * (one - b1), one)
        m[i] = _flushed(m[i] * b2 + gi * (one - b2))


@kernel
def optimizer_begin_step(kind, hp, state, t):
    """Advances the optimizer-wide scalars in ``state`` to step ``t`` (``t = iterations + 1``).

    Call once per step, before that step's ``optimizer_update_into`` calls. ``hp``: float64
    (HP_SIZE,) hyperparameters; ``state``: float64 (STATE_SIZE,), written in place. Only NADAM
    has state: ``state[0] *= beta_1 * (1 - 0.5 * 0.96**t)`` (``u_product``, in float64).
    """
    if kind == K.NADAM:
        state[0] = state[0] * hp[0] * (1.0 - 0.5 * 0.96 ** np.float64(t))


@kernel
def optimizer_update_into(
    kind, w, g, m, v, u, hp, state, lr, t, l1, l2, clipvalue, clipnorm, grad_scale, wd,
    ckind, cp0, cp1, cp2, caxis, rows, cols,
):
    """One parameter's full optimizer update, in place, in Keras' order.

    ``w``: the parameter, 1-D C-contiguous float32/float64 (a flat view of the weight),
    updated in place. ``g``: its loss gradient without the regularizer term, 1-D C-contiguous,
    same size and dtype; used as scratch (overwritten). ``m``, ``v``, ``u``: the kind's slot
    arrays (``optimizer_kinds`` lists them), same dtype, size ``w.size`` when used and 0
    otherwise; updated in place. ``hp``: float64 (HP_SIZE,); ``state``: float64 (STATE_SIZE,),
    read only (advanced by ``optimizer_begin_step``). ``lr``: this step's learning rate;
    ``t``: ``iterations + 1``.

    Order: (1) ``g += l1*sign(w) + 2*l2*w``; (2) ``clipnorm > 0``: ``g*clipnorm /
    max(||g||, clipnorm)``; ``g *= grad_scale`` (the global-clipnorm factor, 1.0 = none);
    ``clipvalue > 0``: ``clip(g, -clipvalue, clipvalue)``; (3) ``wd != 0``: ``w -= w*wd*lr``;
    (4) the kind's update rule; (5) constraint ``ckind`` (``kernels.cpu.constraints`` ids;
    NONE skips) with parameters ``cp0..cp2`` and axis mode ``caxis`` on
    ``w.reshape(rows, cols)``, epsilon 1e-7. Arithmetic is in ``w``'s dtype (see module doc).
    """
    update_prologue(w, g, l1, l2, clipvalue, clipnorm, grad_scale)
    if kind == K.SGD:
        _sgd(w, g, m, hp, lr, wd)
    elif kind == K.ADAM or kind == K.ADAMW:
        _adam(w, g, m, v, u, hp, lr, t, wd)
    elif kind == K.RMSPROP:
        _rmsprop(w, g, m, v, u, hp, lr, wd)
    elif kind == K.ADAGRAD:
        _adagrad(w, g, m, hp, lr, wd)
    elif kind == K.ADADELTA:
        _adadelta(w, g, m, v, hp, lr, wd)
    elif kind == K.ADAMAX:
        _adamax(w, g, m, v, hp, lr, t, wd)
    elif kind == K.NADAM:
        _nadam(w, g, m, v, hp, state, lr, t, wd)
    elif kind == K.LION:
        _lion(w, g, m, hp, lr, wd)
    update_epilogue(w, ckind, cp0, cp1, cp2, caxis, rows, cols)


def _optimizer_update_c(kind, wp, wn, gp, gn, mp, mn, vp, vn, up, un, hpp, hpn, sp, sn, lr, t, l1,
                        l2, clipvalue, clipnorm, grad_scale, wd, ckind, cp0, cp1, cp2, caxis, rows,
                        cols):
    optimizer_update_into(kind, carray(wp, (wn,)), carray(gp, (gn,)), carray(mp, (mn,)),
                          carray(vp, (vn,)), carray(up, (un,)), carray(hpp, (hpn,)),
                          carray(sp, (sn,)), lr, t, l1, l2, clipvalue, clipnorm, grad_scale, wd,
                          ckind, cp0, cp1, cp2, caxis, rows, cols)


_OPTIMIZER_UPDATE = CKernel(_optimizer_update_c, "optimizer_update", "ivvvvvddfiffffffifffiii", 1)


@intrinsic
def optimizer_update_call(typingctx, kind, w, g, m, v, u, hp, state, lr, t, l1, l2, clipvalue,
                          clipnorm, grad_scale, wd, ckind, cp0, cp1, cp2, caxis, rows, cols):
    """``optimizer_update_into`` through its C symbol (see ``_cabi``), same arguments: a compiled
    loop links one call instead of every kind's rule, and the rules are compiled on first use.
    ``rows * cols`` must equal ``w.size`` (the symbol cannot raise)."""
    return _OPTIMIZER_UPDATE.call(kind, w, g, m, v, u, hp, state, lr, t, l1, l2, clipvalue,
                                  clipnorm, grad_scale, wd, ckind, cp0, cp1, cp2, caxis, rows,
                                  cols)


@kernel(inline="always")
def update_prologue(w, g, l1, l2, clipvalue, clipnorm, grad_scale):
    """Step (1)-(2) of ``optimizer_update_into``: ``grad_transform_into`` unless it is a no-op."""
    if l1 != 0.0 or l2 != 0.0 or clipnorm > 0.0 or grad_scale != 1.0 or clipvalue > 0.0:
        grad_transform_into(w, g, l1, l2, clipvalue, clipnorm, grad_scale)


@kernel(inline="always")
def update_epilogue(w, ckind, cp0, cp1, cp2, caxis, rows, cols):
    """Step (5) of ``optimizer_update_into``: the constraint, if any, on ``w.reshape(rows, cols)``."""
    if ckind != _CONSTRAINT_NONE:
        constraint_apply_into(w.reshape((rows, cols)), ckind, cp0, cp1, cp2, caxis, 1e-7)


@kernel
def scale_into(g, divisor):
    """``g /= divisor`` in place, in ``g``'s dtype (Keras' loss-scale unscaling).

    ``g``: C-contiguous float32/float64 array of any rank.
    """
    gf = g.reshape(g.size)
    d = gf.dtype.type(divisor)
    for i in range(gf.size):
        gf[i] = gf[i] / d


@kernel
def grad_accumulate_into(acc, g, steps, is_update):
    """Gradient accumulation over ``steps`` micro-steps, in place (Keras' order).

    ``acc``, ``g``: 1-D C-contiguous arrays of one dtype and size. When ``is_update``:
    ``g = (g + acc) / steps`` and ``acc = 0`` (then run the update with ``g``); otherwise
    ``acc += g``.
    """
    T = g.dtype.type
    k = T(steps)
    if is_update:
        for i in range(g.size):
            g[i] = (g[i] + acc[i]) / k
            acc[i] = 0
    else:
        for i in range(g.size):
            acc[i] = g[i] + acc[i]


@kernel
def ema_update_into(average, w, momentum):
    """``average = momentum*average + (1 - momentum)*w`` in place, in ``w``'s dtype.

    ``average``, ``w``: 1-D C-contiguous arrays of one dtype and size (``w`` read only).
    Keras passes ``momentum = 0`` on the first step (``iterations == 0``), which copies ``w``.
    """
    T = w.dtype.type
    a = T(momentum)
    b = T(1.0) - a
    for i in range(w.size):
        average[i] = a * average[i] + b * w[i]
