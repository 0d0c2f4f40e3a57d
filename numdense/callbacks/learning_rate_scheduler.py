"""``LearningRateScheduler``: sets the learning rate from a schedule at each epoch start."""

import numpy as np

from ._lr import get_learning_rate
from .callback import Callback


class LearningRateScheduler(Callback):
    """Sets ``model.optimizer.learning_rate = schedule(epoch, lr)`` at the start of each epoch.

    A ``schedule(epoch)`` taking one argument is accepted too. The epoch-end logs get a
    ``learning_rate`` entry.

    Args:
        schedule: function ``(epoch index from 0, current lr as float) -> new lr (float)``.
        verbose: 0 quiet, 1 prints the update.
    """

    def __init__(self, schedule, verbose=0):
        super().__init__()
        if not callable(schedule):
            raise TypeError(f"`schedule` must be callable. Received: {schedule!r}")
        self.schedule = schedule
        self.verbose = verbose

    def _update_optimizer_lr(self, optimizer, epoch):
        lr = get_learning_rate(optimizer)
        try:
            lr = self.schedule(epoch, lr)
        except TypeError:
            lr = self.schedule(epoch)
        if not isinstance(lr, (float, np.float32, np.float64)):
            raise ValueError(f"The output of the `schedule` function should be a float. Got: {lr}")
        optimizer.learning_rate = lr
        return lr

    def on_epoch_begin(self, epoch, logs=None):
        inner = getattr(self.model.optimizer, "optimizers", None)
        if inner is not None:
            for opt in inner:
                lr = self._update_optimizer_lr(opt, epoch)
                if self.verbose > 0:
                    print(f"\nEpoch {epoch + 1}: LearningRateScheduler setting "
                          f"{opt.name} learning rate to {lr}.")
        else:
            lr = self._update_optimizer_lr(self.model.optimizer, epoch)
            if self.verbose > 0:
                print(f"\nEpoch {epoch + 1}: LearningRateScheduler setting learning rate to {lr}.")

    def on_epoch_end(self, epoch, logs=None):
        if logs is None:
            return
        inner = getattr(self.model.optimizer, "optimizers", None)
        if inner is not None:
            for opt in inner:
                logs[f"learning_rate_{opt.name}"] = get_learning_rate(opt)
        else:
            logs["learning_rate"] = get_learning_rate(self.model.optimizer)
