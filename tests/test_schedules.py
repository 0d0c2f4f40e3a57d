"""Learning-rate schedules vs the Keras 3 formulas, on scalars and arrays of steps."""

import math

import numpy as np
import pytest

from numdense import optimizers
from numdense.optimizers import schedules

STEPS = np.array([0, 1, 5, 9, 10, 11, 25, 100])


def f32(x):
    return np.asarray(x, np.float64).astype(np.float32).astype(np.float64)


def check(schedule, formula):
    got = schedule(STEPS)
    assert got.dtype == np.float64 and got.shape == STEPS.shape
    np.testing.assert_allclose(got, f32([formula(int(s)) for s in STEPS]), rtol=1e-7)
    for s in (0, 7, 33):
        scalar = schedule(s)
        assert np.ndim(scalar) == 0
        assert float(scalar) == pytest.approx(formula(s), rel=1e-6)


@pytest.mark.parametrize("staircase", [False, True])
def test_exponential_decay(staircase):
    def formula(s):
        p = s / 10 if not staircase else s // 10
        return 0.1 * 0.96**p

    check(schedules.ExponentialDecay(0.1, 10, 0.96, staircase=staircase), formula)


@pytest.mark.parametrize("staircase", [False, True])
def test_inverse_time_decay(staircase):
    def formula(s):
        p = s / 10 if not staircase else s // 10
        return 0.5 / (1 + 0.3 * p)

    check(schedules.InverseTimeDecay(0.5, 10, 0.3, staircase=staircase), formula)


def test_piecewise_constant_decay():
    schedule = schedules.PiecewiseConstantDecay([5, 10], [1.0, 0.5, 0.1])
    check(schedule, lambda s: 1.0 if s <= 5 else (0.5 if s <= 10 else 0.1))
    assert schedule(5) == 1.0 and schedule(6) == 0.5 and schedule(11) == pytest.approx(0.1)
    with pytest.raises(ValueError, match="1 less than the length of values"):
        schedules.PiecewiseConstantDecay([1, 2], [1.0, 2.0])


@pytest.mark.parametrize("alpha", [0.0, 0.2])
def test_cosine_decay(alpha):
    def formula(s):
        s = min(s, 20)
        return 0.1 * ((1 - alpha) * 0.5 * (1 + math.cos(math.pi * s / 20)) + alpha)

    check(schedules.CosineDecay(0.1, 20, alpha=alpha), formula)


def test_cosine_decay_warmup():
    def formula(s):
        s = min(s, 20 + 5)
        if s < 5:
            return 0.0 + (1.0 - 0.0) * s / 5
        return 1.0 * (0.5 * (1 + math.cos(math.pi * (s - 5) / 20)))

    check(schedules.CosineDecay(0.0, 20, warmup_target=1.0, warmup_steps=5), formula)


@pytest.mark.parametrize("cycle", [False, True])
def test_polynomial_decay(cycle):
    def formula(s):
        steps = 10
        if cycle:
            steps = 10 * (1 if s == 0 else math.ceil(s / 10))
        else:
            s = min(s, 10)
        return (0.1 - 0.01) * (1 - s / steps) ** 2 + 0.01

    check(schedules.PolynomialDecay(0.1, 10, 0.01, power=2, cycle=cycle), formula)


def test_cosine_decay_restarts():
    def formula(s, t_mul, m_mul):
        frac = s / 10
        if t_mul == 1.0:
            i = math.floor(frac)
            frac -= i
        else:
            i = math.floor(math.log(1 - frac * (1 - t_mul)) / math.log(t_mul))
            frac = (frac - (1 - t_mul**i) / (1 - t_mul)) / t_mul**i
        return 0.1 * (0.9 * 0.5 * m_mul**i * (1 + math.cos(math.pi * frac)) + 0.1)

    for t_mul, m_mul in ((2.0, 0.5), (1.0, 1.0)):
        check(schedules.CosineDecayRestarts(0.1, 10, t_mul, m_mul, alpha=0.1),
              lambda s: formula(s, t_mul, m_mul))


