"""numdense.optimizers: Keras 3 golden tests (adam/sgd/rmsprop/optimizer_test.py), the apply
order, kernel plans, configs and errors."""

import pickle
import warnings

import numpy as np
import pytest

from numdense import constraints, regularizers
from numdense import optimizers as O
from numdense.kernels import optimizer_kinds as K
from numdense.kernels.cpu import optimizers as ko
from numdense.optimizers import schedules
from numdense.variables import Variable

ALL_NAMES = ["sgd", "adam", "adamw", "rmsprop", "adagrad", "adadelta", "adamax", "nadam", "lion"]


def var(value, name="v", dtype=np.float32, **kwargs):
    return Variable(np.array(value, dtype), name, **kwargs)


# -------------------------------------------------------------- Keras goldens
@pytest.mark.parametrize(
    "cls,expected",
    [
        (O.Adam, [0.5, 1.5, 2.5, 3.5]),
        (O.SGD, [0.5, -1.0, -0.5, 3.0]),
        (O.RMSprop, [-0.5811, 0.4189, 1.4189, 2.4189]),
    ],
)
def test_single_step(cls, expected):
    optimizer = cls(learning_rate=0.5)
    v = var([1.0, 2.0, 3.0, 4.0])
    optimizer.apply_gradients(zip([np.array([1.0, 6.0, 7.0, 2.0])], [v]))
    np.testing.assert_allclose(v.value, expected, rtol=1e-4, atol=1e-4)


def test_sgd_single_step_variables():
    optimizer = O.SGD(learning_rate=0.5)
    assert len(optimizer.variables) == 2
    v = var([1.0, 2.0, 3.0, 4.0])
    optimizer.build([v])
    optimizer.apply_gradients(zip([np.array([1.0, 6.0, 7.0, 2.0])], [v]))
    assert len(optimizer.variables) == 2
    assert optimizer.variables[0].value == 1
    assert optimizer.variables[1].value == 0.5


@pytest.mark.parametrize("cls", [O.SGD, O.Adam, O.RMSprop, O.AdamW, O.Nadam, O.Lion])
def test_weight_decay_with_exclusions(cls):
    g = np.zeros(())
    var1, var2, var3 = var(2.0), var(2.0, name="exclude"), var(2.0)
    optimizer_1 = cls(learning_rate=1.0, weight_decay=0.004)
    optimizer_1.apply_gradients(zip([g], [var1]))
    optimizer_2 = cls(learning_rate=1.0, weight_decay=0.004)
    optimizer_2.exclude_from_weight_decay(var_names=["exclude"])
    optimizer_2.apply_gradients(zip([g, g], [var1, var2]))
    optimizer_3 = cls(learning_rate=1.0, weight_decay=0.004)
    optimizer_3.exclude_from_weight_decay(var_list=[var3])
    optimizer_3.apply_gradients(zip([g, g], [var1, var3]))
    assert float(var1.value) == pytest.approx(1.9760959, abs=1e-6)
    assert float(var2.value) == pytest.approx(2.0, abs=1e-6)
    assert float(var3.value) == pytest.approx(2.0, abs=1e-6)


GOLDEN_GRADS = np.arange(0.1, 1.1, 0.1)


def run_golden(optimizer, dtype):
    x = var(np.ones(10), dtype=dtype)
    optimizer.apply_gradients(zip([np.full((10,), 0.01)], [x]))
    rows = []
    for _ in range(5):
        rows.append(x.numpy())
        optimizer.apply_gradients(zip([GOLDEN_GRADS], [x]))
    return np.array(rows)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_adam_amsgrad_golden(dtype):
    golden = np.tile([[0.999], [0.9982], [0.9974], [0.9965], [0.9955]], (1, 10))
    np.testing.assert_allclose(run_golden(O.Adam(amsgrad=True), dtype), golden, rtol=5e-4, atol=5e-4)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_sgd_golden(dtype):
    golden = np.array(
        [[0.9999] * 10, np.round(1 - 0.0001 - 0.001 * np.arange(1, 11), 4),
         np.round(1 - 0.0001 - 0.002 * np.arange(1, 11), 4),
         np.round(1 - 0.0001 - 0.003 * np.arange(1, 11), 4),
         np.round(1 - 0.0001 - 0.004 * np.arange(1, 11), 4)]
    )
    assert golden[1, 0] == 0.9989 and golden[4, 9] == 0.9599
    np.testing.assert_allclose(run_golden(O.SGD(nesterov=True), dtype), golden, rtol=5e-4, atol=5e-4)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_rmsprop_centered_golden(dtype):
    golden = np.tile([[0.9967], [0.9933], [0.9908], [0.9885], [0.9864]], (1, 10))
    np.testing.assert_allclose(run_golden(O.RMSprop(centered=True), dtype), golden, rtol=5e-4, atol=5e-4)


