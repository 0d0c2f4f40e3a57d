import numpy as np
import pytest

from numdense.kernels import optimizer_kinds as K
from numdense.kernels.cpu import constraints as C

from .harness import backends, run

HP = {
    K.SGD: (0.9, 1.0),
    K.ADAM: (0.9, 0.999, 1e-7, 1.0),
    K.ADAMW: (0.9, 0.999, 1e-7, 0.0),
    K.RMSPROP: (0.9, 0.5, 1e-7, 1.0),
    K.ADAGRAD: (0.1, 1e-7),
    K.ADADELTA: (0.95, 1e-7),
    K.ADAMAX: (0.9, 0.999, 1e-7),
    K.NADAM: (0.9, 0.999, 1e-7),
    K.LION: (0.9, 0.99),
}
# l1, l2, clipvalue, clipnorm, grad_scale, wd, (constraint kind, p0, p1, p2, axis)
CONFIGS = {
    "plain": (0.0, 0.0, 0.0, 0.0, 1.0, 0.0, (C.NONE, 0.0, 0.0, 0.0, 0)),
    "reg-clipnorm-decay-maxnorm": (0.01, 0.02, 0.0, 0.5, 1.0, 0.004, (C.MAX_NORM, 0.8, 0.0, 0.0, C.AXIS_COLUMNS)),
    "clipvalue-scale-unitnorm": (0.0, 0.03, 0.05, 0.0, 0.7, 0.0, (C.UNIT_NORM, 0.0, 0.0, 0.0, C.AXIS_ROWS)),
}
ROWS, COLS = 4, 3


def _steps(backend, kind, dtype, config, n_steps=2):
    rng = np.random.default_rng(kind)
    w = rng.standard_normal(ROWS * COLS).astype(dtype)
    hp = K.pack_hp(*HP[kind])
    state = K.initial_state(kind)
    slots = [np.zeros_like(w) for _ in range(3)]
    if kind == K.ADAGRAD:
        slots[0][:] = hp[0]
    l1, l2, cv, cn, gs, wd, (ck, cp0, cp1, cp2, ca) = CONFIGS[config]
    for t in range(1, n_steps + 1):
        g = rng.standard_normal(w.shape).astype(dtype)
        run(backend, "optimizers", "optimizer_begin_step", kind, hp, state, t, host=[1, 2])
        run(
            backend, "optimizers", "optimizer_update_into", kind, w, g, *slots, hp, state, 0.05, t,
            l1, l2, cv, cn, gs, wd, ck, cp0, cp1, cp2, ca, ROWS, COLS, outs=[1, 2, 3, 4, 5], host=[6, 7],
        )
    return w, slots, state


@pytest.mark.cpu_reference
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("config", list(CONFIGS))
@pytest.mark.parametrize("kind", sorted(HP))
def test_update_matches_cpu(kind, config, dtype):
    if dtype == np.float32 and config == "clipvalue-scale-unitnorm":
        pytest.skip("one float32 config per kind keeps the simulator run short")
    w1, s1, st1 = _steps("cpu", kind, dtype, config)
    w2, s2, st2 = _steps("cuda", kind, dtype, config)
    rtol = 2e-6 if dtype == np.float32 else 1e-13
    np.testing.assert_allclose(w2, w1, rtol=rtol, atol=rtol)
    for a, b in zip(s2, s1):
        np.testing.assert_allclose(a, b, rtol=rtol, atol=rtol)
    np.testing.assert_array_equal(st2, st1)


@backends
def test_sgd_matches_numpy(backend):
    w = np.array([1.0, -2.0, 0.5])
    g = np.array([0.5, 0.25, -1.0])
    m = np.zeros(3)
    empty = np.zeros(0)
    hp = K.pack_hp(0.9, 0.0)
    state = K.initial_state(K.SGD)
    run(backend, "optimizers", "optimizer_update_into", K.SGD, w, g.copy(), m, empty, empty, hp, state, 0.1, 1,
        0.0, 0.0, 0.0, 0.0, 1.0, 0.0, C.NONE, 0.0, 0.0, 0.0, 0, 1, 3, outs=[1, 3])
    np.testing.assert_allclose(m, -0.1 * g)
    np.testing.assert_allclose(w, [1.0, -2.0, 0.5] - 0.1 * g)


@backends
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_grad_norms_and_penalty(backend, dtype, rng):
    w = rng.standard_normal((3, 5)).astype(dtype)
    g = rng.standard_normal((3, 5)).astype(dtype)
    w64, g64 = w.astype(np.float64), g.astype(np.float64)
    rtol = 1e-6 if dtype == np.float32 else 1e-13
    assert np.isclose(run(backend, "optimizers", "grad_sq_norm", g), (g64**2).sum(), rtol=rtol)
    reg = g64 + 0.1 * np.sign(w64) + 2 * 0.2 * w64
    assert np.isclose(run(backend, "optimizers", "grad_sq_norm_with_reg", w, g, 0.1, 0.2), (reg**2).sum(), rtol=10 * rtol)
    penalty = 0.1 * abs(w64).sum() + 0.2 * (w64**2).sum()
    assert np.isclose(run(backend, "regularizers", "l1l2_penalty", w, 0.1, 0.2), penalty, rtol=rtol)
    g2 = g.copy()
    run(backend, "regularizers", "l1l2_grad_into", w, g2, 0.1, 0.2, outs=[1])
    np.testing.assert_allclose(g2, reg, rtol=10 * rtol, atol=10 * rtol)


CONSTRAINTS = [
    (C.MAX_NORM, 0.9, 0.0, 0.0),
    (C.UNIT_NORM, 0.0, 0.0, 0.0),
    (C.MIN_MAX_NORM, 0.5, 1.2, 0.7),
]


@backends
@pytest.mark.parametrize("axis", [C.AXIS_COLUMNS, C.AXIS_ROWS, C.AXIS_ALL])
@pytest.mark.parametrize("constraint", CONSTRAINTS)
def test_norm_constraints(backend, constraint, axis, rng):
    kind, p0, p1, p2 = constraint
    w = rng.standard_normal((5, 3))
    expected = w.copy()
    norms = np.sqrt((w**2).sum(axis=(0, 1, None)[axis], keepdims=True))
    if kind == C.MAX_NORM:
        desired = np.clip(norms, 0, p0)
    elif kind == C.UNIT_NORM:
        desired = np.ones_like(norms)
    else:
        desired = p2 * np.clip(norms, p0, p1) + (1 - p2) * norms
    expected = w * desired / (1e-7 + norms)
    run(backend, "constraints", "constraint_apply_into", w, kind, p0, p1, p2, axis, 1e-7, outs=[0])
    np.testing.assert_allclose(w, expected, rtol=1e-13)


@backends
def test_non_neg(backend):
    w = np.array([[1.0, -2.0], [np.nan, -0.0]], dtype=np.float32)
    run(backend, "constraints", "constraint_apply_into", w, C.NON_NEG, 0.0, 0.0, 0.0, 0, 1e-7, outs=[0])
    np.testing.assert_array_equal(w, [[1.0, 0.0], [np.nan, 0.0]])
