"""Learning-rate schedules with Keras 3 names, formulas, errors and configs.

A schedule maps the optimizer step to a learning rate. Optimizers evaluate it at
``iterations`` (0 for the first update), before the update increments it. ``__call__`` takes a
scalar step or a NumPy array of steps (one learning rate per step, the form
``Optimizer.learning_rates`` uses). Keras computes schedules in float32 (the dtype of
``initial_learning_rate`` once converted to a tensor); numdense evaluates the formulas in
float64 and rounds the results to float32, so they agree with Keras to float32 rounding.
A scalar step gives a ``numpy.float64``, an array of steps a float64 array.
"""

import math

import numpy as np

from ..utils.serialization import serialize_object

_MODULE = "keras.optimizers.schedules"


def _steps(step):
    return np.asarray(step, dtype=np.float64)


def _result(value):
    out = np.asarray(value, dtype=np.float64).astype(np.float32).astype(np.float64)
    return out[()] if out.ndim == 0 else out


def _check_decay_steps(value, name="decay_steps"):
    if value <= 0:
        raise ValueError(f"Argument `{name}` must be > 0. Received: {name}={value}")


class LearningRateSchedule:
    """Base class of learning-rate schedules.

    Subclasses implement ``__call__(step)`` (a scalar or a NumPy array of steps) and
    ``get_config()``.
    """

    def __call__(self, step):
        raise NotImplementedError(
            f"Learning rate schedule '{self.__class__.__name__}' "
            "must override `__call__(self, step)`."
        )

    def get_config(self):
        raise NotImplementedError(
            f"Learning rate schedule '{self.__class__.__name__}' "
            "must override `get_config()` in order to be serializable."
        )

    @classmethod
    def from_config(cls, config):
        """Builds a schedule from the output of ``get_config()``.

        Args:
            config: a dict of constructor arguments.
        """
        return cls(**config)


class ExponentialDecay(LearningRateSchedule):
    """``initial_learning_rate * decay_rate ** (step / decay_steps)``.

    Args:
        initial_learning_rate: the learning rate at step 0.
        decay_steps: positive number of steps per factor of ``decay_rate``.
        decay_rate: the decay factor.
        staircase: if True, ``step / decay_steps`` is floored (the rate drops in steps).
        name: name of the schedule.
    """

    def __init__(
        self, initial_learning_rate, decay_steps, decay_rate, staircase=False,
        name="ExponentialDecay",
    ):
        self.initial_learning_rate = initial_learning_rate
        self.decay_steps = decay_steps
        self.decay_rate = decay_rate
        self.staircase = staircase
        self.name = name
        _check_decay_steps(decay_steps)

    def __call__(self, step):
        p = _steps(step) / float(self.decay_steps)
        if self.staircase:
            p = np.floor(p)
        return _result(float(self.initial_learning_rate) * float(self.decay_rate) ** p)

    def get_config(self):
        return {
            "initial_learning_rate": self.initial_learning_rate,
            "decay_steps": self.decay_steps,
            "decay_rate": self.decay_rate,
            "staircase": self.staircase,
            "name": self.name,
        }


class PiecewiseConstantDecay(LearningRateSchedule):
    """``values[0]`` while ``step <= boundaries[0]``, ``values[i]`` while
    ``boundaries[i-1] < step <= boundaries[i]``, ``values[-1]`` after ``boundaries[-1]``.

    Args:
        boundaries: increasing list of step numbers.
        values: list of learning rates, one more than ``boundaries``.
        name: name of the schedule.
    """

    def __init__(self, boundaries, values, name="PiecewiseConstant"):
        if len(boundaries) != len(values) - 1:
            raise ValueError(
                "The length of boundaries should be 1 less than the length of "
                f"values. Received: boundaries={boundaries} of length "
                f"{len(boundaries)}, and values={values} "
                f"of length {len(values)}."
            )
        self.boundaries = boundaries
        self.values = values
        self.name = name

    def __call__(self, step):
        s = _steps(step)
        # Index of the first boundary >= step: values[i] covers (boundaries[i-1], boundaries[i]].
        idx = np.searchsorted(np.asarray(self.boundaries, dtype=np.float64), s, side="left")
        return _result(np.asarray(self.values, dtype=np.float64)[idx])

    def get_config(self):
        return {"boundaries": self.boundaries, "values": self.values, "name": self.name}