@pytest.mark.parametrize("name", ["sgd", "adam", "rmsprop"])
def test_clip_norm_and_value(name):
    clipped = O.get({"class_name": name, "config": {"clipnorm": 1}})._clip_gradients(
        [np.array([100.0, 100.0])]
    )
    np.testing.assert_allclose(clipped[0], [2**0.5 / 2, 2**0.5 / 2])
    clipped = O.get({"class_name": name, "config": {"clipvalue": 1}})._clip_gradients(
        [np.array([100.0, 100.0])]
    )
    np.testing.assert_allclose(clipped[0], [1.0, 1.0])


def test_global_clip_norm():
    grad = np.array([50.0, 100.0], dtype="float32")
    clipped = O.SGD(global_clipnorm=1)._clip_gradients([grad])
    np.testing.assert_allclose(clipped[0], grad / np.linalg.norm(grad), rtol=1e-6)
    np.testing.assert_array_equal(grad, [50.0, 100.0])  # inputs are not modified


def test_invalid_momentum():
    for bad in (-1.0, 2.0, 1):
        with pytest.raises(ValueError, match=r"`momentum` must be a float between \[0, 1\]."):
            O.SGD(momentum=bad)


def test_clip_args():
    assert O.SGD(learning_rate=1.0, clipnorm=0.1).clipnorm == 0.1
    assert O.SGD(learning_rate=1.0, clipvalue=0.1).clipvalue == 0.1
    assert O.SGD(learning_rate=1.0, global_clipnorm=0.1).global_clipnorm == 0.1
    assert O.SGD(clipnorm=0.5).clipping() == (0.0, 0.5, 0.0)
    for kwargs in ({"clipnorm": 0.1, "clipvalue": 0.1}, {"clipnorm": 0.1, "global_clipnorm": 0.1}):
        with pytest.raises(ValueError, match="Only one of `clipnorm`, `clipvalue` and `global_clipnorm` can"):
            O.SGD(learning_rate=1.0, **kwargs)


def test_iterations_counter():
    v = var([[1.0, 2.0], [3.0, 4.0]])
    optimizer = O.Adam(learning_rate=1.0)
    assert optimizer.iterations == 0
    optimizer.apply_gradients([(np.ones((2, 2)), v)])
    assert optimizer.iterations == 1
    optimizer.apply_gradients([(np.ones((2, 2)), v)])
    assert optimizer.iterations == 2
    optimizer.iterations = 7
    assert optimizer.iterations == 7 and optimizer.variables[0].value == 7


def test_empty_gradients():
    v = var([[3.0, 4.0], [5.0, 6.0]])
    with pytest.raises(ValueError, match="No gradients provided for any variable."):
        O.SGD(learning_rate=1.0).apply_gradients([(None, v)])
    v2 = var([[3.0, 4.0], [5.0, 6.0]], name="v2")
    with pytest.warns(UserWarning, match="Gradients do not exist for variables"):
        O.SGD(learning_rate=1.0).apply_gradients([(None, v), (np.ones((2, 2)), v2)])
    np.testing.assert_array_equal(v.value, [[3.0, 4.0], [5.0, 6.0]])
    np.testing.assert_array_equal(v2.value, [[2.0, 3.0], [4.0, 5.0]])


def test_ema():
    v = var([[3.0, 4.0], [5.0, 6.0]])
    grads = np.ones((2, 2))
    optimizer = O.SGD(learning_rate=1.0, use_ema=True, ema_momentum=0.9, ema_overwrite_frequency=3)
    optimizer.apply_gradients([(grads, v)])
    np.testing.assert_allclose(v.value, [[2.0, 3.0], [4.0, 5.0]])
    np.testing.assert_allclose(optimizer._model_variables_moving_average[0].value, [[2.0, 3.0], [4.0, 5.0]])
    optimizer.apply_gradients([(grads, v)])
    np.testing.assert_allclose(v.value, [[1.0, 2.0], [3.0, 4.0]])
    np.testing.assert_allclose(optimizer._model_variables_moving_average[0].value, [[1.9, 2.9], [3.9, 4.9]])
    optimizer.apply_gradients([(grads, v)])
    np.testing.assert_allclose(v.value, [[1.71, 2.71], [3.71, 4.71]], rtol=1e-6)
    np.testing.assert_allclose(optimizer._model_variables_moving_average[0].value, [[1.71, 2.71], [3.71, 4.71]], rtol=1e-6)


