"""Keras 3 callbacks: hooks into ``fit``/``evaluate``/``predict``.

The training loop drives a ``CallbackList(callbacks, add_history=True, add_progbar=verbose != 0,
model=model, verbose=..., epochs=..., steps=...)``: ``on_train_begin()``, per epoch
``on_epoch_begin(epoch)``, ``on_train_batch_begin/end(batch, logs)``, ``on_epoch_end(epoch, logs)``
(``val_*`` keys included), ``on_train_end()``, and honours ``model.stop_training``.
"""

from .callback import Callback
from .callback_list import CallbackList
from .csv_logger import CSVLogger
from .early_stopping import EarlyStopping
from .history import History
from .lambda_callback import LambdaCallback
from .learning_rate_scheduler import LearningRateScheduler
from .model_checkpoint import ModelCheckpoint
from .monitor_callback import MonitorCallback
from .progbar_logger import ProgbarLogger
from .reduce_lr_on_plateau import ReduceLROnPlateau
from .terminate_on_nan import TerminateOnNaN

__all__ = [
    "Callback", "CallbackList", "CSVLogger", "EarlyStopping", "History", "LambdaCallback",
    "LearningRateScheduler", "ModelCheckpoint", "MonitorCallback", "ProgbarLogger",
    "ReduceLROnPlateau", "TerminateOnNaN",
]
