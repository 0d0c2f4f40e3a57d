"""``MonitorCallback``: shared "is this an improvement?" logic for monitoring callbacks."""

import operator
import warnings

from .callback import Callback


def _model_metrics(model):
    """Every metric object of ``model.metrics``, containers (objects with ``.metrics``) opened."""
    stack = list(getattr(model, "metrics", None) or [])
    out = []
    while stack:
        m = stack.pop(0)
        inner = getattr(m, "metrics", None)
        if isinstance(inner, (list, tuple)):
            stack[:0] = list(inner)
        else:
            out.append(m)
    return out


class MonitorCallback(Callback):
    """Base for callbacks that watch a logged quantity (``EarlyStopping`` and friends).

    In ``"auto"`` mode the direction is "min" for ``loss``/``val_loss``, else the ``_direction``
    of the model metric with that name ("up" means max); otherwise a ValueError is raised when the
    first epoch ends.

    Args:
        monitor: quantity to monitor.
        mode: ``"auto"``, ``"min"`` or ``"max"`` (anything else warns and means auto).
        baseline: initial "best" value (``None``: the first value seen).
        min_delta: minimum change that counts as an improvement.
    """

    def __init__(self, monitor="val_loss", mode="auto", baseline=None, min_delta=0):
        super().__init__()
        if mode not in ("auto", "min", "max"):
            warnings.warn(
                f"{type(self).__name__} mode '{mode}' is unknown, fallback to auto mode.",
                stacklevel=2,
            )
            mode = "auto"
        self.monitor = monitor
        self.mode = mode
        self.best = baseline
        self.min_delta = abs(min_delta)
        self.monitor_op = None

    def _set_monitor_op(self):
        if self.mode == "min":
            self.monitor_op = operator.lt
        elif self.mode == "max":
            self.monitor_op = operator.gt
        else:
            name = self.monitor.removeprefix("val_")
            if name == "loss":
                self.monitor_op = operator.lt
            for m in _model_metrics(self.model):
                if getattr(m, "name", None) == name and hasattr(m, "_direction"):
                    self.monitor_op = operator.gt if m._direction == "up" else operator.lt
            if self.monitor_op is None:
                raise ValueError(
                    f"{type(self).__name__} callback received monitor={self.monitor}, but "
                    "Keras isn't able to automatically determine whether that metric should "
                    "be maximized or minimized. Pass `mode='max'` in order to monitor based on "
                    "the highest metric value, or pass `mode='min'` in order to use the lowest "
                    "value."
                )
        if self.monitor_op is operator.lt:
            self.min_delta *= -1

    def _is_improvement(self, monitor_value, reference_value):
        if reference_value is None:
            return True
        return bool(self.monitor_op(monitor_value - self.min_delta, reference_value))