def test_ema_finalize():
    optimizer = O.Adam(learning_rate=1.0, use_ema=True, ema_momentum=0.9)
    v = var([1.0, 2.0])
    g = np.array([0.1, 0.2], np.float32)
    optimizer.apply_gradients([(g, v)])
    v1 = v.numpy()
    np.testing.assert_allclose(optimizer._model_variables_moving_average[0].value, v1)
    optimizer.apply_gradients([(g, v)])
    expected = 0.9 * v1 + 0.1 * v.numpy()
    np.testing.assert_allclose(optimizer._model_variables_moving_average[0].value, expected, rtol=1e-6)
    optimizer.finalize_variable_values([v])
    np.testing.assert_allclose(v.value, expected, rtol=1e-6)
    assert len(optimizer.variables) == 2 + 1 + 2
    with pytest.raises(ValueError, match="ema_momentum"):
        O.Adam(use_ema=True, ema_momentum=1.5)
    with pytest.raises(ValueError, match="ema_overwrite_frequency"):
        O.Adam(use_ema=True, ema_overwrite_frequency=0.5)


def test_constraints_are_applied():
    v = var(np.random.default_rng(0).random((2, 2)) - 1.0, constraint=constraints.NonNeg())
    O.SGD(learning_rate=0.0001).apply_gradients([(np.zeros((2, 2)), v)])
    assert np.min(v.value) == 0.0


def test_custom_constraint_and_regularizer_run_in_python():
    class Half(constraints.Constraint):
        def __call__(self, w):
            return np.asarray(w) * 0.5

    class Quad(regularizers.Regularizer):
        def __call__(self, x):
            return float(np.sum(np.asarray(x) ** 4))

        def add_gradient(self, w, g):
            g += 4 * np.asarray(w) ** 3

    v = var([1.0, -2.0], constraint=Half(), regularizer=Quad())
    O.SGD(learning_rate=0.1).apply([np.array([1.0, 1.0])], [v])
    np.testing.assert_allclose(v.value, 0.5 * (np.array([1.0, -2.0]) - 0.1 * (1 + 4 * np.array([1.0, -8.0]))), rtol=1e-6)
    plan = O.SGD().kernel_plan([v])
    assert set(plan.python_constraints) == {0} and set(plan.python_regularizers) == {0}
    assert not plan.kernel_only


def test_l2_regularized_sgd_step_is_hand_computed():
    v = var([1.0, -2.0, 0.0], regularizer=regularizers.L1L2(l1=0.1, l2=0.5))
    O.SGD(learning_rate=0.1).apply([np.array([0.5, 0.5, 0.5])], [v])
    g = np.array([0.5, 0.5, 0.5]) + 0.1 * np.array([1, -1, 0]) + 2 * 0.5 * np.array([1.0, -2.0, 0.0])
    np.testing.assert_allclose(v.value, np.array([1.0, -2.0, 0.0]) - 0.1 * g, rtol=1e-6)


def test_static_loss_scaling():
    v = var([[1.0, 2.0], [3.0, 4.0]])
    optimizer = O.SGD(learning_rate=1.0, loss_scale_factor=1024.0)
    optimizer.apply_gradients([(np.array([[1.0, 2.0], [3.0, 4.0]]) * 1024.0, v)])
    assert optimizer.scale_loss(1.0) == 1024.0
    np.testing.assert_allclose(v.value, 0.0)


