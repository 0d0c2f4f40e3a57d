"""``SGD``: gradient descent with optional (Nesterov) momentum."""

from ..kernels import optimizer_kinds as kinds
from .base_optimizer import Optimizer


class SGD(Optimizer):
    """Gradient descent (with momentum).

    ``w -= lr * g``; with momentum ``m = momentum * m - lr * g`` then ``w += m``, or with
    Nesterov ``w += momentum * m - lr * g``.

    Args:
        learning_rate: float, schedule or callable. Defaults to 0.01.
        momentum: float in [0, 1]; 0 is plain gradient descent.
        nesterov: whether to use Nesterov momentum.
        **kwargs: the ``Optimizer`` arguments (weight_decay, clipnorm, clipvalue,
            global_clipnorm, use_ema, ema_momentum, ema_overwrite_frequency,
            loss_scale_factor, gradient_accumulation_steps, name).
    """

    KIND = kinds.SGD

    def __init__(self, learning_rate=0.01, momentum=0.0, nesterov=False, **kwargs):
        super().__init__(learning_rate=learning_rate, **kwargs)
        if not isinstance(momentum, float) or momentum < 0 or momentum > 1:
            raise ValueError("`momentum` must be a float between [0, 1].")
        self.momentum = momentum
        self.nesterov = nesterov

    def build(self, variables):
        if self.built:
            return
        super().build(variables)
        self.momentums = []
        if self.momentum != 0:
            self.momentums = self.add_optimizer_variables(variables, "momentum")

    def _kernel_hp(self):
        return kinds.pack_hp(self.momentum, bool(self.nesterov))

    def _kernel_slots(self):
        return self.momentums, [], []

    def get_config(self):
        config = super().get_config()
        config.update({"momentum": self.momentum, "nesterov": self.nesterov})
        return config