class PolynomialDecay(LearningRateSchedule):
    """``(initial - end) * (1 - step / decay_steps) ** power + end``, with ``step`` capped at
    ``decay_steps``, or, with ``cycle``, ``decay_steps`` multiplied by ``ceil(step / decay_steps)``.

    Args:
        initial_learning_rate: the learning rate at step 0.
        decay_steps: positive number of steps to reach ``end_learning_rate``.
        end_learning_rate: the final learning rate.
        power: the polynomial's power.
        cycle: whether to restart the decay after ``decay_steps``.
        name: name of the schedule.
    """

    def __init__(
        self, initial_learning_rate, decay_steps, end_learning_rate=0.0001, power=1.0,
        cycle=False, name="PolynomialDecay",
    ):
        self.initial_learning_rate = initial_learning_rate
        self.decay_steps = decay_steps
        self.end_learning_rate = end_learning_rate
        self.power = power
        self.cycle = cycle
        self.name = name
        _check_decay_steps(decay_steps)

    def __call__(self, step):
        s = _steps(step)
        steps = np.float64(self.decay_steps)
        if self.cycle:
            steps = steps * np.where(s == 0, 1.0, np.ceil(s / float(self.decay_steps)))
        else:
            s = np.minimum(s, steps)
        p = s / steps
        end = float(self.end_learning_rate)
        return _result(
            (float(self.initial_learning_rate) - end) * (1.0 - p) ** float(self.power) + end
        )

    def get_config(self):
        return {
            "initial_learning_rate": self.initial_learning_rate,
            "decay_steps": self.decay_steps,
            "end_learning_rate": self.end_learning_rate,
            "power": self.power,
            "cycle": self.cycle,
            "name": self.name,
        }


class InverseTimeDecay(LearningRateSchedule):
    """``initial_learning_rate / (1 + decay_rate * step / decay_steps)``.

    Args:
        initial_learning_rate: the learning rate at step 0.
        decay_steps: positive number of steps per unit of ``decay_rate``.
        decay_rate: the decay rate.
        staircase: if True, ``step / decay_steps`` is floored.
        name: name of the schedule.
    """

    def __init__(
        self, initial_learning_rate, decay_steps, decay_rate, staircase=False,
        name="InverseTimeDecay",
    ):
        self.initial_learning_rate = initial_learning_rate
        self.decay_steps = decay_steps
        self.decay_rate = decay_rate
        self.staircase = staircase
        self.name = name
        _check_decay_steps(decay_steps)

    def __call__(self, step):
        p = _steps(step) / float(self.decay_steps)
        if self.staircase:
            p = np.floor(p)
        return _result(float(self.initial_learning_rate) / (1.0 + float(self.decay_rate) * p))

    def get_config(self):
        return {
            "initial_learning_rate": self.initial_learning_rate,
            "decay_steps": self.decay_steps,
            "decay_rate": self.decay_rate,
            "staircase": self.staircase,
            "name": self.name,
        }


class CosineDecay(LearningRateSchedule):
    """Cosine decay, optionally after a linear warmup.

    Without ``warmup_target``: ``lr * ((1 - alpha) * 0.5 * (1 + cos(pi * s / decay_steps)) +
    alpha)`` with ``s = min(step, decay_steps)`` and ``lr = initial_learning_rate``. With it:
    for ``step < warmup_steps``, ``initial + (warmup_target - initial) * step / warmup_steps``;
    afterwards the cosine decay from ``warmup_target`` over ``step - warmup_steps`` (capped at
    ``decay_steps``).

    Args:
        initial_learning_rate: the learning rate at step 0.
        decay_steps: positive number of decay steps.
        alpha: the final learning rate as a fraction of the decayed-from rate.
        name: name of the schedule.
        warmup_target: the learning rate reached at the end of the warmup (None = no warmup).
        warmup_steps: number of warmup steps.
    """

    def __init__(
        self, initial_learning_rate, decay_steps, alpha=0.0, name="CosineDecay",
        warmup_target=None, warmup_steps=0,
    ):
        self.initial_learning_rate = initial_learning_rate
        self.decay_steps = decay_steps
        self.alpha = alpha
        self.name = name
        self.warmup_steps = warmup_steps
        self.warmup_target = warmup_target
        _check_decay_steps(decay_steps)

    def _decay(self, s, decay_from):
        cosine = 0.5 * (1.0 + np.cos(math.pi * (s / float(self.decay_steps))))
        alpha = float(self.alpha)
        return decay_from * ((1.0 - alpha) * cosine + alpha)

    def __call__(self, step):
        s = _steps(step)
        initial = float(self.initial_learning_rate)
        steps = float(self.decay_steps)
        if self.warmup_target is None:
            return _result(self._decay(np.minimum(s, steps), initial))
        target = float(self.warmup_target)
        warm = float(self.warmup_steps)
        s = np.minimum(s, steps + warm)
        with np.errstate(divide="ignore", invalid="ignore"):
            warmup = (target - initial) * (s / warm) + initial
        return _result(np.where(s < warm, warmup, self._decay(s - warm, target)))

    def get_config(self):
        return {
            "initial_learning_rate": self.initial_learning_rate,
            "decay_steps": self.decay_steps,
            "alpha": self.alpha,
            "name": self.name,
            "warmup_target": self.warmup_target,
            "warmup_steps": self.warmup_steps,
        }


