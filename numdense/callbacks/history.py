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
