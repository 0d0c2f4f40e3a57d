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

    def get_config(self):
        config = super().get_config()
        config["activation"] = activations.serialize(self.activation)
        return config
