"""``Activation``: applies an activation function to its input."""

import numpy as np

from numdense import activations
from numdense.layers.layer import Layer


class Activation(Layer):
    """Applies an activation function to an output.

    Args:
        activation: activation function name, function, or Python callable.
        **kwargs: base layer arguments.
    """

    def __init__(self, activation, **kwargs):
        super().__init__(**kwargs)
        self.activation = activations.get(activation)
        self.supports_masking = True

    def call(self, inputs, training=False):
        return np.asarray(self.activation(inputs), dtype=self._dtype)

    def _train_forward(self, x):
        y = np.ascontiguousarray(self.activation(x), dtype=self._dtype)
        self._cache = (x, y)
        return y

    def _train_backward(self, dy):
        x, y = self._cache
        self._grads = {}
        return np.asarray(activations.gradient(self.activation, x, dy, y=y), dtype=self._dtype)

    def get_config(self):
        config = super().get_config()
        config["activation"] = activations.serialize(self.activation)
        return config