def test_set_weights():
    x = var([[1.0, 2.0], [3.0, 4.0]])
    grads = np.array([[1.0, 2.0], [3.0, 4.0]])
    optimizer_1 = O.Adam()
    optimizer_1.apply_gradients(zip([grads], [x]))
    optimizer_2 = O.Adam()
    with pytest.raises(ValueError, match="You are calling"):
        optimizer_2.set_weights([v.value for v in optimizer_1.variables])
    optimizer_2.build([x])
    optimizer_2.set_weights([v.value for v in optimizer_1.variables])
    for a, b in zip(optimizer_1.variables, optimizer_2.variables):
        np.testing.assert_array_equal(a.value, b.value)
    store = {}
    optimizer_1.save_own_variables(store)
    assert sorted(store) == ["0", "1", "2", "3"]
    optimizer_3 = O.Adam()
    optimizer_3.build([x])
    optimizer_3.load_own_variables(store)
    assert optimizer_3.iterations == 1


def test_gradient_accumulation():
    v = var([[1.0, 2.0], [3.0, 4.0]])
    grads = np.ones((2, 2))
    optimizer = O.SGD(learning_rate=1.0, gradient_accumulation_steps=3)
    for i, (expected_v, expected_acc) in enumerate(
        [([[1, 2], [3, 4]], 1.0), ([[1, 2], [3, 4]], 2.0), ([[0, 1], [2, 3]], 0.0), ([[0, 1], [2, 3]], 1.0)]
    ):
        optimizer.apply_gradients([(grads, v)])
        np.testing.assert_allclose(v.value, expected_v)
        np.testing.assert_allclose(optimizer._accumulated_gradients[0].value, expected_acc)
        assert int(optimizer._iterations.value) == i + 1
        assert optimizer.iterations == (i + 1) // 3
    with pytest.raises(ValueError, match="gradient_accumulation_steps"):
        O.SGD(gradient_accumulation_steps=1)


@pytest.mark.parametrize("name", ALL_NAMES)
def test_gradient_accumulation_with_weight_decay(name):
    rng = np.random.default_rng(3)
    optimizer1 = O.get({"class_name": name, "config": {"weight_decay": 0.05}})
    optimizer3 = O.get({"class_name": name, "config": {"weight_decay": 0.05, "gradient_accumulation_steps": 3}})
    variable1 = var([[0.9], [0.5]])
    variable3 = var([[0.9], [0.5]])
    for _ in range(8):
        grads3 = rng.random((3, 2, 1)).astype("float32")
        optimizer1.apply_gradients([(grads3.mean(axis=0), variable1)])
        for batch in range(3):
            optimizer3.apply_gradients([(grads3[batch], variable3)])
    np.testing.assert_allclose(variable1.value, variable3.value, rtol=1e-5, atol=1e-6)


def test_callable_and_schedule_learning_rate():
    v = var([1.0])
    optimizer = O.SGD(learning_rate=lambda: 0.5)
    assert len(optimizer.variables) == 1
    optimizer.apply_gradients([(np.array([1.0]), v)])
    np.testing.assert_allclose(v.value, [0.5])
    np.testing.assert_allclose(optimizer.learning_rates(0, 3), [0.5] * 3)

    sched = schedules.ExponentialDecay(1.0, decay_steps=1, decay_rate=0.5)
    v = var([10.0])
    optimizer = O.SGD(learning_rate=sched)
    assert optimizer.learning_rate == 1.0
    for expected in (9.0, 8.5, 8.25):
        optimizer.apply_gradients([(np.array([1.0]), v)])
        np.testing.assert_allclose(v.value, [expected])
    assert optimizer.learning_rate == 0.125
    np.testing.assert_allclose(optimizer.learning_rates(3, 3), [0.125, 0.0625, 0.03125])
    with pytest.raises(TypeError, match="not settable"):
        optimizer.learning_rate = 0.1


def test_learning_rate_property_and_setter():
    optimizer = O.Adam(learning_rate=0.001)
    assert optimizer.learning_rate == pytest.approx(0.001)
    assert optimizer.learning_rate == float(np.float32(0.001))  # float32 variable, as Keras
    optimizer.learning_rate = 0.01
    assert optimizer.learning_rate == float(np.float32(0.01))
    np.testing.assert_array_equal(optimizer.learning_rates(5, 2), [float(np.float32(0.01))] * 2)
    assert len(optimizer.variables) == 2
    optimizer.learning_rate = schedules.PolynomialDecay(optimizer.learning_rate, 4)
    assert len(optimizer.variables) == 1
    with pytest.raises(ValueError, match="Argument `learning_rate` should be float"):
        O.SGD(learning_rate=1)


