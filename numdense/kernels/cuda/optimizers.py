"""CUDA optimizer kernels: one parameter's complete update (Keras 3 order and formulas), fused in
one element-wise kernel, plus the gradient-norm reductions.

Same arguments as ``numdense.kernels.cpu.optimizers``: ``w``, ``g``, ``m``, ``v``, ``u`` are
device arrays; ``hp`` and ``state`` are small float64 NumPy arrays kept on the host (the
hyperparameters reach the kernel as scalar arguments, cast to the parameter dtype exactly
where the CPU kernels cast them). ``clipnorm`` needs ``||g||``: a device reduction runs first
and the update kernel reads its result from device memory, so a step never waits for the host.
"""

import functools
import math

import numpy as np
from numba import cuda

from .. import optimizer_kinds as K
from ..cpu.optimizers import global_clip_scale
from . import _config
from ._dmath import fmax, fmin
from ._reduce import reduce_into, scalar_buffer
from .constraints import NONE as _CONSTRAINT_NONE
from .constraints import constraint_apply_into

__all__ = ["global_clip_scale", "grad_sq_norm", "grad_sq_norm_with_reg", "optimizer_begin_step", "optimizer_update_into"]

# Bits of the ``flags`` kernel argument: which transform steps run (decided in float64 on the
# host, as the CPU kernel decides them).
_L1, _L2, _CLIPNORM, _SCALE, _CLIPVALUE, _DECAY = 1, 2, 4, 8, 16, 32
_TRANSFORM = _L1 | _L2 | _CLIPNORM | _SCALE | _CLIPVALUE


@functools.lru_cache(maxsize=None)
def _update_kernel(dtype):
    T = np.dtype(dtype).type
    ZERO, ONE = T(0.0), T(1.0)

    @cuda.jit(device=True)
    def sign(x):
        return ONE if x > ZERO else (-ONE if x < ZERO else x)

    @cuda.jit
    def update(kind, w, g, m, v, u, sq, flags, l1, l2x2, clipnorm, scale, clipvalue, wdt, lrt, c0, c1, c2, c3, c4, c5, c6, c7, f0, f1):
        """Element i of one parameter's step: gradient transform (regularizer, clipnorm with
        ||g||**2 in sq[0], global scale, clipvalue; written back to g), decoupled weight decay,
        then the update rule of ``kind`` with its coefficients c0..c7 and flags f0, f1.
        w, g, m, v, u: 1-D arrays of one dtype (unused slots have length 0)."""
        i = cuda.grid(1)
        if i >= w.shape[0]:
            return
        gi = g[i]
        if flags & _TRANSFORM:
            if flags & _L1:
                gi += l1 * sign(T(w[i]))
            if flags & _L2:
                gi += l2x2 * T(w[i])
            if flags & _CLIPNORM:
                den = fmax(T(math.sqrt(sq[0])), clipnorm)
                gi = gi * clipnorm / den
            if flags & _SCALE:
                gi = gi * scale
            if flags & _CLIPVALUE:
                gi = fmin(fmax(gi, -clipvalue), clipvalue)
            g[i] = gi
        wi = w[i]
        if flags & _DECAY:
            wi = wi - wi * wdt * lrt
        if kind == K.SGD:  # c0 = momentum; f0 = use momentum, f1 = nesterov
            if f0:
                mi = m[i] * c0 - gi * lrt
                m[i] = mi
                w[i] = wi + (mi * c0 - gi * lrt) if f1 else wi + mi
            else:
                w[i] = wi - gi * lrt
        elif kind == K.ADAM or kind == K.ADAMW:  # c0 = alpha, c1 = 1-b1, c2 = 1-b2, c3 = eps; f0 = amsgrad
            mi = m[i] + (gi - m[i]) * c1
            vi = v[i] + (gi * gi - v[i]) * c2
            m[i] = mi
            v[i] = vi
            if f0:
                vi = fmax(u[i], vi)
                u[i] = vi
            w[i] = wi - (mi * c0) / (math.sqrt(vi) + c3)
        elif kind == K.RMSPROP:  # c0 = rho, c1 = 1-rho, c2 = momentum, c3 = eps; f0 = momentum > 0, f1 = centered
            vel = c0 * m[i] + c1 * (gi * gi)
            m[i] = vel
            if f1:
                avg = c0 * u[i] + c1 * gi
                u[i] = avg
                den = vel - avg * avg + c3
            else:
                den = vel + c3
            inc = lrt * gi / math.sqrt(den)
            if f0:
                mo = c2 * v[i] + inc
                v[i] = mo
                w[i] = wi - mo
            else:
                w[i] = wi - inc
        elif kind == K.ADAGRAD:  # c0 = eps
            acc = m[i] + gi * gi
            m[i] = acc
            w[i] = wi - (lrt * gi) / math.sqrt(acc + c0)
        elif kind == K.ADADELTA:  # c0 = rho, c1 = 1-rho, c2 = eps
            ag = c0 * m[i] + c1 * (gi * gi)
            m[i] = ag
            delta = -((math.sqrt(v[i] + c2) * gi) / math.sqrt(ag + c2))
            v[i] = c0 * v[i] + c1 * (delta * delta)
            w[i] = wi + lrt * delta
        elif kind == K.ADAMAX:  # c0 = 1-b1, c1 = b2, c2 = eps, c3 = 1-b1**t
            mi = m[i] + (gi - m[i]) * c0
            m[i] = mi
            ui = fmax(c1 * v[i], abs(gi))
            v[i] = ui
            w[i] = wi - (lrt * mi) / (c3 * (ui + c2))
        elif kind == K.NADAM:  # c0 = u_t, c1 = u_t_1, c2 = u_prod, c3 = u_prod_1, c4 = 1-b2**t, c5 = eps, c6 = 1-b1, c7 = 1-b2
            mi = m[i] + (gi - m[i]) * c6
            vi = v[i] + (gi * gi - v[i]) * c7
            m[i] = mi
            v[i] = vi
            m_hat = (c1 * mi) / (ONE - c3) + ((ONE - c0) * gi) / (ONE - c2)
            v_hat = vi / c4
            w[i] = wi - (m_hat * lrt) / (math.sqrt(v_hat) + c5)
        elif kind == K.LION:  # c0 = b1, c1 = b2
            w[i] = wi - lrt * sign(m[i] * c0 + gi * (ONE - c0))
            m[i] = m[i] * c1 + gi * (ONE - c1)

    return update