class CosineDecayRestarts(LearningRateSchedule):
    """Cosine decay with warm restarts (SGDR): the i-th period lasts
    ``first_decay_steps * t_mul**i`` steps and starts from ``initial * m_mul**i``.

    Args:
        initial_learning_rate: the learning rate at step 0.
        first_decay_steps: positive length of the first period.
        t_mul: growth factor of the period lengths.
        m_mul: factor of the initial learning rate of each period.
        alpha: the minimum learning rate as a fraction of ``initial_learning_rate``.
        name: name of the schedule.
    """

    def __init__(
        self, initial_learning_rate, first_decay_steps, t_mul=2.0, m_mul=1.0, alpha=0.0,
        name="SGDRDecay",
    ):
        self.initial_learning_rate = initial_learning_rate
        self.first_decay_steps = first_decay_steps
        self._t_mul = t_mul
        self._m_mul = m_mul
        self.alpha = alpha
        self.name = name
        _check_decay_steps(first_decay_steps, "first_decay_steps")

    def __call__(self, step):
        fraction = _steps(step) / float(self.first_decay_steps)
        t_mul = float(self._t_mul)
        if t_mul == 1.0:
            i_restart = np.floor(fraction)
            fraction = fraction - i_restart
        else:
            i_restart = np.floor(np.log(1.0 - fraction * (1.0 - t_mul)) / np.log(t_mul))
            sum_r = (1.0 - t_mul**i_restart) / (1.0 - t_mul)
            fraction = (fraction - sum_r) / t_mul**i_restart
        cosine = 0.5 * float(self._m_mul) ** i_restart * (1.0 + np.cos(math.pi * fraction))
        alpha = float(self.alpha)
        return _result(float(self.initial_learning_rate) * ((1.0 - alpha) * cosine + alpha))

    def get_config(self):
        return {
            "initial_learning_rate": self.initial_learning_rate,
            "first_decay_steps": self.first_decay_steps,
            "t_mul": self._t_mul,
            "m_mul": self._m_mul,
            "alpha": self.alpha,
            "name": self.name,
        }


ALL_OBJECTS = (
    LearningRateSchedule,
    ExponentialDecay,
    PiecewiseConstantDecay,
    PolynomialDecay,
    InverseTimeDecay,
    CosineDecay,
    CosineDecayRestarts,
)
ALL_OBJECTS_DICT = {cls.__name__: cls for cls in ALL_OBJECTS}


def serialize(learning_rate_schedule):
    """Returns the Keras 3 dict of a schedule (module ``"keras.optimizers.schedules"``).

    Args:
        learning_rate_schedule: a ``LearningRateSchedule`` instance.
    """
    return serialize_object(learning_rate_schedule, _MODULE)


def deserialize(config, custom_objects=None):
    """Builds a schedule from a Keras config dict (``{"class_name": ..., "config": ...}``).

    Args:
        config: the serialized schedule.
        custom_objects: optional dict of extra names to classes.

    Raises:
        ValueError: for an unknown class name or a malformed config.
    """
    if not isinstance(config, dict) or "class_name" not in config:
        raise ValueError(f"Could not interpret decay identifier: {config}")
    registry = {**ALL_OBJECTS_DICT, **(custom_objects or {})}
    cls = registry.get(config["class_name"])
    if cls is None:
        raise ValueError(f"Could not interpret decay identifier: {config['class_name']}")
    return cls.from_config(dict(config.get("config") or {}))
