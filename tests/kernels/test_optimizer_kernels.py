"""Optimizer kernels vs a NumPy re-implementation of Keras 3's formulas.

The reference runs in the parameter dtype with Keras' casts (so with float64 it is a plain
float64 evaluation, with float32 Keras' own float32 arithmetic), over 10 steps of random
gradients, with and without every pre- and post-processing option.
"""

import zlib

import numpy as np
import pytest

from numdense.kernels import optimizer_kinds as K
from numdense.kernels.cpu import constraints as C
from numdense.kernels.cpu import optimizers as ko

STEPS = 10

# (id, kind, hp, slots used)
CONFIGS = [
    ("sgd", K.SGD, K.pack_hp(0.0, 0.0), "")
    , ("sgd_momentum", K.SGD, K.pack_hp(0.9, 0.0), "m")
    , ("sgd_nesterov", K.SGD, K.pack_hp(0.8, 1.0), "m")
    , ("adam", K.ADAM, K.pack_hp(0.9, 0.999, 1e-7, 0.0), "mv")
    , ("adam_amsgrad", K.ADAM, K.pack_hp(0.8, 0.99, 1e-5, 1.0), "mvu")
    , ("adamw", K.ADAMW, K.pack_hp(0.9, 0.999, 1e-7, 0.0), "mv")
    , ("rmsprop", K.RMSPROP, K.pack_hp(0.9, 0.0, 1e-7, 0.0), "m")
    , ("rmsprop_centered_momentum", K.RMSPROP, K.pack_hp(0.8, 0.5, 1e-6, 1.0), "mvu")
    , ("adagrad", K.ADAGRAD, K.pack_hp(0.1, 1e-7), "m")
    , ("adadelta", K.ADADELTA, K.pack_hp(0.95, 1e-7), "mv")
    , ("adamax", K.ADAMAX, K.pack_hp(0.9, 0.999, 1e-7), "mv")
    , ("nadam", K.NADAM, K.pack_hp(0.9, 0.999, 1e-7), "mv")
    , ("lion", K.LION, K.pack_hp(0.9, 0.99), "m")
]

# (id, options): l1, l2, clipvalue, clipnorm, global_clipnorm, wd, constraint
OPTIONS = [
    ("plain", {}),
    ("l1l2", {"l1": 0.01, "l2": 0.05}),
    ("clipvalue", {"clipvalue": 0.3}),
    ("clipnorm", {"clipnorm": 0.5}),
    ("global_clipnorm", {"global_clipnorm": 0.7, "l2": 0.02}),
    ("weight_decay", {"wd": 0.05}),
    ("max_norm_columns", {"constraint": (C.MAX_NORM, 0.8, 0.0, 0.0, C.AXIS_COLUMNS)}),
    ("non_neg", {"constraint": (C.NON_NEG, 0.0, 0.0, 0.0, C.AXIS_ALL)}),
    ("unit_norm_rows", {"constraint": (C.UNIT_NORM, 0.0, 0.0, 0.0, C.AXIS_ROWS)}),
    ("min_max_norm_all", {"constraint": (C.MIN_MAX_NORM, 0.5, 1.5, 0.7, C.AXIS_ALL)}),
]

ROWS, COLS = 3, 4


# ------------------------------------------------------------------ reference
def ref_constraint(w, spec):
    kind, p0, p1, p2, axis = spec
    w2 = w.reshape(ROWS, COLS)
    if kind == C.NON_NEG:
        return np.where(w2 < 0, w2.dtype.type(0), w2).reshape(-1)
    w64 = w2.astype(np.float64)
    if axis == C.AXIS_COLUMNS:
        norms = np.sqrt(np.sum(w64**2, axis=0, keepdims=True))
    elif axis == C.AXIS_ROWS:
        norms = np.sqrt(np.sum(w64**2, axis=1, keepdims=True))
    else:
        norms = np.sqrt(np.sum(w64**2))
    if kind == C.MAX_NORM:
        desired = np.clip(norms, 0.0, p0)
    elif kind == C.UNIT_NORM:
        desired = 1.0
    else:
        desired = p2 * np.clip(norms, p0, p1) + (1.0 - p2) * norms
    return (w64 * (desired / (1e-7 + norms))).astype(w.dtype).reshape(-1)


