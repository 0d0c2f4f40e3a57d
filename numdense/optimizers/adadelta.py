"""``Adadelta``: rates from running averages of squared gradients and squared updates."""

from ..kernels import optimizer_kinds as kinds
from .base_optimizer import Optimizer


class Adadelta(Optimizer):
    """Adadelta.

    ``ag = rho * ag + (1 - rho) * g^2``; ``d = -sqrt(ad + eps) * g / sqrt(ag + eps)``;
    ``ad = rho * ad + (1 - rho) * d^2``; ``w += lr * d``.

    Args:
        learning_rate: float, schedule or callable. Defaults to 0.001.
        rho: the decay rate of both averages.
        epsilon: small constant added inside the square roots.
        **kwargs: the ``Optimizer`` arguments (weight_decay, clipnorm, clipvalue,
            global_clipnorm, use_ema, ema_momentum, ema_overwrite_frequency,
            loss_scale_factor, gradient_accumulation_steps, name).
    """

    KIND = kinds.ADADELTA

    def __init__(self, learning_rate=0.001, rho=0.95, epsilon=1e-7, **kwargs):
        super().__init__(learning_rate=learning_rate, **kwargs)
        self.rho = rho
        self.epsilon = epsilon

    def build(self, var_list):
        if self.built:
            return
        super().build(var_list)
        self._accumulated_grads, self._accumulated_delta_vars = self.add_optimizer_variables(
            var_list, ["accumulated_grad", "accumulated_delta_var"]
        )

    def _kernel_hp(self):
        return kinds.pack_hp(self.rho, self.epsilon)

    def _kernel_slots(self):
        return self._accumulated_grads, self._accumulated_delta_vars, []

    def get_config(self):
        config = super().get_config()
        config.update({"rho": self.rho, "epsilon": self.epsilon})
        return config
