"""``Adam``: adaptive moment estimation (optionally AMSGrad)."""

from ..kernels import optimizer_kinds as kinds
from .base_optimizer import Optimizer


class Adam(Optimizer):
    """Adam.

    ``m += (g - m)(1 - beta_1)``, ``v += (g^2 - v)(1 - beta_2)``,
    ``w -= m * lr * sqrt(1 - beta_2^t) / (1 - beta_1^t) / (sqrt(v) + epsilon)`` with
    ``t = iterations + 1`` (``epsilon`` is Kingma and Ba's "epsilon hat").

    Args:
        learning_rate: float, schedule or callable. Defaults to 0.001.
        beta_1: decay rate of the first moment.
        beta_2: decay rate of the second moment.
        epsilon: small constant added to ``sqrt(v)``.
        amsgrad: whether to use the running maximum of ``v`` (AMSGrad).
        **kwargs: the ``Optimizer`` arguments (weight_decay, clipnorm, clipvalue,
            global_clipnorm, use_ema, ema_momentum, ema_overwrite_frequency,
            loss_scale_factor, gradient_accumulation_steps, name).
    """

    KIND = kinds.ADAM

    def __init__(
        self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7, amsgrad=False,
        **kwargs,
    ):
        super().__init__(learning_rate=learning_rate, **kwargs)
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.amsgrad = amsgrad

    def build(self, var_list):
        if self.built:
            return
        super().build(var_list)
        self._momentums, self._velocities = self.add_optimizer_variables(
            var_list, ["momentum", "velocity"]
        )
        self._velocity_hats = []
        if self.amsgrad:
            self._velocity_hats = self.add_optimizer_variables(var_list, "velocity_hat")

    def _kernel_hp(self):
        return kinds.pack_hp(self.beta_1, self.beta_2, self.epsilon, bool(self.amsgrad))

    def _kernel_slots(self):
        return self._momentums, self._velocities, self._velocity_hats

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "beta_1": self.beta_1,
                "beta_2": self.beta_2,
                "epsilon": self.epsilon,
                "amsgrad": self.amsgrad,
            }
        )
        return config