def ref_grad(w, g, T, l1=0.0, l2=0.0, clipvalue=0.0, clipnorm=0.0, scale=1.0):
    g = g.copy()
    if l1:
        g = g + T(l1) * np.sign(w)
    if l2:
        g = g + T(2.0 * l2) * w
    if clipnorm > 0:
        norm = T(np.sqrt(np.sum(g.astype(np.float64) ** 2)))
        g = g * T(clipnorm) / max(norm, T(clipnorm))
    if scale != 1.0:
        g = g * T(scale)
    if clipvalue > 0:
        g = np.clip(g, -T(clipvalue), T(clipvalue))
    return g


def ref_update(kind, hp, w, g, s, state, lr, t, T):
    """One Keras update rule on float arrays of dtype ``T``; ``s`` is a dict of slots."""
    lr = T(lr)
    one = T(1)
    if kind == K.SGD:
        if hp[0] != 0:
            s["m"] = s["m"] * T(hp[0]) - g * lr
            if hp[1]:
                return w + (s["m"] * T(hp[0]) - g * lr)
            return w + s["m"]
        return w - g * lr
    if kind in (K.ADAM, K.ADAMW):
        b1p = T(hp[0]) ** T(t)
        b2p = T(hp[1]) ** T(t)
        alpha = lr * np.sqrt(one - b2p) / (one - b1p)
        s["m"] = s["m"] + (g - s["m"]) * T(1 - hp[0])
        s["v"] = s["v"] + (g * g - s["v"]) * T(1 - hp[1])
        v = s["v"]
        if hp[3]:
            s["u"] = np.maximum(s["u"], s["v"])
            v = s["u"]
        return w - (s["m"] * alpha) / (np.sqrt(v) + T(hp[2]))
    if kind == K.RMSPROP:
        rho, c = T(hp[0]), T(1 - hp[0])
        s["m"] = rho * s["m"] + c * (g * g)
        if hp[3]:
            s["u"] = rho * s["u"] + c * g
            den = s["m"] - s["u"] * s["u"] + T(hp[2])
        else:
            den = s["m"] + T(hp[2])
        inc = lr * g / np.sqrt(den)
        if hp[1] > 0:
            s["v"] = T(hp[1]) * s["v"] + inc
            return w - s["v"]
        return w - inc
    if kind == K.ADAGRAD:
        s["m"] = s["m"] + g * g
        return w - (lr * g) / np.sqrt(s["m"] + T(hp[1]))
    if kind == K.ADADELTA:
        rho, c, eps = T(hp[0]), T(1 - hp[0]), T(hp[1])
        s["m"] = rho * s["m"] + c * (g * g)
        delta = -((np.sqrt(s["v"] + eps) * g) / np.sqrt(s["m"] + eps))
        s["v"] = rho * s["v"] + c * (delta * delta)
        return w + lr * delta
    if kind == K.ADAMAX:
        b1p = T(hp[0]) ** T(t)
        s["m"] = s["m"] + (g - s["m"]) * T(1 - hp[0])
        s["v"] = np.maximum(T(hp[1]) * s["v"], np.abs(g))
        return w - (lr * s["m"]) / ((one - b1p) * (s["v"] + T(hp[2])))
    if kind == K.NADAM:
        b1, b2 = T(hp[0]), T(hp[1])
        u_t = b1 * (one - T(0.5) * T(0.96) ** T(t))
        u_t_1 = b1 * (one - T(0.5) * T(0.96) ** T(t + 1))
        u_prod = T(state[0])
        u_prod_1 = u_prod * u_t_1
        s["m"] = s["m"] + (g - s["m"]) * (one - b1)
        s["v"] = s["v"] + (g * g - s["v"]) * (one - b2)
        m_hat = (u_t_1 * s["m"]) / (one - u_prod_1) + ((one - u_t) * g) / (one - u_prod)
        v_hat = s["v"] / (one - b2 ** T(t))
        return w - (m_hat * lr) / (np.sqrt(v_hat) + T(hp[2]))
    if kind == K.LION:
        b1, b2 = T(hp[0]), T(hp[1])
        w = w - lr * np.sign(s["m"] * b1 + g * (one - b1))
        s["m"] = s["m"] * b2 + g * (one - b2)
        return w
    raise AssertionError(kind)


def initial_slot(kind, hp):
    return hp[0] if kind == K.ADAGRAD else 0.0