def _coefficients(kind, T, hp, state, lrt, t):
    """(c0..c7, f0, f1): the update rule's coefficients in the parameter dtype T, computed with
    the CPU kernels' casts and operation order."""
    one = T(1.0)
    c = [T(0.0)] * 8
    f0 = f1 = False
    if kind == K.SGD:
        c[0], f0, f1 = T(hp[0]), hp[0] != 0.0, hp[1] != 0.0
    elif kind in (K.ADAM, K.ADAMW):
        b1p = T(hp[0]) ** T(t)
        b2p = T(hp[1]) ** T(t)
        c[0] = lrt * np.sqrt(one - b2p) / (one - b1p)
        c[1], c[2], c[3], f0 = T(1.0 - hp[0]), T(1.0 - hp[1]), T(hp[2]), hp[3] != 0.0
    elif kind == K.RMSPROP:
        c[0], c[1], c[2], c[3], f0, f1 = T(hp[0]), T(1.0 - hp[0]), T(hp[1]), T(hp[2]), hp[1] > 0.0, hp[3] != 0.0
    elif kind == K.ADAGRAD:
        c[0] = T(hp[1])
    elif kind == K.ADADELTA:
        c[0], c[1], c[2] = T(hp[0]), T(1.0 - hp[0]), T(hp[1])
    elif kind == K.ADAMAX:
        c[0], c[1], c[2], c[3] = T(1.0 - hp[0]), T(hp[1]), T(hp[2]), one - T(hp[0]) ** T(t)
    elif kind == K.NADAM:
        b1, b2 = T(hp[0]), T(hp[1])
        half, decay = T(0.5), T(0.96)
        u_t = b1 * (one - half * decay ** T(t))
        u_t_1 = b1 * (one - half * decay ** T(t + 1))
        u_prod = T(state[0])
        c = [u_t, u_t_1, u_prod, u_prod * u_t_1, one - b2 ** T(t), T(hp[2]), one - b1, one - b2]
    elif kind == K.LION:
        c[0], c[1] = T(hp[0]), T(hp[1])
    return c, f0, f1


