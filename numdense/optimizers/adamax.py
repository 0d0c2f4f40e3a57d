"""``Adamax``: Adam with the infinity norm."""

from ..kernels import optimizer_kinds as kinds
from .base_optimizer import Optimizer


class Adamax(Optimizer):
    """Adamax.

    ``m += (g - m)(1 - beta_1)``, ``u = max(beta_2 * u, |g|)``,
    ``w -= lr * m / ((1 - beta_1^t) * (u + epsilon))`` with ``t = iterations + 1``.

    Args:
        learning_rate: float, schedule or callable. Defaults to 0.001.
        beta_1: decay rate of the first moment.
        beta_2: decay rate of the infinity norm.
        epsilon: small constant added to ``u``.
        **kwargs: the ``Optimizer`` arguments (weight_decay, clipnorm, clipvalue,
            global_clipnorm, use_ema, ema_momentum, ema_overwrite_frequency,
            loss_scale_factor, gradient_accumulation_steps, name).
    """

    KIND = kinds.ADAMAX

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7, **kwargs):
        super().__init__(learning_rate=learning_rate, **kwargs)
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon

    def build(self, var_list):
        if self.built:
            return
        super().build(var_list)
        self._m, self._u = self.add_optimizer_variables(var_list, ["momentum", "norm"])

    def _kernel_hp(self):
        return kinds.pack_hp(self.beta_1, self.beta_2, self.epsilon)

    def _kernel_slots(self):
        return self._m, self._u, []

    def get_config(self):
        config = super().get_config()
        config.update({"beta_1": self.beta_1, "beta_2": self.beta_2, "epsilon": self.epsilon})
        return config