def run_reference(kind, hp, used, w0, grads, lrs, T, opts):
    """Two parameters (w0 is a pair) updated for len(grads) steps."""
    ws = [w.astype(T) for w in w0]
    slots = [{k: np.full(w.size, initial_slot(kind, hp), T) for k in used} for w in w0]
    state = K.initial_state(kind)
    for step, (gpair, lr) in enumerate(zip(grads, lrs)):
        t = step + 1
        if kind == K.NADAM:
            state[0] = state[0] * hp[0] * (1.0 - 0.5 * 0.96**t)
        l1, l2 = opts.get("l1", 0.0), opts.get("l2", 0.0)
        scale = 1.0
        if opts.get("global_clipnorm"):
            full = [ref_grad(w, g.astype(T), T, l1, l2) for w, g in zip(ws, gpair)]
            norm = np.sqrt(sum(np.sum(f.astype(np.float64) ** 2) for f in full))
            c = opts["global_clipnorm"]
            scale = c * min(1.0 / norm, 1.0 / c)
        for i, g in enumerate(gpair):
            w = ws[i]
            g = ref_grad(w, g.astype(T), T, l1, l2, opts.get("clipvalue", 0.0),
                         opts.get("clipnorm", 0.0), scale)
            if opts.get("wd"):
                w = w - w * T(opts["wd"]) * T(lr)
            w = ref_update(kind, hp, w, g, slots[i], state, lr, t, T)
            if "constraint" in opts:
                w = ref_constraint(w, opts["constraint"])
            ws[i] = w.astype(T)
    return ws, slots, state


def run_kernel(kind, hp, used, w0, grads, lrs, T, opts):
    ws = [w.astype(T) for w in w0]
    slots = [
        {k: (np.full(w.size, initial_slot(kind, hp), T) if k in used else np.empty(0, T))
         for k in "mvu"}
        for w in w0
    ]
    state = K.initial_state(kind)
    l1, l2 = opts.get("l1", 0.0), opts.get("l2", 0.0)
    ckind, p0, p1, p2, caxis = opts.get("constraint", (C.NONE, 0.0, 0.0, 0.0, C.AXIS_ALL))
    for step, (gpair, lr) in enumerate(zip(grads, lrs)):
        t = step + 1
        gs = [g.astype(T) for g in gpair]
        scale = 1.0
        if opts.get("global_clipnorm"):
            sq = sum(ko.grad_sq_norm_with_reg(w, g, l1, l2) for w, g in zip(ws, gs))
            scale = ko.global_clip_scale(sq, opts["global_clipnorm"])
        ko.optimizer_begin_step(kind, hp, state, t)
        for w, g, s in zip(ws, gs, slots):
            ko.optimizer_update_into(
                kind, w, g, s["m"], s["v"], s["u"], hp, state, float(lr), t, l1, l2,
                opts.get("clipvalue", 0.0), opts.get("clipnorm", 0.0), float(scale),
                opts.get("wd", 0.0), ckind, p0, p1, p2, caxis, ROWS, COLS,
            )
    return ws, slots, state


def data(seed):
    rng = np.random.default_rng(seed)
    w0 = [rng.normal(size=ROWS * COLS), rng.normal(size=ROWS * COLS)]
    grads = [[rng.normal(size=ROWS * COLS), rng.normal(size=ROWS * COLS) * 0.1]
             for _ in range(STEPS)]
    lrs = np.linspace(0.05, 0.01, STEPS)
    return w0, grads, lrs


@pytest.mark.parametrize("opt_id,opts", OPTIONS, ids=[o[0] for o in OPTIONS])
@pytest.mark.parametrize("cfg", CONFIGS, ids=[c[0] for c in CONFIGS])
def test_update_matches_reference(cfg, opt_id, opts):
    _, kind, hp, used = cfg
    w0, grads, lrs = data(zlib.crc32(f"{cfg[0]}/{opt_id}".encode()))
    for T, rtol in ((np.float64, 1e-12), (np.float32, 2e-6)):
        got_w, got_s, got_state = run_kernel(kind, hp, used, w0, grads, lrs, T, opts)
        ref_w, ref_s, ref_state = run_reference(kind, hp, used, w0, grads, lrs, T, opts)
        for a, b in zip(got_w, ref_w):
            assert a.dtype == T
            np.testing.assert_allclose(a, b, rtol=rtol, atol=rtol)
        for sa, sb in zip(got_s, ref_s):
            for k in used:
                np.testing.assert_allclose(sa[k], sb[k], rtol=rtol, atol=rtol)
            for k in set("mvu") - set(used):
                assert sa[k].size == 0
        np.testing.assert_allclose(got_state, ref_state, rtol=1e-15)