def optimizer_begin_step(kind, hp, state, t):
    """Advances the optimizer-wide scalars in ``state`` to step ``t`` (``t = iterations + 1``).

    hp, state: float64 NumPy arrays (HP_SIZE,) / (STATE_SIZE,), host side; state is written in
    place. Only NADAM has state: ``state[0] *= beta_1 * (1 - 0.5 * 0.96**t)``.
    """
    if kind == K.NADAM:
        state[0] = state[0] * hp[0] * (1.0 - 0.5 * 0.96 ** float(t))


def optimizer_update_into(
    kind, w, g, m, v, u, hp, state, lr, t, l1, l2, clipvalue, clipnorm, grad_scale, wd,
    ckind, cp0, cp1, cp2, caxis, rows, cols,
):
    """One parameter's full optimizer update, in place, in Keras' order (see the CPU twin).

    w: 1-D C-contiguous float32/float64 device array (a flat view of the weight), updated in
    place. g: its loss gradient without the regularizer term, same size and dtype, overwritten
    with the transformed gradient when a transform applies. m, v, u: the kind's slot device arrays
    (size w.size when used, 0 otherwise). hp, state: float64 host arrays. One fused kernel does
    (1) regularizer gradient, (2) clipnorm / global scale / clipvalue, (3) decoupled weight decay,
    (4) the update rule; then (5) constraint ``ckind`` runs on ``w.reshape(rows, cols)``
    (per-column / per-row norms on the device). Arithmetic in w's dtype.
    """
    kind = int(kind)
    if kind not in K.NAMES:
        raise ValueError(f"unknown optimizer kind {kind}")
    n = w.shape[0]
    T = np.dtype(w.dtype).type
    hp = np.asarray(hp if not hasattr(hp, "copy_to_host") else hp.copy_to_host(), dtype=np.float64)
    state = np.asarray(state if not hasattr(state, "copy_to_host") else state.copy_to_host(), dtype=np.float64)
    flags = (
        (_L1 if l1 != 0.0 else 0) | (_L2 if l2 != 0.0 else 0) | (_CLIPNORM if clipnorm > 0.0 else 0)
        | (_SCALE if grad_scale != 1.0 else 0) | (_CLIPVALUE if clipvalue > 0.0 else 0) | (_DECAY if wd != 0.0 else 0)
    )
    lrt = T(lr)
    c, f0, f1 = _coefficients(kind, T, hp, state, lrt, t)
    sq = scalar_buffer()
    if flags & _CLIPNORM and n:
        reduce_into("sum_sq_reg", w.dtype, w, g, T(l1) if l1 != 0.0 else T(0.0), T(2.0 * l2) if l2 != 0.0 else T(0.0), sq, 0)
    if n:
        blocks, tpb = _config.grid_1d(n)
        _update_kernel(np.dtype(w.dtype))[blocks, tpb](
            kind, w, g, m, v, u, sq, flags, T(l1), T(2.0 * l2), T(clipnorm), T(grad_scale), T(clipvalue),
            T(wd), lrt, *c, bool(f0), bool(f1),
        )
    if int(ckind) != _CONSTRAINT_NONE:
        constraint_apply_into(w.reshape((rows, cols)), ckind, cp0, cp1, cp2, caxis, 1e-7)


def grad_sq_norm(g):
    """``sum(g**2)`` of a C-contiguous float32/float64 device array (any rank) as a Python float,
    reduced in float64 on the device (the copy to the host synchronizes)."""
    buf = scalar_buffer()
    reduce_into("sum_sq", g.dtype, g.reshape(g.size), buf, 0)
    return float(buf.copy_to_host()[0])


def grad_sq_norm_with_reg(w, g, l1, l2):
    """``sum((g + l1*sign(w) + 2*l2*w)**2)`` as a Python float: one parameter's share of Keras'
    global gradient norm. The regularized gradient is formed in g's dtype, squared and summed in
    float64 on the device; a zero coefficient skips its term."""
    T = np.dtype(g.dtype).type
    buf = scalar_buffer()
    a = T(l1) if l1 != 0.0 else T(0.0)
    b = T(2.0 * l2) if l2 != 0.0 else T(0.0)
    reduce_into("sum_sq_reg", g.dtype, w.reshape(w.size), g.reshape(g.size), a, b, buf, 0)
    return float(buf.copy_to_host()[0])