def test_decay_kwarg_and_unknown_kwargs():
    with pytest.warns(UserWarning, match="`decay` is no longer supported"):
        O.Adam(decay=0.1)
    with pytest.raises(ValueError, match="Argument\\(s\\) not recognized"):
        O.Adam(foo=1)
    with pytest.raises(ValueError, match="`weight_decay` must be a float"):
        O.AdamW(weight_decay=None)
    with pytest.raises(ValueError, match="`beta_1` must be in the \\[0, 1\\] range"):
        O.Lion(beta_1=0.0)


def test_unknown_variable():
    a, b = var([1.0], "a"), var([1.0], "b")
    optimizer = O.SGD()
    optimizer.apply([np.ones(1)], [a])
    with pytest.raises(ValueError, match="Unknown variable"):
        optimizer.apply([np.ones(1)], [b])
    optimizer.apply([np.ones(1)])  # variables omitted once built
    with pytest.raises(ValueError, match="must match"):
        optimizer.apply([np.ones(1), np.ones(1)])
    with pytest.raises(ValueError, match="must already be built"):
        O.SGD().apply([np.ones(1)])


# ----------------------------------------------------------- variables / slots
@pytest.mark.parametrize(
    "optimizer,per_var",
    [
        (O.SGD(), 0), (O.SGD(momentum=0.9), 1), (O.Adam(), 2), (O.Adam(amsgrad=True), 3),
        (O.AdamW(), 2), (O.RMSprop(), 1), (O.RMSprop(momentum=0.5, centered=True), 3),
        (O.Adagrad(), 1), (O.Adadelta(), 2), (O.Adamax(), 2), (O.Nadam(), 2), (O.Lion(), 1),
    ],
    ids=lambda x: x.get_config()["name"] if isinstance(x, O.Optimizer) else str(x),
)
def test_variable_counts(optimizer, per_var):
    a = var(np.zeros((3, 4)), "kernel", path="dense/kernel")
    b = var(np.zeros(4), "bias", path="dense/bias")
    optimizer.build([a, b])
    extra = 1 if isinstance(optimizer, O.Nadam) else 0
    assert len(optimizer.variables) == 2 + 2 * per_var + extra
    assert optimizer.count_params() == 2 + 16 * per_var + extra
    if per_var:
        assert optimizer.variables[2].name.startswith("dense_kernel_")
        assert optimizer.variables[2].path.startswith(optimizer.name + "/")
    if isinstance(optimizer, O.Adagrad):
        np.testing.assert_allclose(optimizer.variables[2].value, 0.1)


def test_adam_slot_order_interleaved():
    a, b = var([0.0], "a"), var([0.0], "b")
    optimizer = O.Adam(amsgrad=True)
    optimizer.build([a, b])
    names = [v.name for v in optimizer.variables]
    assert names == ["iteration", "learning_rate", "a_momentum", "a_velocity", "b_momentum",
                     "b_velocity", "a_velocity_hat", "b_velocity_hat"]


def test_nadam_u_product_variable_tracks_state():
    v = var([1.0, 2.0])
    optimizer = O.Nadam()
    for _ in range(3):
        optimizer.apply([np.array([0.1, 0.2])], [v])
    expected = np.prod([0.9 * (1 - 0.5 * 0.96**t) for t in (1, 2, 3)])
    assert float(optimizer.variables[-1].value) == pytest.approx(expected, rel=1e-12)


def test_nadam_pickled_mid_training_continues_identically():
    v = var([1.0, 2.0])
    optimizer = O.Nadam(learning_rate=0.1)
    optimizer.apply([np.array([0.1, 0.2])], [v])
    copy_opt, copy_v = pickle.loads(pickle.dumps((optimizer, v)))
    for _ in range(3):
        optimizer.apply([np.array([0.3, -0.2])], [v])
        copy_opt.apply([np.array([0.3, -0.2])], [copy_v])
    np.testing.assert_array_equal(v.value, copy_v.value)
    assert float(copy_opt.variables[-1].value) == copy_opt._state[0]


