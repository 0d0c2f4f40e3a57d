"""``LambdaCallback``: a callback built from plain functions."""

from .callback import Callback

_HOOKS = (
    "on_epoch_begin", "on_epoch_end", "on_train_begin", "on_train_end", "on_train_batch_begin",
    "on_train_batch_end", "on_batch_begin", "on_batch_end", "on_test_begin", "on_test_end",
    "on_test_batch_begin", "on_test_batch_end", "on_predict_begin", "on_predict_end",
    "on_predict_batch_begin", "on_predict_batch_end",
)


class LambdaCallback(Callback):
    """Calls the given functions at the matching hooks.

    Epoch hooks get ``(epoch, logs)``, train/test/predict begin/end hooks get ``(logs)``, batch
    hooks get ``(batch, logs=logs)``.

    Args:
        on_epoch_begin: called at the start of every epoch.
        on_epoch_end: called at the end of every epoch.
        on_train_begin: called at the start of training.
        on_train_end: called at the end of training.
        on_train_batch_begin: called at the start of every training batch.
        on_train_batch_end: called at the end of every training batch.
        **kwargs: any other hook by name (``on_test_end=fn``, ...).
    """

    def __init__(self, on_epoch_begin=None, on_epoch_end=None, on_train_begin=None,
                 on_train_end=None, on_train_batch_begin=None, on_train_batch_end=None, **kwargs):
        super().__init__()
        unknown = [k for k in kwargs if k not in _HOOKS]
        if unknown:
            raise ValueError(f"Unknown callback hooks for LambdaCallback: {unknown}")
        hooks = dict(kwargs, on_epoch_begin=on_epoch_begin, on_epoch_end=on_epoch_end,
                     on_train_begin=on_train_begin, on_train_end=on_train_end,
                     on_train_batch_begin=on_train_batch_begin,
                     on_train_batch_end=on_train_batch_end)
        for name, fn in hooks.items():
            if fn is not None:
                if not callable(fn):
                    raise TypeError(f"`{name}` must be callable. Received: {fn!r}")
                setattr(self, name, fn)