@pytest.mark.parametrize("cfg", CONFIGS, ids=[c[0] for c in CONFIGS])
def test_float32_close_to_float64_math(cfg):
    # Keras' float32 arithmetic (mimicked by the kernel) stays near the exact float64 result.
    _, kind, hp, used = cfg
    w0, grads, lrs = data(7)
    opts = {"l2": 0.01, "wd": 0.01}
    got, _, _ = run_kernel(kind, hp, used, w0, grads, lrs, np.float32, opts)
    ref, _, _ = run_reference(kind, hp, used, w0, grads, lrs, np.float64, opts)
    for a, b in zip(got, ref):
        np.testing.assert_allclose(a, b, rtol=0, atol=2e-5)


def test_constraint_none_and_zero_size():
    w = np.ones(4)
    g = np.zeros(4)
    e = np.empty(0)
    ko.optimizer_update_into(K.SGD, w, g, e, e, e, K.pack_hp(), K.initial_state(K.SGD), 0.1, 1,
                             0.0, 0.0, 0.0, 0.0, 1.0, 0.0, C.NONE, 0.0, 0.0, 0.0, 0, 1, 4)
    np.testing.assert_array_equal(w, np.ones(4))
    w0 = np.empty(0)
    ko.optimizer_update_into(K.ADAM, w0, e, e, e, e, K.pack_hp(0.9, 0.999, 1e-7, 0.0),
                             K.initial_state(K.ADAM), 0.1, 1, 0.0, 0.0, 0.0, 1.0, 0.5, 0.1,
                             C.NON_NEG, 0.0, 0.0, 0.0, 2, 1, 0)


def test_grad_norm_helpers():
    rng = np.random.default_rng(0)
    w = rng.normal(size=(3, 5))
    g = rng.normal(size=(3, 5))
    assert ko.grad_sq_norm(g) == pytest.approx(np.sum(g**2), rel=1e-14)
    full = g + 0.1 * np.sign(w) + 2 * 0.2 * w
    assert ko.grad_sq_norm_with_reg(w, g, 0.1, 0.2) == pytest.approx(np.sum(full**2), rel=1e-14)
    assert ko.grad_sq_norm_with_reg(w, g, 0.0, 0.0) == pytest.approx(np.sum(g**2), rel=1e-14)
    # sign(0) = 0: an exact-zero weight adds no L1 term.
    assert ko.grad_sq_norm_with_reg(np.zeros(2), np.ones(2), 5.0, 0.0) == 2.0
    assert ko.global_clip_scale(25.0, 1.0) == pytest.approx(0.2)
    assert ko.global_clip_scale(0.25, 1.0) == 1.0
    assert ko.global_clip_scale(0.0, 1.0) == 1.0
    assert ko.global_clip_scale(100.0, 0.0) == 1.0
    assert np.isnan(ko.global_clip_scale(np.inf, 1.0))


def test_grad_transform_into_clips_like_keras():
    g = np.array([100.0, 100.0])
    ko.grad_transform_into(g, g, 0.0, 0.0, 0.0, 1.0, 1.0)
    np.testing.assert_allclose(g, [2**0.5 / 2, 2**0.5 / 2])
    g = np.array([100.0, -100.0, 0.5], np.float32)
    ko.grad_transform_into(g, g, 0.0, 0.0, 1.0, 0.0, 1.0)
    np.testing.assert_array_equal(g, [1.0, -1.0, 0.5])
    g = np.zeros(3)
    ko.grad_transform_into(g, g, 0.0, 0.0, 0.0, 1.0, 1.0)  # zero norm stays zero, no nan
    np.testing.assert_array_equal(g, 0.0)
    w = np.array([-2.0, 0.0, 3.0])
    g = np.zeros(3)
    ko.grad_transform_into(w, g, 0.5, 0.25, 0.0, 0.0, 1.0)
    np.testing.assert_allclose(g, [-0.5 - 1.0, 0.0, 0.5 + 1.5])


def test_nadam_begin_step():
    state = K.initial_state(K.NADAM)
    hp = K.pack_hp(0.9, 0.999, 1e-7)
    expected = 1.0
    for t in range(1, 6):
        ko.optimizer_begin_step(K.NADAM, hp, state, t)
        expected *= 0.9 * (1 - 0.5 * 0.96**t)
    assert state[0] == pytest.approx(expected, rel=1e-15)
    other = K.initial_state(K.ADAM)
    ko.optimizer_begin_step(K.ADAM, K.pack_hp(0.9), other, 1)
    np.testing.assert_array_equal(other, K.initial_state(K.ADAM))


