"""``Nadam``: Adam with Nesterov momentum."""

from ..kernels import optimizer_kinds as kinds
from .base_optimizer import Optimizer


class Nadam(Optimizer):
    """Nadam (Dozat's schedule ``u_t = beta_1 * (1 - 0.5 * 0.96^t)``).

    ``m_hat = u_{t+1} m / (1 - prod_{t+1} u) + (1 - u_t) g / (1 - prod_t u)``,
    ``v_hat = v / (1 - beta_2^t)``, ``w -= lr * m_hat / (sqrt(v_hat) + epsilon)``; the running
    product ``u_product`` is one optimizer variable.

    Args:
        learning_rate: float, schedule or callable. Defaults to 0.001.
        beta_1: decay rate of the first moment.
        beta_2: decay rate of the second moment.
        epsilon: small constant added to ``sqrt(v_hat)``.
        **kwargs: the ``Optimizer`` arguments (weight_decay, clipnorm, clipvalue,
            global_clipnorm, use_ema, ema_momentum, ema_overwrite_frequency,
            loss_scale_factor, gradient_accumulation_steps, name).
    """

    KIND = kinds.NADAM

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7, **kwargs):
        super().__init__(learning_rate=learning_rate, **kwargs)
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon

    def build(self, var_list):
        if self.built:
            return
        super().build(var_list)
        self._momentums, self._velocities = self.add_optimizer_variables(
            var_list, ["momentum", "velocity"]
        )
        self._u_product = self._new_variable(self._state[:1].copy().reshape(()), "u_product")
        # The kernels advance ``state`` in place: make the variable a view of it.
        self._u_product._value = self._state[:1].reshape(())

    def __setstate__(self, state):
        # Pickling copies arrays one by one: restore the variable's view of ``state``.
        super().__setstate__(state)
        if getattr(self, "_u_product", None) is not None:
            self._state[:1] = self._u_product.value
            self._u_product._value = self._state[:1].reshape(())

    def _kernel_hp(self):
        return kinds.pack_hp(self.beta_1, self.beta_2, self.epsilon)

    def _kernel_slots(self):
        return self._momentums, self._velocities, []

    def get_config(self):
        config = super().get_config()
        config.update({"beta_1": self.beta_1, "beta_2": self.beta_2, "epsilon": self.epsilon})
        return config
