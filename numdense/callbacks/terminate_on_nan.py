"""``TerminateOnNaN``: stops training when the loss becomes NaN or infinite."""

import math

from .callback import Callback


class TerminateOnNaN(Callback):
    """Stops training (``model.stop_training = True``) at the first NaN/Inf batch loss.

    Args:
        raise_error: raise a RuntimeError instead of stopping gracefully (skips
            ``on_train_end`` of the other callbacks).
    """

    def __init__(self, raise_error=False):
        super().__init__()
        self.raise_error = raise_error

    def on_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is None:
            return
        loss = float(loss)
        if math.isnan(loss) or math.isinf(loss):
            if self.raise_error:
                raise RuntimeError(
                    f"NaN or Inf loss encountered at batch {batch}. "
                    f"Loss value: {loss}. Terminating training immediately."
                )
            print(f"Batch {batch}: Invalid loss, terminating training")
            self.model.stop_training = True
