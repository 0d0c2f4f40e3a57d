"""``Lion``: sign-based updates from an interpolated momentum."""

from ..kernels import optimizer_kinds as kinds
from .base_optimizer import Optimizer


class Lion(Optimizer):
    """Lion: ``w -= lr * sign(beta_1 * m + (1 - beta_1) * g)``, then
    ``m = beta_2 * m + (1 - beta_2) * g``.

    Args:
        learning_rate: float, schedule or callable. Defaults to 0.001.
        beta_1: interpolation factor of the update direction, in (0, 1].
        beta_2: decay rate of the momentum.
        **kwargs: the ``Optimizer`` arguments (weight_decay, clipnorm, clipvalue,
            global_clipnorm, use_ema, ema_momentum, ema_overwrite_frequency,
            loss_scale_factor, gradient_accumulation_steps, name).
    """

    KIND = kinds.LION

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.99, **kwargs):
        super().__init__(learning_rate=learning_rate, **kwargs)
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        if beta_1 <= 0 or beta_1 > 1:
            raise ValueError(
                "Argument `beta_1` must be in the [0, 1] range. Otherwise, the "
                f"optimizer degenerates to SignSGD. Received: beta_1={beta_1}."
            )

    def build(self, var_list):
        if self.built:
            return
        super().build(var_list)
        self._momentums = self.add_optimizer_variables(var_list, "momentum")

    def _kernel_hp(self):
        return kinds.pack_hp(self.beta_1, self.beta_2)

    def _kernel_slots(self):
        return self._momentums, [], []

    def get_config(self):
        config = super().get_config()
        config.update({"beta_1": self.beta_1, "beta_2": self.beta_2})
        return config