# ------------------------------------------------------------- kernel plans
def run_plan(optimizer, variables, grads_per_step):
    plan = optimizer.kernel_plan(variables)
    lrs = optimizer.learning_rates(optimizer.iterations, len(grads_per_step))
    for s, grads in enumerate(grads_per_step):
        t = optimizer.iterations + 1
        gs = [np.array(g, dtype=v.dtype).reshape(-1) for g, v in zip(grads, variables)]
        scale = 1.0
        if plan.global_clipnorm > 0:
            sq = sum(ko.grad_sq_norm_with_reg(plan.weights[i], gs[i], plan.l1[i], plan.l2[i])
                     for i in range(len(gs)))
            scale = ko.global_clip_scale(sq, plan.global_clipnorm)
        ko.optimizer_begin_step(plan.kind, plan.hp, plan.state, t)
        for i, g in enumerate(gs):
            ko.optimizer_update_into(
                plan.kind, plan.weights[i], g, plan.slot_m[i], plan.slot_v[i], plan.slot_u[i],
                plan.hp, plan.state, lrs[s], t, plan.l1[i], plan.l2[i], plan.clipvalue,
                plan.clipnorm, scale, plan.weight_decay[i], plan.c_kind[i], *plan.c_params[i],
                plan.c_axis[i], plan.c_rows[i], plan.c_cols[i],
            )
        optimizer.iterations = optimizer.iterations + 1
    return plan


def make_model_vars(dtype):
    rng = np.random.default_rng(11)
    kernel = var(rng.normal(size=(3, 4)), "kernel", dtype, path="dense/kernel",
                 regularizer=regularizers.L2(0.01), constraint=constraints.MaxNorm(1.5))
    bias = var(rng.normal(size=(4,)), "bias", dtype, path="dense/bias",
               regularizer=regularizers.L1(0.02), constraint=constraints.NonNeg())
    other = var(rng.normal(size=(2, 2)), "other", dtype, path="other/w")
    return [kernel, bias, other]


@pytest.mark.parametrize("name", ALL_NAMES)
@pytest.mark.parametrize("extra", [{}, {"clipnorm": 0.3}, {"global_clipnorm": 0.4},
                                   {"clipvalue": 0.05, "weight_decay": 0.1}])
def test_kernel_plan_reproduces_apply(name, extra):
    rng = np.random.default_rng(5)
    schedule = schedules.CosineDecay(0.05, decay_steps=6, warmup_target=0.1, warmup_steps=2)
    config = {"learning_rate": schedule, **extra}
    grads = [[rng.normal(size=s) for s in [(3, 4), (4,), (2, 2)]] for _ in range(6)]
    for dtype in (np.float32, np.float64):
        a_vars, b_vars = make_model_vars(dtype), make_model_vars(dtype)
        a = O.get({"class_name": name, "config": dict(config)})
        b = O.get({"class_name": name, "config": dict(config)})
        b.exclude_from_weight_decay(var_names=["bias"])
        a.exclude_from_weight_decay(var_names=["bias"])
        for step in grads:
            a.apply([g.copy() for g in step], a_vars)
        plan = run_plan(b, b_vars, grads)
        assert plan.kernel_only
        assert plan.weight_decay[1] == 0.0
        assert a.iterations == b.iterations == 6
        for va, vb in zip(a_vars, b_vars):
            np.testing.assert_array_equal(va.value, vb.value)
        for sa, sb in zip(a.variables, b.variables):
            np.testing.assert_array_equal(sa.value, sb.value)
        assert np.all(b_vars[1].value >= 0)
        assert np.all(np.linalg.norm(b_vars[0].value.astype(np.float64), axis=0) <= 1.5 + 1e-5)


def test_kernel_plan_layout():
    vs = make_model_vars(np.float32)
    optimizer = O.RMSprop(momentum=0.5)
    plan = optimizer.kernel_plan(vs)
    assert plan.kind == K.RMSPROP
    assert plan.hp.dtype == np.float64 and plan.hp.shape == (K.HP_SIZE,)
    np.testing.assert_allclose(plan.hp, [0.9, 0.5, 1e-7, 0.0])
    assert plan.state is optimizer._state
    assert [m.size for m in plan.slot_m] == [12, 4, 4]
    assert [u.size for u in plan.slot_u] == [0, 0, 0]
    assert all(m.dtype == np.float32 and m.ndim == 1 for m in plan.slot_m + plan.slot_u)
    np.testing.assert_allclose(plan.l1, [0, np.float32(0.02), 0])
    np.testing.assert_allclose(plan.l2, [0.01, 0, 0])
    assert list(plan.c_kind) == [constraints._k.MAX_NORM, constraints._k.NON_NEG, constraints._k.NONE]
    assert plan.c_params.shape == (3, 3) and plan.c_params[0, 0] == 1.5
    assert list(plan.c_rows * plan.c_cols) == [12, 4, 4]
    plan.slot_m[0][:] = 3.0  # live views
    np.testing.assert_array_equal(optimizer.variables[2].value, 3.0)
    assert np.shares_memory(plan.weights[0], vs[0].value)
    assert (plan.clipvalue, plan.clipnorm, plan.global_clipnorm) == (0.0, 0.0, 0.0)
    assert plan.loss_scale_factor == 1.0 and plan.gradient_accumulation_steps == 0
    assert not O.Adam(use_ema=True).kernel_plan(vs).kernel_only
    assert "rmsprop" in repr(plan)


