"""``History``: records the epoch logs; ``fit`` returns it."""

from .callback import Callback


class History(Callback):
    """Records ``logs`` of every epoch into ``history`` (key -> list) and ``epoch``."""

    def __init__(self):
        super().__init__()
        self.history = {}
        self.epoch = []

    def on_train_begin(self, logs=None):
        self.epoch = []

    def on_epoch_end(self, epoch, logs=None):
        self.epoch.append(epoch)
        for k, v in (logs or {}).items():
            self.history.setdefault(k, []).append(v)
        if self.model is not None:
            self.model.history = self

    def record_losses(self, first_epoch, losses):
        """``on_epoch_end`` for epochs ``first_epoch, first_epoch + 1, ...`` whose only log is
        ``loss`` (``losses``, one float each), at once: a silent fit of a tiny model runs
        hundreds of epochs per compiled call, and one hook call per epoch cost as much as the
        epoch itself."""
        self.epoch.extend(range(first_epoch, first_epoch + len(losses)))
        self.history.setdefault("loss", []).extend(losses)
        if self.model is not None:
            self.model.history = self