@pytest.mark.parametrize(
    "cls,args",
    [
        (schedules.ExponentialDecay, (0.1, 0, 0.9)),
        (schedules.InverseTimeDecay, (0.1, -1, 0.9)),
        (schedules.PolynomialDecay, (0.1, 0)),
        (schedules.CosineDecay, (0.1, 0)),
        (schedules.CosineDecayRestarts, (0.1, 0)),
    ],
)
def test_decay_steps_must_be_positive(cls, args):
    with pytest.raises(ValueError, match="must be > 0"):
        cls(*args)


@pytest.mark.parametrize(
    "schedule",
    [
        schedules.ExponentialDecay(0.1, 10, 0.96, staircase=True),
        schedules.PiecewiseConstantDecay([5, 10], [1.0, 0.5, 0.1]),
        schedules.PolynomialDecay(0.1, 10, cycle=True),
        schedules.InverseTimeDecay(0.1, 10, 0.5),
        schedules.CosineDecay(0.1, 10, alpha=0.1, warmup_target=0.2, warmup_steps=3),
        schedules.CosineDecayRestarts(0.1, 10),
    ],
    ids=lambda s: type(s).__name__,
)
def test_serialize_round_trip(schedule):
    config = schedules.serialize(schedule)
    assert config["module"] == "keras.optimizers.schedules"
    assert config["class_name"] == type(schedule).__name__
    assert config["registered_name"] is None
    restored = schedules.deserialize(config)
    assert type(restored) is type(schedule)
    assert restored.get_config() == schedule.get_config()
    np.testing.assert_array_equal(restored(STEPS), schedule(STEPS))


def test_default_names_and_configs():
    assert schedules.ExponentialDecay(0.1, 1, 0.5).get_config() == {
        "initial_learning_rate": 0.1, "decay_steps": 1, "decay_rate": 0.5,
        "staircase": False, "name": "ExponentialDecay",
    }
    assert schedules.PiecewiseConstantDecay([1], [1.0, 0.5]).name == "PiecewiseConstant"
    assert schedules.CosineDecay(0.1, 5).get_config() == {
        "initial_learning_rate": 0.1, "decay_steps": 5, "alpha": 0.0, "name": "CosineDecay",
        "warmup_target": None, "warmup_steps": 0,
    }
    assert schedules.CosineDecayRestarts(0.1, 5).name == "SGDRDecay"


def test_deserialize_errors_and_custom_objects():
    with pytest.raises(ValueError, match="Could not interpret decay identifier"):
        schedules.deserialize({"class_name": "Nope", "config": {}})
    with pytest.raises(ValueError):
        schedules.deserialize("ExponentialDecay")

    class Halving(schedules.LearningRateSchedule):
        def __init__(self, initial):
            self.initial = initial

        def __call__(self, step):
            return self.initial / (np.asarray(step) + 1)

        def get_config(self):
            return {"initial": self.initial}

    restored = schedules.deserialize(
        {"class_name": "Halving", "config": {"initial": 1.0}}, custom_objects={"Halving": Halving}
    )
    np.testing.assert_allclose(optimizers.SGD(learning_rate=restored).learning_rates(1, 3),
                               [1 / 2, 1 / 3, 1 / 4])


def test_base_class_errors():
    base = schedules.LearningRateSchedule()
    with pytest.raises(NotImplementedError, match="must override `__call__"):
        base(0)
    with pytest.raises(NotImplementedError, match="must override `get_config"):
        base.get_config()


def test_scalar_only_custom_schedule_falls_back_per_step():
    class ScalarOnly(schedules.LearningRateSchedule):
        def __call__(self, step):
            return 0.1 if int(step) < 2 else 0.01

    np.testing.assert_allclose(optimizers.Adam(learning_rate=ScalarOnly()).learning_rates(0, 4),
                               [0.1, 0.1, 0.01, 0.01])


def test_optimizer_evaluates_schedule_at_iterations_before_increment():
    schedule = schedules.PiecewiseConstantDecay([0, 1], [1.0, 0.5, 0.25])
    optimizer = optimizers.SGD(learning_rate=schedule)
    np.testing.assert_array_equal(optimizer.learning_rates(0, 4), [1.0, 0.5, 0.25, 0.25])
    from numdense.variables import Variable

    v = Variable(np.zeros(1, np.float32), "v")
    deltas = []
    for _ in range(3):
        before = v.numpy()
        optimizer.apply([np.ones(1)], [v])
        deltas.append(float(before[0] - v.value[0]))
    assert deltas == [1.0, 0.5, 0.25]
