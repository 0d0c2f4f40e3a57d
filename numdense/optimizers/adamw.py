"""``AdamW``: Adam with decoupled weight decay."""

from ..kernels import optimizer_kinds as kinds
from .adam import Adam


class AdamW(Adam):
    """AdamW: Adam plus the decoupled decay ``w -= w * weight_decay * lr`` before each update.

    Args:
        learning_rate: float, schedule or callable. Defaults to 0.001.
        weight_decay: float, the decay rate (required; defaults to 0.004).
        beta_1: decay rate of the first moment.
        beta_2: decay rate of the second moment.
        epsilon: small constant added to ``sqrt(v)``.
        amsgrad: whether to use AMSGrad.
        **kwargs: the other ``Optimizer`` arguments (clipnorm, clipvalue, global_clipnorm,
            use_ema, ema_momentum, ema_overwrite_frequency, loss_scale_factor,
            gradient_accumulation_steps, name).
    """

    KIND = kinds.ADAMW

    def __init__(
        self, learning_rate=0.001, weight_decay=0.004, beta_1=0.9, beta_2=0.999, epsilon=1e-7,
        amsgrad=False, **kwargs,
    ):
        super().__init__(
            learning_rate=learning_rate, beta_1=beta_1, beta_2=beta_2, epsilon=epsilon,
            amsgrad=amsgrad, weight_decay=weight_decay, **kwargs,
        )
        if self.weight_decay is None:
            raise ValueError(
                "Argument `weight_decay` must be a float. Received: weight_decay=None"
            )