def test_accumulate_ema_and_scale_kernels():
    acc = np.zeros(3, np.float32)
    g1 = np.array([1.0, 2.0, 3.0], np.float32)
    ko.grad_accumulate_into(acc, g1.copy(), 3, False)
    ko.grad_accumulate_into(acc, g1.copy(), 3, False)
    np.testing.assert_array_equal(acc, 2 * g1)
    g = g1.copy()
    ko.grad_accumulate_into(acc, g, 3, True)
    np.testing.assert_allclose(g, g1)
    np.testing.assert_array_equal(acc, 0.0)
    avg = np.zeros(2)
    ko.ema_update_into(avg, np.array([1.0, 2.0]), 0.0)
    np.testing.assert_array_equal(avg, [1.0, 2.0])
    ko.ema_update_into(avg, np.array([3.0, 4.0]), 0.9)
    np.testing.assert_allclose(avg, [0.9 * 1 + 0.1 * 3, 0.9 * 2 + 0.1 * 4])
    g = np.array([[1024.0, 2048.0]], np.float32)
    ko.scale_into(g, 1024.0)
    np.testing.assert_array_equal(g, [[1.0, 2.0]])


def test_kinds_layout():
    assert len(K.NAMES) == 9
    assert K.pack_hp(1, 2).shape == (K.HP_SIZE,)
    with pytest.raises(ValueError):
        K.pack_hp(1, 2, 3, 4, 5)
    assert K.initial_state(K.NADAM)[0] == 1.0
    assert K.initial_state(K.SGD).shape == (K.STATE_SIZE,)


def _update_once(kind, hp, w, g, slots, t=50):
    state = K.initial_state(kind)
    ko.optimizer_begin_step(kind, hp, state, t)
    ko.optimizer_update_into(kind, w, g, slots["m"], slots["v"], slots["u"], hp, state, 0.01, t,
                             0.0, 0.0, 0.0, 0.0, 1.0, 0.0, C.NONE, 0.0, 0.0, 0.0, C.AXIS_ALL,
                             ROWS, COLS)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("cfg", [c for c in CONFIGS if c[3] and c[1] != K.ADAGRAD],
                         ids=[c[0] for c in CONFIGS if c[3] and c[1] != K.ADAGRAD])
def test_decaying_slots_flush_subnormals_to_zero(cfg, dtype):
    # A unit whose gradient is zero: each slot decays toward zero. Left to round, a slot of a few
    # subnormal units stays there forever (x * 0.9 rounds back to x), and every later step
    # computes on subnormals, which are slow on x86; flushed, the slots reach exactly zero.
    _, kind, hp, used = cfg
    T = np.dtype(dtype).type
    smallest = np.finfo(dtype).smallest_subnormal
    w = np.linspace(-1.0, 1.0, ROWS * COLS).astype(T)
    g = np.zeros(ROWS * COLS, T)
    slots = {k: (np.full(w.size, 3 * smallest, T) if k in used else np.empty(0, T)) for k in "mvu"}
    slots["m"][::2] = -3 * smallest
    if kind == K.RMSPROP:  # RMSprop's velocity (m) is a mean of squares: never negative
        slots["m"][:] = 3 * smallest
    w0 = w.copy()
    _update_once(kind, hp, w, g, slots)
    for k in used:
        np.testing.assert_array_equal(slots[k], 0.0, err_msg=f"slot {k}")
    assert np.all(np.isfinite(w))
    if kind != K.LION:  # (Lion steps by lr times the sign of its momentum, however small)
        np.testing.assert_allclose(w, w0, rtol=0, atol=1e-6)


@pytest.mark.parametrize("cfg", [c for c in CONFIGS if c[1] in (K.ADAM, K.SGD) and c[3]],
                         ids=[c[0] for c in CONFIGS if c[1] in (K.ADAM, K.SGD) and c[3]])
def test_flush_keeps_normal_values_and_nan(cfg):
    _, kind, hp, used = cfg
    tiny = np.finfo(np.float32).tiny
    w = np.ones(ROWS * COLS, np.float32)
    g = np.zeros(ROWS * COLS, np.float32)
    g[0] = np.nan
    slots = {k: (np.full(w.size, 1e3 * tiny, np.float32) if k in used else np.empty(0, np.float32))
             for k in "mvu"}
    _update_once(kind, hp, w, g, slots)
    assert np.isnan(slots["m"][0]) and np.isnan(w[0])
    # 1e3 * tiny decays to a normal value: kept, as rounding gives it
    assert np.all(slots["m"][1:] > tiny)