def test_python_update_step_optimizer():
    class Halve(O.Optimizer):
        def __init__(self, **kwargs):
            super().__init__(learning_rate=1.0, **kwargs)

        def update_step(self, gradient, variable, learning_rate):
            variable.assign(variable.value - 0.5 * learning_rate * gradient)

    v = var([1.0, 2.0])
    Halve(clipvalue=1.0, weight_decay=0.5).apply([np.array([4.0, -4.0])], [v])
    np.testing.assert_allclose(v.value, np.array([1.0, 2.0]) * 0.5 - 0.5 * np.array([1.0, -1.0]))
    with pytest.raises(NotImplementedError):
        Halve().kernel_plan([v])


# ------------------------------------------------------------ get / config
def test_get_method():
    assert isinstance(O.get("sgd"), O.SGD)
    assert isinstance(O.get("adamw"), O.AdamW)
    assert isinstance(O.get("RMSprop"), O.RMSprop)
    assert isinstance(O.get("Adam"), O.Adam)
    for name in ALL_NAMES:
        assert type(O.get(name)).__name__.lower() == name
    assert O.get(None) is None
    inst = O.Nadam()
    assert O.get(inst) is inst
    with pytest.raises(ValueError):
        O.get("typo")
    with pytest.raises(ValueError):
        O.get(3)
    with pytest.raises(ValueError):
        O.deserialize({"config": {}})


def test_defaults():
    assert O.SGD().learning_rate == pytest.approx(0.01)
    assert O.Adagrad().initial_accumulator_value == 0.1
    assert O.Adadelta().rho == 0.95
    assert O.Lion().beta_2 == 0.99
    assert O.AdamW().weight_decay == 0.004
    assert O.RMSprop(centered=False).get_config()["epsilon"] == 1e-7


@pytest.mark.parametrize("name", ALL_NAMES)
def test_config_round_trip(name):
    optimizer = O.get({"class_name": name, "config": {"learning_rate": 0.5, "weight_decay": 0.01,
                                                      "clipnorm": 1.0, "name": "opt"}})
    config = O.serialize(optimizer)
    assert config["module"] == "keras.optimizers"
    assert config["class_name"] == type(optimizer).__name__
    assert config["registered_name"] is None
    assert config["config"]["learning_rate"] == 0.5
    restored = O.deserialize(config)
    assert type(restored) is type(optimizer)
    assert restored.get_config() == optimizer.get_config()
    reloaded = pickle.loads(pickle.dumps(optimizer))
    assert reloaded.get_config() == optimizer.get_config()


def test_config_with_schedule_and_keras_float32_lr():
    assert O.Adam().get_config()["learning_rate"] == 0.0010000000474974513
    sched = schedules.InverseTimeDecay(0.1, 10, 0.5, staircase=True)
    optimizer = O.SGD(learning_rate=sched, momentum=0.06, nesterov=True, weight_decay=0.004)
    config = O.serialize(optimizer)
    assert config["config"]["learning_rate"]["class_name"] == "InverseTimeDecay"
    restored = O.deserialize(config)
    assert isinstance(restored._learning_rate, schedules.InverseTimeDecay)
    assert restored.get_config() == optimizer.get_config()


def test_auto_naming_and_serialized_names():
    adam_1, adam_2 = O.Adam(), O.Adam()
    assert adam_2.name.startswith("adam") and adam_2.name != adam_1.name
    assert O.AdamW().name.startswith("adam_w")
    assert O.RMSprop().name.startswith("rm_sprop")
    assert O.Adam(name="my_adam").name == "my_adam"
    assert O.deserialize(O.serialize(adam_2)).name == adam_2.name
