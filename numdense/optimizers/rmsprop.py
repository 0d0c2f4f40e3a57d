"""``RMSprop``: gradients divided by a running RMS (optionally centered, with momentum)."""

from ..kernels import optimizer_kinds as kinds
from .base_optimizer import Optimizer


class RMSprop(Optimizer):
    """RMSprop.

    ``v = rho * v + (1 - rho) * g^2``; ``inc = lr * g / sqrt(v + epsilon)`` (centered:
    ``sqrt(v - a^2 + epsilon)`` with ``a = rho * a + (1 - rho) * g``); ``w -= inc``, or with
    momentum ``mom = momentum * mom + inc`` and ``w -= mom``.

    Args:
        learning_rate: float, schedule or callable. Defaults to 0.001.
        rho: discount factor of the squared-gradient average.
        momentum: momentum factor (0 = none).
        epsilon: small constant added inside the square root.
        centered: whether to normalize by the estimated variance.
        **kwargs: the ``Optimizer`` arguments (weight_decay, clipnorm, clipvalue,
            global_clipnorm, use_ema, ema_momentum, ema_overwrite_frequency,
            loss_scale_factor, gradient_accumulation_steps, name).
    """

    KIND = kinds.RMSPROP

    def __init__(
        self, learning_rate=0.001, rho=0.9, momentum=0.0, epsilon=1e-7, centered=False,
        **kwargs,
    ):
        super().__init__(learning_rate=learning_rate, **kwargs)
        self.rho = rho
        self.momentum = momentum
        self.epsilon = epsilon
        self.centered = centered

    def build(self, var_list):
        if self.built:
            return
        super().build(var_list)
        self._velocities = self.add_optimizer_variables(var_list, "velocity")
        self._momentums = []
        if self.momentum > 0:
            self._momentums = self.add_optimizer_variables(var_list, "momentum")
        self._average_gradients = []
        if self.centered:
            self._average_gradients = self.add_optimizer_variables(var_list, "average_gradient")

    def _kernel_hp(self):
        return kinds.pack_hp(self.rho, self.momentum, self.epsilon, bool(self.centered))

    def _kernel_slots(self):
        return self._velocities, self._momentums, self._average_gradients

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "rho": self.rho,
                "momentum": self.momentum,
                "epsilon": self.epsilon,
                "centered": self.centered,
            }
        )
        return config
