"""``TerminateOnNaN``: stops training when the loss becomes NaN or infinite."""

import math

from .callback import Callback


class TerminateOnNaN(Callback):
    """Stops training (``model.stop_training = True``) at the first NaN/Inf batch loss.

    The message names the epoch (1-based, as the progress bar counts) and the batch (0-based,
    as in Keras' ``Batch N: Invalid loss``) where it happened; outside ``fit`` (no epoch began)
    it is Keras' line exactly.

    Args:
        raise_error: raise a RuntimeError instead of stopping gracefully (skips
            ``on_train_end`` of the other callbacks).
    """

    def __init__(self, raise_error=False):
        super().__init__()
        self.raise_error = raise_error
        self._epoch = None

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch

    def on_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is None:
            return
        loss = float(loss)
        if math.isnan(loss) or math.isinf(loss):
            where = f"batch {batch}" if self._epoch is None else (
                f"epoch {self._epoch + 1}, batch {batch}")
            if self.raise_error:
                raise RuntimeError(
                    f"NaN or Inf loss encountered at {where}. "
                    f"Loss value: {loss}. Terminating training immediately."
                )
            if self._epoch is None:
                print(f"Batch {batch}: Invalid loss, terminating training")
            else:
                print(f"Epoch {self._epoch + 1}, batch {batch}: Invalid loss ({loss}), "
                      "terminating training")
            self.model.stop_training = True
