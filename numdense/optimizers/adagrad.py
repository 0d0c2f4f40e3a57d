"""``Adagrad``: per-element rates scaled by the accumulated squared gradients."""

from ..kernels import optimizer_kinds as kinds
from .base_optimizer import Optimizer


class Adagrad(Optimizer):
    """Adagrad: ``acc += g^2``, ``w -= lr * g / sqrt(acc + epsilon)``.

    Args:
        learning_rate: float, schedule or callable. Defaults to 0.001.
        initial_accumulator_value: the accumulators' starting value.
        epsilon: small constant added inside the square root.
        **kwargs: the ``Optimizer`` arguments (weight_decay, clipnorm, clipvalue,
            global_clipnorm, use_ema, ema_momentum, ema_overwrite_frequency,
            loss_scale_factor, gradient_accumulation_steps, name).
    """

    KIND = kinds.ADAGRAD

    def __init__(self, learning_rate=0.001, initial_accumulator_value=0.1, epsilon=1e-7, **kwargs):
        super().__init__(learning_rate=learning_rate, **kwargs)
        self.initial_accumulator_value = initial_accumulator_value
        self.epsilon = epsilon

    def build(self, var_list):
        if self.built:
            return
        super().build(var_list)
        self._accumulators = self.add_optimizer_variables(
            var_list, "accumulator", initializer=float(self.initial_accumulator_value)
        )

    def _kernel_hp(self):
        return kinds.pack_hp(self.initial_accumulator_value, self.epsilon)

    def _kernel_slots(self):
        return self._accumulators, [], []

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "initial_accumulator_value": self.initial_accumulator_value,
                "epsilon": self.epsilon,
            }
        )
        return config
